/* kg_tune.c - the search loop: compile, verify, measure, store, choose (see kg_tune.h); the guided
 * strategies' loop is kg_tune_guided.c. */
#include "kg_tune.h"

#include <math.h>
#include <unistd.h>

#include "kg_template.h"
#include "kg_timer.h"
#include "kg_util.h"   /* kg_rand_next: splitmix64, shared with the templates */
#include "kg_replay.h" /* kg_cache_load: --cache */
#include "kg_shard.h"
#include "kg_tune_internal.h"

static const char *const kg_strategy_names[] = {"exhaustive", "random", "knn", "bandit", "ga", "anneal", "ils"};
#define KG_NSTRATEGIES ((int)(sizeof kg_strategy_names / sizeof *kg_strategy_names))

kg_status kg_strategy_parse(const char *name, kg_strategy *out, kg_ctx *ctx) {
  for (int i = 0; i < KG_NSTRATEGIES; i++)
    if (strcmp(name, kg_strategy_names[i]) == 0) {
      *out = (kg_strategy)i;
      return KG_OK;
    }
  return kg_ctx_set(ctx, KG_EINVAL,
                    "unknown strategy '%s' (expected exhaustive, random, knn, bandit, ga, anneal or ils)", name);
}

kg_strategy kg_tune_default_strategy(const kg_spec *spec) {
  return spec->npoints <= KG_TUNE_EXHAUSTIVE_MAX ? KG_STRATEGY_EXHAUSTIVE : KG_STRATEGY_KNN;
}

const char *kg_strategy_name(kg_strategy s) {
  return (int)s >= 0 && (int)s < KG_NSTRATEGIES ? kg_strategy_names[s] : "exhaustive";
}

void kg_tune_opts_default(kg_tune_opts *o) {
  memset(o, 0, sizeof *o);
  o->strategy = KG_STRATEGY_EXHAUSTIVE;
  o->seed = 1;
  o->batch = 64;
  o->propose = 8;
  o->finalists = 8;
  o->rounds = 3;
  o->progress = stderr;
  kg_measure_opts_default(&o->measure);
}

/* ---- variant selection ---------------------------------------------------------------------- */

/* Warm start: the first list[0..n) become o->warm's valid points (in their order, within n),
 * followed by the other points of the list in their order. */
static void kg_tune_warm_first(const kg_spec *spec, const kg_tune_opts *o, long *list, long n) {
  if (o->nwarm <= 0 || n <= 0) return;
  long *out = malloc(sizeof(long) * (size_t)n), total = (long)spec->npoints, k = 0;
  if (!out) return; /* no warm start rather than no tuning */
  for (long i = 0; i < o->nwarm && k < n; i++) {
    bool seen = o->warm[i] < 0 || o->warm[i] >= total;
    for (long j = 0; j < k && !seen; j++) seen = out[j] == o->warm[i];
    if (!seen) out[k++] = o->warm[i];
  }
  const long nw = k;
  for (long i = 0; i < n && k < n; i++) {
    bool seen = false;
    for (long j = 0; j < nw && !seen; j++) seen = out[j] == list[i];
    if (!seen) out[k++] = list[i];
  }
  memcpy(list, out, sizeof(long) * (size_t)k);
  free(out);
}

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
    uint64_t z = kg_rand_next(&s);
    long j = i + (long)(z % (uint64_t)(pool - i));
    long t = all[i];
    all[i] = all[j];
    all[j] = t;
  }
  *n = take;
  kg_tune_warm_first(spec, o, all, take);
  return all;
}

/* ---- shards (kg_shard.h) -------------------------------------------------------------------- */

/* Whether this run covers pair (selection position pos, report problem p): always without shards. */
static bool kg_tune_mine(const kg_tune_run *t, long pos, int p) {
  if (t->opts->shards <= 1 || pos < 0) return true;
  return t->opts->shard_on[kg_shard_of(pos, p, t->nsel, t->r->nproblems, t->opts->shards)];
}

/* Whether any problem of the variant at selection position pos is this run's. */
static bool kg_tune_mine_any(const kg_tune_run *t, long pos) {
  for (int p = 0; p < t->r->nproblems; p++)
    if (kg_tune_mine(t, pos, p)) return true;
  return false;
}

/* The pairs this run covers, out of total (the progress line's total). */
static long kg_tune_mine_count(const kg_tune_run *t, long total) {
  if (t->opts->shards <= 1) return total;
  long n = 0;
  for (long i = 0; i < t->nsel; i++)
    for (int p = 0; p < t->r->nproblems; p++) n += kg_tune_mine(t, i, p);
  return n;
}

/* ---- --cache: measured points read from a Kernel Tuner cache file ---- */

static bool kg_tune_is_cached(const kg_tune_run *t, int p, long point) {
  return t->cached && t->cached[(size_t)p * t->spec->npoints + (size_t)point];
}

/* Read opts->cache_path and find the report problem it belongs to (*prob).  Errors: those of
 * kg_cache_load; KG_EINVAL (a problem the spec lacks, or none named while several are tuned). */
static kg_status kg_tune_cache_read(kg_tune_run *t, kg_cache **out, int *prob, kg_ctx *ctx) {
  const char *path = t->opts->cache_path;
  kg_status st = kg_cache_load(t->spec, path, out, ctx);
  if (st) return st;
  kg_cache *c = *out;
  *prob = -1;
  if (!c->problem && t->r->nproblems != 1)
    return kg_ctx_set(ctx, KG_EINVAL,
                      "%s: the cache names no problem (no `problem` key): tune one problem with --problem", path);
  for (int p = 0; p < t->r->nproblems && c->problem; p++)
    if (strcmp(t->spec->problems[t->probs[p]].name, c->problem) == 0) *prob = p;
  if (!c->problem) *prob = 0;
  if (c->problem && kg_spec_problem_index(t->spec, c->problem) < 0)
    return kg_ctx_set(ctx, KG_EINVAL, "%s: problem '%s' is not a problem of spec '%s'", path, c->problem,
                      t->spec->name);
  if (*prob < 0)
    return kg_ctx_set(ctx, KG_EINVAL, "%s: the cache holds problem '%s', which this run does not tune", path,
                      c->problem);
  return KG_OK;
}

/* Append the cache's entries to problem p's results (resumed, as measured) and mark them. */
static kg_status kg_tune_cache_apply(kg_tune_run *t, const kg_cache *c, int p, kg_ctx *ctx) {
  kg_problem_result *res = &t->r->problems[p];
  if (!(t->cached = calloc((size_t)t->r->nproblems * t->spec->npoints, 1)))
    return kg_ctx_set(ctx, KG_ENOMEM, "out of memory");
  for (size_t i = 0; i < c->n; i++) {
    const kg_cache_entry *e = &c->e[i];
    kg_result *x = &res->results[res->nresults++];
    kg_result_fail(x, e->point, e->status, e->status == KG_OK ? "" : "failed in the cache file");
    x->resumed = true;
    if (e->status == KG_OK || e->status == KG_ECENSORED) {
      kg_stats *s = &x->m.stats;
      s->n = 1;
      s->min = s->max = s->mean = s->p50 = s->ci_lo = s->ci_hi = e->time_ms * 1e6;
      s->p90 = s->p99 = e->p90_ms * 1e6;
    }
    if (e->status == KG_ECENSORED) snprintf(x->m.reason, sizeof x->m.reason, "censored in the cache file");
    t->cached[(size_t)p * t->spec->npoints + (size_t)e->point] = 1;
    res->cached++;
  }
  if (t->pg.f)
    fprintf(t->pg.f, "cache %s: %zu measured points of problem %s%s%s%s (%zu configurations outside the space)\n",
            t->opts->cache_path, c->n, t->spec->problems[t->probs[p]].name, c->device ? " from device '" : "",
            c->device ? c->device : "", c->device ? "'" : "", c->outside);
  return KG_OK;
}

/* A new report with its problems (opts->problems, or all of the spec's) and their baselines.
 * Errors: KG_ENOMEM, KG_EINVAL (a problem the spec lacks). */
static kg_status kg_tune_report_new(kg_tune_run *t, kg_ctx *ctx) {
  const kg_spec *spec = t->spec;
  const kg_tune_opts *opts = t->opts;
  kg_tune_report *r = t->r = calloc(1, sizeof *t->r);
  if (!r) return kg_ctx_set(ctx, KG_ENOMEM, "out of memory");
  r->spec = spec;
  r->strategy = opts->strategy;
  r->budget = opts->budget;
  if (opts->nwarm > 0 && opts->warm) { /* the warm start, for the report */
    r->warm = malloc(sizeof(long) * (size_t)opts->nwarm);
    r->warm_from = calloc((size_t)opts->nwarm, sizeof *r->warm_from);
    if (!r->warm || !r->warm_from) return kg_ctx_set(ctx, KG_ENOMEM, "out of memory");
    for (long i = 0; i < opts->nwarm; i++) {
      r->warm[i] = opts->warm[i];
      snprintf(r->warm_from[i], sizeof r->warm_from[i], "%s", opts->warm_from ? opts->warm_from[i] : "?");
    }
    r->nwarm = opts->nwarm;
  }
  snprintf(r->backend, sizeof r->backend, "%s", kg_backend_name(opts->compile.backend));
  snprintf(r->mode, sizeof r->mode, "%s", opts->measure.cold ? "cold" : "warm");
  snprintf(r->command, sizeof r->command, "tune");
  r->nevents = opts->measure.nevents > 0 && opts->measure.nevents <= KG_MAX_EVENTS ? opts->measure.nevents : 0;
  for (int i = 0; i < r->nevents; i++) snprintf(r->events[i], sizeof r->events[i], "%s", opts->measure.events[i]);
  int np = opts->nproblems ? opts->nproblems : spec->nproblems;
  t->probs = malloc(sizeof(int) * (size_t)np);
  r->problems = calloc((size_t)np, sizeof *r->problems);
  if (!t->probs || !r->problems) return kg_ctx_set(ctx, KG_ENOMEM, "out of memory");
  for (int i = 0; i < np; i++) {
    t->probs[i] = opts->nproblems ? kg_spec_problem_index(spec, opts->problems[i]) : i;
    if (t->probs[i] < 0) {
      char names[2048] = "";
      for (int j = 0; j < spec->nproblems; j++)
        snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", j ? ", " : "", spec->problems[j].name);
      return kg_ctx_set(ctx, KG_EINVAL, "%s: no problem named '%s' (problems: %s)", spec->path, opts->problems[i],
                        names);
    }
    r->nproblems = i + 1;
    r->problems[i].problem = t->probs[i];
    r->problems[i].winner = -1;
    r->problems[i].baselines = calloc((size_t)(spec->nbaselines ? spec->nbaselines : 1), sizeof(kg_result));
    if (!r->problems[i].baselines) return kg_ctx_set(ctx, KG_ENOMEM, "out of memory");
  }
  r->nproblems = np;
  return KG_OK;
}

/* The harness contract of a compiled variant (kg_abi.h): the entry points, kg_verify unless the
 * spec declared verify = false, and the ABI version.  0, or 1 with the reason in msg. */
static int kg_tune_check_abi(const kg_spec *spec, kg_module *m, char *msg, size_t cap) {
  if (!kg_module_sym(m, "kg_create") || !kg_module_sym(m, "kg_run") || !kg_module_sym(m, "kg_destroy")) {
    snprintf(msg, cap, "template does not export kg_create, kg_run and kg_destroy");
    return 1;
  }
  if (!spec->verify_off && !kg_module_sym(m, "kg_verify")) {
    snprintf(msg, cap,
             "template does not export kg_verify: every variant is checked against the reference (a spec that "
             "cannot check its results declares verify = false with a verify_reason)");
    return 1;
  }
  const int *abi = kg_module_sym(m, "kg_abi_version");
  if (!abi) {
    snprintf(msg, cap, "template does not declare its harness ABI (kg_abi_version: include templates/kg_util.h)");
    return 1;
  }
  if (*abi != KG_ABI_VERSION) {
    snprintf(msg, cap, "template speaks harness ABI %d; this kgen speaks %d", *abi, KG_ABI_VERSION);
    return 1;
  }
  return 0;
}

/* Compile batch[0..nb) (points pts[0..nb), at selection positions pos0.. or -1): the sources are
 * emitted here (the spec's Lua state is single-threaded), then compiled opts->jobs at a time
 * (kg_compiler_compile_all).  With --resume, a variant already measured on every problem is not
 * compiled again (its compile status becomes KG_ENOTFOUND); nor is one with no problem in this
 * run's shards.  A variant that fails to compile is data (v->compile, v->reason); errors: KG_ENOMEM,
 * KG_EDB. */
kg_status kg_tune_compile_batch(kg_tune_run *t, const long *pts, long pos0, kg_variant *batch, int nb, kg_ctx *ctx) {
  const kg_spec *spec = t->spec;
  kg_status st = KG_OK;
  kg_compile_job *jobs = calloc((size_t)(nb > 0 ? nb : 1), sizeof *jobs);
  if (!jobs) return kg_ctx_set(ctx, KG_ENOMEM, "out of memory");
  for (int i = 0; i < nb; i++) {
    kg_variant *v = &batch[i];
    memset(v, 0, sizeof *v);
    v->point = pts[i];
    v->pos = pos0 >= 0 ? pos0 + i : -1;
    const int32_t *pt = spec->points + (size_t)v->point * (size_t)spec->nparams;
    int len = kg_spec_format_point(spec, pt, NULL, 0);
    v->name = malloc((size_t)len + 1);
    if (!v->name) {
      st = kg_ctx_set(ctx, KG_ENOMEM, "out of memory");
      goto done;
    }
    kg_spec_format_point(spec, pt, v->name, (size_t)len + 1);
    bool every = t->cached != NULL; /* --cache holds it for every problem: nothing to compile */
    for (int p = 0; p < t->r->nproblems && every; p++) every = kg_tune_is_cached(t, p, v->point);
    if (every || !kg_tune_mine_any(t, v->pos)) {
      v->compile = KG_ENOTFOUND; /* cached, or another shard's: never measured here */
      continue;
    }
    if (t->opts->resume && t->db) {
      bool all = true;
      for (int p = 0; p < t->r->nproblems && all; p++) {
        if (!kg_tune_mine(t, v->pos, p)) continue;
        kg_db_row row;
        bool found = false;
        if ((st = kg_db_get(t->db, &t->key, spec->problems[t->probs[p]].name, v->name, &row, &found, ctx))) goto done;
        all = found && kg_tune_row_stands(t->opts, &row);
      }
      if (all) {
        v->compile = KG_ENOTFOUND; /* resumed: every result comes from the database */
        continue;
      }
    }
    double c0 = (double)kg_now_ns();
    char *src = NULL;
    v->compile = kg_template_emit(spec, pt, &src, NULL, &jobs[i].ctx);
    v->compile_ms = ((double)kg_now_ns() - c0) * 1e-6;
    if (v->compile != KG_OK) snprintf(v->reason, sizeof v->reason, "%s", kg_ctx_message(&jobs[i].ctx));
    jobs[i].name = v->name;
    jobs[i].src = src; /* NULL when the emit failed: skipped */
  }
  kg_compiler_compile_all(t->cc, jobs, (size_t)nb, t->opts->jobs);
  for (int i = 0; i < nb; i++) {
    kg_variant *v = &batch[i];
    kg_compile_job *j = &jobs[i];
    if (j->src) {
      v->compile = j->status;
      v->module = j->module;
      v->compile_ms += j->ms;
      if (v->compile == KG_OK && kg_tune_check_abi(spec, v->module, j->ctx.msg, sizeof j->ctx.msg)) {
        v->compile = KG_ETEMPLATE;
        kg_module_free(v->module);
        v->module = NULL;
      }
      if (v->compile != KG_OK) snprintf(v->reason, sizeof v->reason, "%s", kg_ctx_message(&j->ctx));
    }
    if (v->compile != KG_OK && v->compile != KG_ENOTFOUND && t->pg.f)
      fprintf(t->pg.f, "%svariant %s: %s: %.300s\n", t->pg.tty ? "\r\033[K" : "", v->name, kg_strerror(v->compile),
              v->reason);
  }
done:
  for (int i = 0; i < nb; i++) {
    free((char *)jobs[i].src);
    free(jobs[i].diag);
  }
  free(jobs);
  return st;
}

/* Measure the compiled batch on report problem p, in one worker: the baselines first (once per
 * problem, in the first batch that has code), then each variant.  Errors: KG_EDB, worker
 * failures; failing variants are data. */
kg_status kg_tune_measure_batch(kg_tune_run *t, int p, kg_variant *batch, int nb, kg_ctx *ctx) {
  const kg_spec *spec = t->spec;
  const kg_tune_opts *opts = t->opts;
  kg_progress *pg = &t->pg;
  kg_status st = KG_OK;
  kg_module *any = NULL;
  for (int i = 0; i < nb && !any; i++) any = batch[i].module;
  kg_problem_result *res = &t->r->problems[p];
  const kg_spec_problem *sp = &spec->problems[t->probs[p]];
  kg_problem_run run = {spec, opts, t->db, &t->key, {0}, sp, NULL, NULL, NULL, NULL, false, {0}, 0, NULL, true};
  run.prob = (kg_problem){sp->ndims, (const char *const *)sp->dim_names, sp->dims, spec->seed, spec->rtol, spec->atol};
  if (any) {
    run.create = (kg_create_fn)kg_module_sym(any, "kg_create");
    run.prepare = (kg_prepare_fn)kg_module_sym(any, "kg_prepare");
    run.destroy = (kg_destroy_fn)kg_module_sym(any, "kg_destroy");
  }
  for (int bl = 0; bl < spec->nbaselines && any && !res->baselines_done; bl++) {
    char name[256], sym[256];
    snprintf(name, sizeof name, "baseline:%s", spec->baselines[bl]);
    snprintf(sym, sizeof sym, "kg_baseline_%s", spec->baselines[bl]);
    kg_run_fn fn = (kg_run_fn)kg_module_sym(any, sym);
    if (!fn) {
      kg_result_fail(&res->baselines[bl], -1, KG_ENOTFOUND, "the template does not export it");
      continue;
    }
    strncat(sym, "_applies", sizeof sym - strlen(sym) - 1); /* optional (kg_abi.h) */
    int (*applies)(const kg_problem *) = (int (*)(const kg_problem *))kg_module_sym(any, sym);
    if (applies && !applies(&run.prob)) {
      char why[320];
      snprintf(why, sizeof why, "does not apply to this problem (the template's %s)", sym);
      kg_result_fail(&res->baselines[bl], -1, KG_EUNSUPPORTED, why);
      continue;
    }
    if ((st = kg_problem_measure(&run, name, -1, fn, NULL, 0, &res->baselines[bl], ctx))) goto done;
    if (pg->f && res->baselines[bl].m.status != KG_OK)
      fprintf(pg->f, "%sbaseline %s on %s: %s: %.300s\n", pg->tty ? "\r\033[K" : "", spec->baselines[bl], sp->name,
              kg_strerror(res->baselines[bl].m.status), res->baselines[bl].m.reason);
  }
  if (any) res->baselines_done = true;
  for (int i = 0; i < nb; i++) {
    kg_variant *v = &batch[i];
    if (opts->problem_points && opts->problem_points[p] >= 0 && opts->problem_points[p] != v->point)
      continue;                                      /* kgen bench: this problem re-measures its own winner only */
    if (kg_tune_is_cached(t, p, v->point)) continue; /* --cache has it */
    if (!kg_tune_mine(t, v->pos, p)) continue;       /* another shard's pair */
    run.cutoff_ns = kg_tune_cutoff_ns(opts, res);
    kg_result *x = &res->results[res->nresults++];
    if (v->compile == KG_ENOTFOUND || v->module) {
      kg_run_fn fn = v->module ? (kg_run_fn)kg_module_sym(v->module, "kg_run") : NULL;
      kg_verify_fn vf = v->module && !spec->verify_off ? (kg_verify_fn)kg_module_sym(v->module, "kg_verify") : NULL;
      if ((st = kg_problem_measure(&run, v->name, v->point, fn, vf, v->compile_ms, x, ctx))) goto done;
    } else {
      kg_result_fail(x, v->point, v->compile, v->reason);
      x->compile_ms = v->compile_ms;
      if ((st = kg_tune_store_failure(t->db, &t->key, sp->name, v, ctx))) goto done;
    }
    res->evaluated++;
    pg->done++;
    if (x->m.status != KG_OK) {
      res->failed++;
      if (x->m.status == KG_ECENSORED) pg->censored++;
      else pg->failed++;
      if (pg->f && v->compile == KG_OK && !x->resumed)
        fprintf(pg->f, "%svariant %s on %s: %s: %.300s\n", pg->tty ? "\r\033[K" : "", v->name, sp->name,
                kg_strerror(x->m.status), x->m.reason);
    }
    char best[640];
    kg_tune_best_label(t->r, res, best, sizeof best);
    kg_progress_line(pg, sp->name, best, false);
  }
done:
  kg_worker_stop(run.worker);
  return st;
}

void kg_batch_free(kg_variant *batch, int nb) {
  for (int i = 0; batch && i < nb; i++) {
    if (!batch[i].shared) kg_module_free(batch[i].module);
    free(batch[i].name);
    batch[i].module = NULL;
    batch[i].name = NULL;
  }
}

kg_status kg_tune(const kg_spec *spec, const kg_tune_opts *opts, kg_tune_report **out, kg_ctx *ctx) {
  kg_tune_run t = {.spec = spec, .opts = opts};
  kg_status st;
  long *sel = NULL;
  kg_variant *batch = NULL;
  kg_cache *cache = NULL;
  int cache_prob = -1;
  int bsize = opts->batch > 0 ? opts->batch : 64;
  double t0 = (double)kg_now_ns() * 1e-9;
  if ((st = kg_tune_report_new(&t, ctx))) goto fail;
  kg_tune_report *r = t.r;
  int np = r->nproblems;
  if ((st = kg_machine_detect(&r->machine, ctx))) goto fail;
  if ((st = kg_template_hash(spec, &r->template_hash, ctx))) goto fail;
  if ((st = kg_compiler_new(&opts->compile, &t.cc, ctx))) goto fail;
  snprintf(r->compiler, sizeof r->compiler, "%s", kg_compiler_describe(t.cc));
  if (opts->db_path && (st = kg_db_open(opts->db_path, &t.db, ctx))) goto fail;
  t.key = (kg_db_key){spec->name, spec->hash, r->template_hash, r->machine.id, r->backend, r->mode};

  if (opts->cache_path && (st = kg_tune_cache_read(&t, &cache, &cache_prob, ctx))) goto fail;
  long nsel = 0;
  sel = kg_tune_select(spec, opts, &nsel);
  batch = calloc((size_t)bsize, sizeof *batch);
  if (!sel || !batch) {
    st = kg_ctx_set(ctx, KG_ENOMEM, "out of memory");
    goto fail;
  }
  r->nvariants = nsel;
  t.nsel = nsel;
  if (opts->shards > 1 && !opts->shard_on) {
    st = kg_ctx_set(ctx, KG_EINVAL, "kg_tune: opts.shards = %d without opts.shard_on", opts->shards);
    goto fail;
  }
  if (opts->shards > 1 && (opts->strategy >= KG_STRATEGY_KNN || opts->npoints > 0)) {
    st = kg_ctx_set(ctx, KG_EINVAL,
                    "shards split a selection made up front (exhaustive or random): %s chooses each next variant "
                    "from the measurements so far",
                    opts->npoints > 0 ? "an explicit point list" : kg_strategy_name(opts->strategy));
    goto fail;
  }
  for (int i = 0; i < np; i++)
    if (!(r->problems[i].results = calloc((size_t)nsel + (cache ? cache->n : 0), sizeof(kg_result)))) {
      st = kg_ctx_set(ctx, KG_ENOMEM, "out of memory");
      goto fail;
    }
  long total = nsel * np;
  if (opts->problem_points) {
    total = 0;
    for (int p = 0; p < np; p++)
      for (long i = 0; i < nsel; i++) total += opts->problem_points[p] < 0 || opts->problem_points[p] == sel[i];
  }
  total = kg_tune_mine_count(&t, total);
  t.pg = (kg_progress){
      .f = opts->progress, .tty = opts->progress && isatty(fileno(opts->progress)), .total = total, .start = t0};
  if (t.pg.f)
    fprintf(t.pg.f, "kgen %s %s: %ld of %zu variants x %d problems, %s backend, %s caches, machine %s\n",
            opts->npoints > 0 ? "bench" : "tune", spec->name, nsel, spec->npoints, np, r->backend, r->mode,
            r->machine.id);
  if (cache_prob >= 0 && (st = kg_tune_cache_apply(&t, cache, cache_prob, ctx))) goto fail;
  if (cache && cache_prob >= 0 && !opts->problem_points && opts->strategy < KG_STRATEGY_KNN)
    for (long i = 0; i < nsel; i++) t.pg.total -= kg_tune_is_cached(&t, cache_prob, sel[i]);

  if (opts->strategy >= KG_STRATEGY_KNN && opts->npoints <= 0) {
    if ((st = kg_tune_guided(&t, ctx))) goto fail;
    nsel = 0; /* the batch loop below has nothing left to do */
  }
  for (long b0 = 0; b0 < nsel; b0 += bsize) {
    int nb = (int)(nsel - b0 < bsize ? nsel - b0 : bsize);
    if ((st = kg_tune_compile_batch(&t, sel + b0, b0, batch, nb, ctx))) goto fail;
    for (int p = 0; p < np; p++)
      if ((st = kg_tune_measure_batch(&t, p, batch, nb, ctx))) goto fail;
    kg_batch_free(batch, nb);
  }
  if (t.pg.f && t.pg.tty) fprintf(t.pg.f, "\n");
  for (int p = 0; p < np; p++) {
    kg_tune_choose(spec, &r->problems[p]);
    if (opts->rounds > 0 && r->problems[p].winner >= 0 &&
        (st = kg_tune_final_problem(r, t.cc, t.db, &t.key, opts, p, t.probs[p], &t.pg, ctx)))
      goto fail;
  }
  r->elapsed_s = (double)kg_now_ns() * 1e-9 - t0;
  *out = r;
  t.r = NULL;

fail:
  kg_cache_free(cache);
  free(t.cached);
  kg_batch_free(batch, bsize);
  free(batch);
  free(sel);
  free(t.probs);
  kg_db_close(t.db);
  kg_compiler_free(t.cc);
  kg_tune_report_free(t.r);
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
  free(r->warm);
  free(r->warm_from);
  free(r);
}
