/* kg_tune.c - the search loop: compile, verify, measure, store, choose (see kg_tune.h). */
#include "kg_tune.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kg_db.h"
#include "kg_template.h"
#include "kg_timer.h"
#include "kg_worker.h"

kg_status kg_strategy_parse(const char *name, kg_strategy *out, kg_ctx *ctx) {
  if (strcmp(name, "exhaustive") == 0) *out = KG_STRATEGY_EXHAUSTIVE;
  else if (strcmp(name, "random") == 0) *out = KG_STRATEGY_RANDOM;
  else return kg_ctx_set(ctx, KG_EINVAL, "unknown strategy '%s' (expected exhaustive or random)", name);
  return KG_OK;
}

const char *kg_strategy_name(kg_strategy s) {
  return s == KG_STRATEGY_RANDOM ? "random" : "exhaustive";
}

void kg_tune_opts_default(kg_tune_opts *o) {
  memset(o, 0, sizeof *o);
  o->strategy = KG_STRATEGY_EXHAUSTIVE;
  o->seed = 1;
  o->batch = 64;
  o->finalists = 8;
  o->rounds = 3;
  o->progress = stderr;
  kg_measure_opts_default(&o->measure);
}

/* ---- variant selection ---------------------------------------------------------------------- */

/* The points to evaluate, in a shuffled order (Fisher-Yates with splitmix64, seeded): the first
 * `budget` of the spec's points (exhaustive; all by default), or `budget` drawn from all of them
 * (random).  The exhaustive order is shuffled too: the machine's speed drifts over a search, and
 * in the spec's order the neighbours measured in one fast stretch would all look best together
 * (seen on the development VM: the five fastest of a search all came from the same few seconds).
 * Shuffled, the drift is noise on each variant rather than a bias on a region of the space. */
static long *kg_tune_select(const kg_spec *spec, const kg_tune_opts *o, long *n) {
  long total = (long)spec->npoints;
  long take = o->budget > 0 && o->budget < total ? o->budget : total;
  if (o->npoints > 0) { /* an explicit list (kgen bench) */
    long *list = malloc(sizeof(long) * (size_t)o->npoints);
    if (!list) return NULL;
    for (long i = 0; i < o->npoints; i++) list[i] = o->points[i] >= 0 && o->points[i] < total ? o->points[i] : 0;
    *n = o->npoints;
    return list;
  }
  long *all = malloc(sizeof(long) * (size_t)total);
  if (!all) return NULL;
  for (long i = 0; i < total; i++) all[i] = i;
  long pool = o->strategy == KG_STRATEGY_RANDOM ? total : take; /* draw from all, or order the first */
  uint64_t s = o->seed;
  for (long i = 0; i + 1 < pool && i < take; i++) {
    uint64_t z = (s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    long j = i + (long)(z % (uint64_t)(pool - i));
    long t = all[i];
    all[i] = all[j];
    all[j] = t;
  }
  *n = take;
  return all;
}

/* Number of parameters away from their default: the "simpler parameters" tie-break. */
static int kg_tune_complexity(const kg_spec *spec, long point) {
  const int32_t *p = spec->points + (size_t)point * (size_t)spec->nparams;
  int c = 0;
  for (int i = 0; i < spec->nparams; i++) c += p[i] != 0;
  return c;
}

/* ---- progress ------------------------------------------------------------------------------- */

typedef struct kg_progress {
  FILE *f;
  bool tty;
  long done, total, failed;
  double start, last;
} kg_progress;

static void kg_progress_line(kg_progress *pg, const char *problem, const char *best, bool force) {
  if (!pg->f) return;
  double now = (double)kg_now_ns() * 1e-9;
  if (!force && !pg->tty && now - pg->last < 10.0) return;
  if (!force && pg->tty && now - pg->last < 0.1) return;
  pg->last = now;
  double el = now - pg->start;
  double eta = pg->done > 0 ? el / (double)pg->done * (double)(pg->total - pg->done) : 0;
  fprintf(pg->f, "%s[%ld/%ld] %s  failed %ld  best %s  elapsed %.0fs  left ~%.0fs%s",
          pg->tty ? "\r\033[K" : "", pg->done, pg->total, problem, pg->failed, best, el, eta,
          pg->tty ? "" : "\n");
  fflush(pg->f);
}

/* ---- the run -------------------------------------------------------------------------------- */

typedef struct kg_variant {
  long point;
  kg_module *module;
  char *name;        /* "a=1,b=2" */
  kg_status compile; /* KG_OK or the compile failure */
  char reason[1024];
  double compile_ms;
} kg_variant;

static void kg_result_fail(kg_result *r, long point, kg_status st, const char *reason) {
  memset(r, 0, sizeof *r);
  r->point = point;
  r->m.status = st;
  snprintf(r->m.reason, sizeof r->m.reason, "%s", reason);
}

static void kg_tune_best_label(const kg_tune_report *r, const kg_problem_result *pr, char *buf,
                               size_t cap) {
  double best = INFINITY;
  long at = -1;
  for (long i = 0; i < pr->nresults; i++)
    if (pr->results[i].m.status == KG_OK && pr->results[i].m.stats.p50 < best) {
      best = pr->results[i].m.stats.p50;
      at = i;
    }
  if (at < 0) {
    snprintf(buf, cap, "-");
    return;
  }
  char params[512];
  kg_spec_format_point(r->spec, r->spec->points + (size_t)pr->results[at].point * (size_t)r->spec->nparams,
                       params, sizeof params);
  snprintf(buf, cap, "%.3g us (%s)", best / 1e3, params);
}

/* Whether result x takes part in the choice: after the final rounds only the finalists do (the
 * others were measured once, at other moments, and cannot be compared with them). */
static bool kg_tune_eligible(const kg_problem_result *pr, const kg_result *x) {
  return x->m.status == KG_OK && (!pr->finals || x->rounds > 0);
}

/* Whether result a ranks after b: finalists first, each group by p50. */
static bool kg_ranks_after(const kg_result *a, const kg_result *b) {
  if ((a->rounds > 0) != (b->rounds > 0)) return b->rounds > 0;
  return a->m.stats.p50 > b->m.stats.p50;
}

long kg_tune_rank(const kg_problem_result *pr, long *order) {
  long n = 0;
  for (long i = 0; i < pr->nresults; i++) { /* insertion sort: a few hundred at most */
    if (pr->results[i].m.status != KG_OK) continue;
    long j = n++;
    while (j > 0 && kg_ranks_after(&pr->results[order[j - 1]], &pr->results[i])) {
      order[j] = order[j - 1];
      j--;
    }
    order[j] = i;
  }
  return n;
}

/* Choose the winner of one problem and its statistical ties. */
static void kg_tune_choose(const kg_spec *spec, kg_problem_result *pr) {
  long fastest = -1;
  for (long i = 0; i < pr->nresults; i++) {
    const kg_result *x = &pr->results[i];
    if (!kg_tune_eligible(pr, x)) continue;
    if (fastest < 0 || x->m.stats.p50 < pr->results[fastest].m.stats.p50) fastest = i;
  }
  pr->winner = fastest;
  pr->nties = 0;
  if (fastest < 0) return;
  /* The tie group: everything not beaten by the fastest beyond noise. */
  long *group = malloc(sizeof(long) * (size_t)pr->nresults);
  long ng = 0;
  if (!group) return;
  for (long i = 0; i < pr->nresults; i++) {
    const kg_result *x = &pr->results[i];
    if (kg_tune_eligible(pr, x) && kg_stats_compare(&pr->results[fastest].m.stats, &x->m.stats) == 0)
      group[ng++] = i;
  }
  long w = fastest;
  for (long g = 0; g < ng; g++) {
    const kg_result *a = &pr->results[group[g]], *b = &pr->results[w];
    if (a->m.stats.p90 < b->m.stats.p90 ||
        (a->m.stats.p90 == b->m.stats.p90 &&
         (kg_tune_complexity(spec, a->point) < kg_tune_complexity(spec, b->point) ||
          (kg_tune_complexity(spec, a->point) == kg_tune_complexity(spec, b->point) && a->point < b->point))))
      w = group[g];
  }
  pr->winner = w;
  free(pr->ties);
  pr->ties = malloc(sizeof(long) * (size_t)(ng ? ng : 1));
  if (!pr->ties) {
    free(group);
    return;
  }
  for (long g = 0; g < ng; g++)
    if (group[g] != w) pr->ties[pr->nties++] = group[g];
  pr->noisy = pr->results[w].m.noisy;
  free(group);
}

/* Measure (or load) one entry of one problem.  `w` is the live worker or NULL; it is started
 * on demand with the batch's create/destroy and restarted after a crash. */
typedef struct kg_problem_run {
  const kg_spec *spec;
  const kg_tune_opts *opts;
  kg_db *db;
  const kg_db_key *key;
  kg_problem prob;
  const kg_spec_problem *sp;
  kg_worker *worker;
  kg_create_fn create;
  kg_prepare_fn prepare; /* optional */
  kg_destroy_fn destroy;
  bool create_failed;
  kg_measurement create_failure;
} kg_problem_run;

/* Whether a stored row stands with --resume: a success always; a failure (a timeout on a loaded
 * machine, a crash) only with --keep-failures, else it is measured again. */
static bool kg_row_stands(const kg_tune_opts *o, const kg_db_row *row) {
  return row->m.status == KG_OK || o->keep_failures;
}

static kg_status kg_problem_measure(kg_problem_run *pr, const char *variant, long point,
                                    kg_run_fn run, kg_verify_fn verify, double compile_ms,
                                    kg_result *res, kg_ctx *ctx) {
  kg_status st;
  memset(res, 0, sizeof *res);
  res->point = point;
  res->compile_ms = compile_ms;
  if (pr->opts->resume && pr->db) {
    kg_db_row row;
    bool found = false;
    st = kg_db_get(pr->db, pr->key, pr->sp->name, variant, &row, &found, ctx);
    if (st) return st;
    if (found && kg_row_stands(pr->opts, &row)) {
      res->m = row.m;
      res->compile_ms = row.compile_ms;
      res->resumed = true;
      return KG_OK;
    }
  }
  if (pr->create_failed) {
    res->m = pr->create_failure;
  } else {
    if (!pr->worker) {
      st = kg_worker_start(&pr->prob, pr->create, pr->prepare, pr->destroy, &pr->opts->measure, &pr->worker,
                           &pr->create_failure, ctx);
      if (st) return st;
      if (!pr->worker) pr->create_failed = true;
    }
    if (pr->create_failed) {
      res->m = pr->create_failure;
    } else {
      st = kg_worker_measure(pr->worker, run, verify, &res->m, ctx);
      if (st) return st;
      if (!kg_worker_alive(pr->worker)) {
        kg_worker_stop(pr->worker);
        pr->worker = NULL;
      }
    }
  }
  if (!pr->db) return KG_OK;
  kg_db_row row;
  memset(&row, 0, sizeof row);
  snprintf(row.problem, sizeof row.problem, "%s", pr->sp->name);
  snprintf(row.variant, sizeof row.variant, "%s", variant);
  row.m = res->m;
  row.compile_ms = compile_ms;
  return kg_db_put(pr->db, pr->key, &row, ctx);
}

static kg_status kg_tune_store_failure(kg_db *db, const kg_db_key *key, const char *problem,
                                       const kg_variant *v, kg_ctx *ctx) {
  if (!db) return KG_OK;
  kg_db_row row;
  memset(&row, 0, sizeof row);
  snprintf(row.problem, sizeof row.problem, "%s", problem);
  snprintf(row.variant, sizeof row.variant, "%s", v->name);
  row.m.status = v->compile;
  snprintf(row.m.reason, sizeof row.m.reason, "%s", v->reason);
  row.compile_ms = v->compile_ms;
  return kg_db_put(db, key, &row, ctx);
}

/* One entry of the final rounds: a finalist (its module and result) or a baseline. */
typedef struct kg_final_item {
  char name[1100];       /* database variant: "final:<params>" or "final:baseline:<name>" */
  kg_run_fn run;
  kg_verify_fn verify;
  kg_result *result;     /* where the outcome goes: the finalist's result or the baseline's */
  long point;
  kg_module *module;     /* finalists only */
  kg_measurement *round; /* [rounds] */
} kg_final_item;

static int kg_cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Reduce an item's rounds into its result: the round with the median p50 (the lower middle
 * for an even count), and the spread of the p50s.  A candidate failing in any round failed
 * (flaky code must not ship); a baseline keeps its median over the rounds that passed. */
static void kg_final_reduce(kg_final_item *it, int rounds, bool baseline) {
  double p50[64];
  int ok = 0, failed = -1;
  for (int k = 0; k < rounds; k++) {
    if (it->round[k].status == KG_OK) p50[ok++] = it->round[k].stats.p50;
    else if (failed < 0) failed = k;
  }
  kg_result *x = it->result;
  if (ok == 0 || (failed >= 0 && !baseline)) {
    x->m = it->round[failed];
    x->rounds = rounds;
    return;
  }
  qsort(p50, (size_t)ok, sizeof *p50, kg_cmp_double);
  double med = p50[(ok - 1) / 2];
  for (int k = 0; k < rounds; k++)
    if (it->round[k].status == KG_OK && it->round[k].stats.p50 == med) {
      x->m = it->round[k];
      break;
    }
  x->rounds = ok;
  x->round_spread = ok > 1 && med > 0 ? (p50[ok - 1] - p50[0]) / med : 0;
  x->resumed = false;
}

/* Compile the variant at point into *m (it compiled during the search: a failure now is a bug
 * or a full disk, hence an error). */
static kg_status kg_tune_recompile(const kg_spec *spec, kg_compiler *cc, long point, kg_module **m, kg_ctx *ctx) {
  const int32_t *pt = spec->points + (size_t)point * (size_t)spec->nparams;
  char params[1024], *src = NULL;
  kg_ctx vctx = {0};
  kg_spec_format_point(spec, pt, params, sizeof params);
  kg_status st = kg_template_emit(spec, pt, &src, NULL, &vctx);
  if (!st) st = kg_compiler_compile(cc, params, src, m, NULL, &vctx);
  free(src);
  if (st) return kg_ctx_set(ctx, st, "re-compiling %s for the final rounds: %s", params, kg_ctx_message(&vctx));
  return KG_OK;
}

/*
 * The final rounds of one problem (kg_tune.h): the `finalists` fastest results of the search
 * (kgen bench: every point it measured) and the baselines, measured `rounds` times in one
 * worker, round k starting k entries further into the list.  Each keeps its median round;
 * the database gets "final:<params>" and "final:baseline:<name>".
 */
static kg_status kg_tune_final_problem(kg_tune_report *r, kg_compiler *cc, kg_db *db, const kg_db_key *key,
                                       const kg_tune_opts *opts, int p, int sp_index, kg_progress *pg,
                                       kg_ctx *ctx) {
  const kg_spec *spec = r->spec;
  kg_problem_result *res = &r->problems[p];
  const kg_spec_problem *sp = &spec->problems[sp_index];
  int rounds = opts->rounds > 64 ? 64 : opts->rounds;
  long nres = res->nresults, nfin = 0, limit = opts->npoints > 0 ? nres : (opts->finalists > 0 ? opts->finalists : 1);
  long *order = malloc(sizeof(long) * (size_t)(nres ? nres : 1));
  kg_final_item *items = calloc((size_t)(nres + spec->nbaselines + 1), sizeof *items);
  kg_status st = KG_OK;
  int nitems = 0;
  if (!order || !items) {
    st = kg_ctx_set(ctx, KG_ENOMEM, "out of memory");
    goto done;
  }
  nfin = kg_tune_rank(res, order); /* no finalists yet: by p50 */
  if (nfin > limit) nfin = limit;
  for (long f = 0; f < nfin; f++) {
    kg_final_item *it = &items[nitems];
    kg_result *x = &res->results[order[f]];
    if ((st = kg_tune_recompile(spec, cc, x->point, &it->module, ctx))) goto done;
    nitems++;
    char params[1024];
    kg_spec_format_point(spec, spec->points + (size_t)x->point * (size_t)spec->nparams, params, sizeof params);
    snprintf(it->name, sizeof it->name, "final:%s", params);
    it->run = (kg_run_fn)kg_module_sym(it->module, "kg_run");
    it->verify = (kg_verify_fn)kg_module_sym(it->module, "kg_verify");
    it->result = x;
    it->point = x->point;
  }
  kg_module *any = items[0].module;
  for (int bl = 0; bl < spec->nbaselines; bl++) {
    char sym[256];
    snprintf(sym, sizeof sym, "kg_baseline_%s", spec->baselines[bl]);
    kg_run_fn fn = (kg_run_fn)kg_module_sym(any, sym);
    if (!fn) continue;
    kg_final_item *it = &items[nitems++];
    snprintf(it->name, sizeof it->name, "final:baseline:%s", spec->baselines[bl]);
    it->run = fn;
    it->result = &res->baselines[bl];
    it->point = -1;
  }
  for (int i = 0; i < nitems; i++)
    if (!(items[i].round = calloc((size_t)rounds, sizeof(kg_measurement)))) {
      st = kg_ctx_set(ctx, KG_ENOMEM, "out of memory");
      goto done;
    }

  if (pg->f)
    fprintf(pg->f, "%sfinal rounds: %s, %ld finalist%s and %d baseline%s side by side, %d rounds\n",
            pg->tty ? "\r\033[K" : "", sp->name, nfin, nfin == 1 ? "" : "s", nitems - (int)nfin,
            nitems - nfin == 1 ? "" : "s", rounds);
  kg_tune_opts fresh = *opts;
  fresh.resume = false; /* always measure now */
  kg_problem_run run = {spec, &fresh, NULL, key, {0}, sp, NULL, NULL, NULL, NULL, false, {0}};
  run.prob = (kg_problem){sp->ndims, (const char *const *)sp->dim_names, sp->dims, spec->seed, spec->rtol, spec->atol};
  run.create = (kg_create_fn)kg_module_sym(any, "kg_create");
  run.prepare = (kg_prepare_fn)kg_module_sym(any, "kg_prepare");
  run.destroy = (kg_destroy_fn)kg_module_sym(any, "kg_destroy");
  for (int k = 0; k < rounds; k++)
    for (int j = 0; j < nitems; j++) {
      kg_final_item *it = &items[(j + k) % nitems];
      kg_result once;
      if ((st = kg_problem_measure(&run, it->name, it->point, it->run, it->verify, 0, &once, ctx))) goto stop;
      it->round[k] = once.m;
    }
  for (int i = 0; i < nitems; i++) {
    kg_final_item *it = &items[i];
    bool was_ok = it->result->m.status == KG_OK;
    kg_final_reduce(it, rounds, it->point < 0);
    if (it->point >= 0 && was_ok && it->result->m.status != KG_OK) {
      res->failed++;
      if (pg->f)
        fprintf(pg->f, "%svariant %s on %s failed in the final rounds: %s: %.300s\n", pg->tty ? "\r\033[K" : "",
                it->name + 6, sp->name, kg_strerror(it->result->m.status), it->result->m.reason);
    }
    if (it->point < 0 && it->result->m.status == KG_OK) res->baselines_done = true;
    if (db) {
      kg_db_row row;
      memset(&row, 0, sizeof row);
      snprintf(row.problem, sizeof row.problem, "%s", sp->name);
      snprintf(row.variant, sizeof row.variant, "%s", it->name);
      row.m = it->result->m;
      row.compile_ms = it->result->compile_ms;
      if ((st = kg_db_put(db, key, &row, ctx))) goto stop;
    }
  }
  res->finals = true;
  kg_tune_choose(spec, res);
  if (res->winner >= 0) {
    const kg_result *w = &res->results[res->winner];
    res->noisy = w->m.noisy || w->round_spread > opts->measure.noisy_rel_ci;
  }
stop:
  kg_worker_stop(run.worker);
done:
  for (int i = 0; items && i < nitems; i++) {
    kg_module_free(items[i].module);
    free(items[i].round);
  }
  free(items);
  free(order);
  return st;
}

kg_status kg_tune(const kg_spec *spec, const kg_tune_opts *opts, kg_tune_report **out, kg_ctx *ctx) {
  kg_status st = KG_OK;
  kg_tune_report *r = calloc(1, sizeof *r);
  kg_compiler *cc = NULL;
  kg_db *db = NULL;
  long *sel = NULL;
  kg_variant *batch = NULL;
  int *probs = NULL;
  double t0 = (double)kg_now_ns() * 1e-9;
  if (!r) return kg_ctx_set(ctx, KG_ENOMEM, "out of memory");
  r->spec = spec;
  r->strategy = opts->strategy;
  r->budget = opts->budget;
  snprintf(r->backend, sizeof r->backend, "%s", kg_backend_name(opts->compile.backend));
  snprintf(r->mode, sizeof r->mode, "%s", opts->measure.cold ? "cold" : "warm");
  snprintf(r->command, sizeof r->command, "tune");
  r->nevents = opts->measure.nevents > 0 && opts->measure.nevents <= KG_MAX_EVENTS ? opts->measure.nevents : 0;
  for (int i = 0; i < r->nevents; i++) snprintf(r->events[i], sizeof r->events[i], "%s", opts->measure.events[i]);

  /* Problems to run. */
  int np = opts->nproblems ? opts->nproblems : spec->nproblems;
  probs = malloc(sizeof(int) * (size_t)np);
  r->problems = calloc((size_t)np, sizeof *r->problems);
  if (!probs || !r->problems) {
    st = kg_ctx_set(ctx, KG_ENOMEM, "out of memory");
    goto fail;
  }
  for (int i = 0; i < np; i++) {
    probs[i] = opts->nproblems ? kg_spec_problem_index(spec, opts->problems[i]) : i;
    if (probs[i] < 0) {
      char names[2048] = "";
      for (int j = 0; j < spec->nproblems; j++)
        snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", j ? ", " : "",
                 spec->problems[j].name);
      st = kg_ctx_set(ctx, KG_EINVAL, "%s: no problem named '%s' (problems: %s)", spec->path,
                      opts->problems[i], names);
      goto fail;
    }
    r->nproblems = i + 1;
    r->problems[i].problem = probs[i];
    r->problems[i].winner = -1;
    r->problems[i].baselines = calloc((size_t)(spec->nbaselines ? spec->nbaselines : 1), sizeof(kg_result));
    if (!r->problems[i].baselines) {
      st = kg_ctx_set(ctx, KG_ENOMEM, "out of memory");
      goto fail;
    }
  }
  r->nproblems = np;

  if ((st = kg_machine_detect(&r->machine, ctx))) goto fail;
  if ((st = kg_template_hash(spec, &r->template_hash, ctx))) goto fail;
  if ((st = kg_compiler_new(&opts->compile, &cc, ctx))) goto fail;
  snprintf(r->compiler, sizeof r->compiler, "%s", kg_compiler_describe(cc));
  if (opts->db_path && (st = kg_db_open(opts->db_path, &db, ctx))) goto fail;
  kg_db_key key = {spec->name, spec->hash, r->template_hash, r->machine.id, r->backend, r->mode};

  long nsel = 0;
  if (!(sel = kg_tune_select(spec, opts, &nsel))) {
    st = kg_ctx_set(ctx, KG_ENOMEM, "out of memory");
    goto fail;
  }
  r->nvariants = nsel;
  for (int i = 0; i < np; i++) {
    r->problems[i].results = calloc((size_t)nsel, sizeof(kg_result));
    if (!r->problems[i].results) {
      st = kg_ctx_set(ctx, KG_ENOMEM, "out of memory");
      goto fail;
    }
  }
  int bsize = opts->batch > 0 ? opts->batch : 64;
  batch = calloc((size_t)bsize, sizeof *batch);
  if (!batch) {
    st = kg_ctx_set(ctx, KG_ENOMEM, "out of memory");
    goto fail;
  }
  long total = nsel * np;
  if (opts->problem_points) {
    total = 0;
    for (int p = 0; p < np; p++)
      for (long i = 0; i < nsel; i++) total += opts->problem_points[p] < 0 || opts->problem_points[p] == sel[i];
  }
  kg_progress pg = {opts->progress, opts->progress && isatty(fileno(opts->progress)), 0, total, 0, t0, 0};
  if (pg.f)
    fprintf(pg.f, "kgen %s %s: %ld of %zu variants x %d problems, %s backend, %s caches, machine %s\n",
            opts->npoints > 0 ? "bench" : "tune", spec->name, nsel, spec->npoints, np, r->backend, r->mode, r->machine.id);

  for (long b0 = 0; b0 < nsel; b0 += bsize) {
    int nb = (int)(nsel - b0 < bsize ? nsel - b0 : bsize);
    /* Compile the batch.  With --resume, a variant already measured on every problem is not
     * compiled again. */
    for (int i = 0; i < nb; i++) {
      kg_variant *v = &batch[i];
      memset(v, 0, sizeof *v);
      v->point = sel[b0 + i];
      const int32_t *pt = spec->points + (size_t)v->point * (size_t)spec->nparams;
      int len = kg_spec_format_point(spec, pt, NULL, 0);
      v->name = malloc((size_t)len + 1);
      if (!v->name) {
        st = kg_ctx_set(ctx, KG_ENOMEM, "out of memory");
        goto fail;
      }
      kg_spec_format_point(spec, pt, v->name, (size_t)len + 1);
      if (opts->resume && db) {
        bool all = true;
        for (int p = 0; p < np && all; p++) {
          kg_db_row row;
          bool found = false;
          if ((st = kg_db_get(db, &key, spec->problems[probs[p]].name, v->name, &row, &found, ctx))) goto fail;
          all = found && kg_row_stands(opts, &row);
        }
        if (all) {
          v->compile = KG_ENOTFOUND; /* resumed: every result comes from the database */
          continue;
        }
      }
      char *src = NULL, *diag = NULL;
      kg_ctx vctx = {0};
      double c0 = (double)kg_now_ns();
      v->compile = kg_template_emit(spec, pt, &src, NULL, &vctx);
      if (v->compile == KG_OK)
        v->compile = kg_compiler_compile(cc, v->name, src, &v->module, &diag, &vctx);
      v->compile_ms = ((double)kg_now_ns() - c0) * 1e-6;
      if (v->compile == KG_OK && (!kg_module_sym(v->module, "kg_create") || !kg_module_sym(v->module, "kg_run") ||
                                  !kg_module_sym(v->module, "kg_destroy"))) {
        v->compile = KG_ETEMPLATE;
        snprintf(vctx.msg, sizeof vctx.msg, "template does not export kg_create, kg_run and kg_destroy");
        kg_module_free(v->module);
        v->module = NULL;
      }
      if (v->compile != KG_OK) {
        snprintf(v->reason, sizeof v->reason, "%s", kg_ctx_message(&vctx));
        if (pg.f) fprintf(pg.f, "%svariant %s: %s: %.300s\n", pg.tty ? "\r\033[K" : "", v->name,
                          kg_strerror(v->compile), v->reason);
      }
      free(src);
      free(diag);
    }
    kg_module *any = NULL;
    for (int i = 0; i < nb && !any; i++) any = batch[i].module;

    for (int p = 0; p < np; p++) {
      kg_problem_result *res = &r->problems[p];
      const kg_spec_problem *sp = &spec->problems[probs[p]];
      kg_problem_run run = {spec, opts, db, &key, {0}, sp, NULL, NULL, NULL, NULL, false, {0}};
      run.prob = (kg_problem){sp->ndims, (const char *const *)sp->dim_names, sp->dims, spec->seed,
                              spec->rtol, spec->atol};
      if (any) {
        run.create = (kg_create_fn)kg_module_sym(any, "kg_create");
        run.prepare = (kg_prepare_fn)kg_module_sym(any, "kg_prepare");
        run.destroy = (kg_destroy_fn)kg_module_sym(any, "kg_destroy");
      }
      /* Baselines, once per problem, in the first batch that has code. */
      for (int bl = 0; bl < spec->nbaselines && any && !res->baselines_done; bl++) {
        char name[256], sym[256];
        snprintf(name, sizeof name, "baseline:%s", spec->baselines[bl]);
        snprintf(sym, sizeof sym, "kg_baseline_%s", spec->baselines[bl]);
        kg_run_fn fn = (kg_run_fn)kg_module_sym(any, sym);
        if (!fn) {
          kg_result_fail(&res->baselines[bl], -1, KG_ENOTFOUND, "the template does not export it");
          continue;
        }
        if ((st = kg_problem_measure(&run, name, -1, fn, NULL, 0, &res->baselines[bl], ctx))) goto fail_run;
        if (pg.f && res->baselines[bl].m.status != KG_OK)
          fprintf(pg.f, "%sbaseline %s on %s: %s: %.300s\n", pg.tty ? "\r\033[K" : "", spec->baselines[bl],
                  sp->name, kg_strerror(res->baselines[bl].m.status), res->baselines[bl].m.reason);
      }
      if (any) res->baselines_done = true;
      for (int i = 0; i < nb; i++) {
        kg_variant *v = &batch[i];
        if (opts->problem_points && opts->problem_points[p] >= 0 && opts->problem_points[p] != v->point)
          continue; /* kgen bench: this problem re-measures its own winner only */
        kg_result *x = &res->results[res->nresults++];
        if (v->compile == KG_ENOTFOUND || v->module) {
          kg_run_fn fn = v->module ? (kg_run_fn)kg_module_sym(v->module, "kg_run") : NULL;
          kg_verify_fn vf = v->module ? (kg_verify_fn)kg_module_sym(v->module, "kg_verify") : NULL;
          if ((st = kg_problem_measure(&run, v->name, v->point, fn, vf, v->compile_ms, x, ctx))) goto fail_run;
        } else {
          kg_result_fail(x, v->point, v->compile, v->reason);
          x->compile_ms = v->compile_ms;
          if ((st = kg_tune_store_failure(db, &key, sp->name, v, ctx))) goto fail_run;
        }
        res->evaluated++;
        pg.done++;
        if (x->m.status != KG_OK) {
          res->failed++;
          pg.failed++;
          if (pg.f && v->compile == KG_OK && !x->resumed)
            fprintf(pg.f, "%svariant %s on %s: %s: %.300s\n", pg.tty ? "\r\033[K" : "", v->name,
                    sp->name, kg_strerror(x->m.status), x->m.reason);
        }
        char best[640];
        kg_tune_best_label(r, res, best, sizeof best);
        kg_progress_line(&pg, sp->name, best, false);
      }
    fail_run:
      kg_worker_stop(run.worker);
      if (st) goto fail;
    }
    for (int i = 0; i < nb; i++) {
      kg_module_free(batch[i].module);
      free(batch[i].name);
      batch[i].module = NULL;
      batch[i].name = NULL;
    }
  }
  if (pg.f && pg.tty) fprintf(pg.f, "\n");
  for (int p = 0; p < np; p++) {
    kg_tune_choose(spec, &r->problems[p]);
    if (opts->rounds > 0 && r->problems[p].winner >= 0 &&
        (st = kg_tune_final_problem(r, cc, db, &key, opts, p, probs[p], &pg, ctx)))
      goto fail;
  }
  r->elapsed_s = (double)kg_now_ns() * 1e-9 - t0;
  *out = r;
  r = NULL;

fail:
  if (batch)
    for (int i = 0; i < (opts->batch > 0 ? opts->batch : 64); i++) {
      kg_module_free(batch[i].module);
      free(batch[i].name);
    }
  free(batch);
  free(sel);
  free(probs);
  kg_db_close(db);
  kg_compiler_free(cc);
  kg_tune_report_free(r);
  return st;
}

bool kg_tune_report_any_winner(const kg_tune_report *r) {
  for (int p = 0; p < r->nproblems; p++)
    if (r->problems[p].winner >= 0) return true;
  return false;
}

void kg_tune_report_free(kg_tune_report *r) {
  if (!r) return;
  for (int p = 0; p < r->nproblems; p++) {
    free(r->problems[p].results);
    free(r->problems[p].baselines);
    free(r->problems[p].ties);
  }
  free(r->problems);
  free(r);
}
