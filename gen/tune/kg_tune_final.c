/* kg_tune_final.c - the final rounds: the finalists and the baselines measured again side by
 * side, interleaved (kg_tune.h). */

#include <string.h>

#include "kg_roofline.h"
#include "kg_template.h"
#include "kg_tune_internal.h"

/* One entry of the final rounds: a finalist (its module and result) or a baseline. */
typedef struct kg_final_item {
  char name[1100]; /* database variant: "final:<params>" or "final:baseline:<name>" */
  kg_run_fn run;
  kg_verify_fn verify;
  kg_phases_fn phases; /* the template's optional kg_phases (kg_abi.h) */
  kg_result *result;   /* where the outcome goes: the finalist's result or the baseline's */
  long point;
  kg_module *module;     /* finalists only */
  kg_measurement *round; /* [rounds] */
  bool reference;        /* the roofline reference (measured by kg_final_reference) */
} kg_final_item;

/* The roofline reference of problem sp (runtime/kg_roofline.h): one measurement in its own forked
 * worker, under the same options as the kernels (cold when the problem is), on all usable cores
 * (one when the measure options pin to a core). */
static kg_status kg_final_reference(const kg_spec_problem *sp, const kg_tune_opts *opts, kg_measurement *out,
                                    kg_ctx *ctx) {
  kg_roofline_bound b = (kg_roofline_bound)sp->bound;
  kg_measure_opts mo = opts->measure;
  mo.cold |= sp->cold;
  mo.cutoff_ns = 0;
  kg_measurement_init(out, &mo);
  if (!kg_roofline_supported(b, out->reason, sizeof out->reason)) {
    out->status = KG_EUNSUPPORTED;
    return KG_OK;
  }
  const char *names[3];
  int64_t dims[3];
  kg_problem p;
  kg_roofline_problem(b, sp->bytes, mo.cpu >= 0 ? 1 : 0, names, dims, &p);
  kg_entry e = {kg_roofline_create, kg_roofline_run, NULL, kg_roofline_destroy};
  return kg_measure(&p, &e, &mo, out, ctx);
}

/* Reduce an item's rounds into its result: the round with the median p50 (the lower middle
 * for an even count), and the spread of the p50s.  A candidate failing in any round failed
 * (flaky code must not ship); a baseline keeps its median over the rounds that passed.  The
 * roofline reference keeps its fastest round instead: it estimates a ceiling, which interference
 * only lowers (on the Zen5 VM a median round of the read pass once came out 2x slow, scoring a
 * qmatmul winner at 166%). */
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
  qsort(p50, (size_t)ok, sizeof *p50, kg_stats_cmp_double);
  double keep = p50[it->reference ? 0 : (ok - 1) / 2], med = p50[(ok - 1) / 2];
  for (int k = 0; k < rounds; k++)
    if (it->round[k].status == KG_OK && it->round[k].stats.p50 == keep) {
      x->m = it->round[k];
      break;
    }
  x->rounds = ok;
  x->round_spread = ok > 1 && med > 0 ? (p50[ok - 1] - p50[0]) / med : 0;
  x->resumed = false;
}

/* Whether round k of item it is not measured, and carries an earlier failure instead: a finalist
 * that failed a round has failed (kg_final_reduce), and a baseline that timed out (in the search or
 * in a round) would only spend the timeout again in every round (semiring_scan's scalar32 on its
 * T = 100,000 problem: 200 s a round). */
static bool kg_final_skip(kg_final_item *it, int k) {
  const kg_measurement *prev = NULL;
  for (int j = 0; j < k && !prev; j++)
    if (it->round[j].status != KG_OK && (it->point >= 0 || it->round[j].status == KG_ETIMEOUT)) prev = &it->round[j];
  if (!prev && it->point < 0 && it->result->m.status == KG_ETIMEOUT) prev = &it->result->m;
  if (!prev) return false;
  it->round[k] = *prev;
  return true;
}

/* Compile the variants at points[0..n) into mods[0..n), opts->jobs at a time (they compiled
 * during the search: a failure now is a bug or a full disk, hence an error; mods[] is then freed). */
static kg_status kg_tune_recompile(const kg_spec *spec, kg_compiler *cc, const kg_tune_opts *opts, const long *points,
                                   long n, kg_module **mods, kg_ctx *ctx) {
  kg_compile_job *jobs = calloc((size_t)(n > 0 ? n : 1), sizeof *jobs);
  char(*names)[1024] = calloc((size_t)(n > 0 ? n : 1), sizeof *names);
  kg_status st = KG_OK;
  if (!jobs || !names) st = kg_ctx_set(ctx, KG_ENOMEM, "out of memory");
  for (long i = 0; i < n && !st; i++) {
    const int32_t *pt = spec->points + (size_t)points[i] * (size_t)spec->nparams;
    char *src = NULL;
    kg_spec_format_point(spec, pt, names[i], sizeof names[i]);
    jobs[i].name = names[i];
    if ((st = kg_template_emit(spec, pt, &src, NULL, &jobs[i].ctx)))
      st = kg_ctx_set(ctx, st, "re-compiling %s for the final rounds: %s", names[i], kg_ctx_message(&jobs[i].ctx));
    jobs[i].src = src;
  }
  if (!st) kg_compiler_compile_all(cc, jobs, (size_t)n, opts->jobs);
  for (long i = 0; i < n && jobs && names; i++) {
    mods[i] = jobs[i].module;
    if (!st && jobs[i].status)
      st = kg_ctx_set(ctx, jobs[i].status, "re-compiling %s for the final rounds: %s", names[i],
                      kg_ctx_message(&jobs[i].ctx));
    free((char *)jobs[i].src);
    free(jobs[i].diag);
  }
  if (st)
    for (long i = 0; i < n; i++) {
      kg_module_free(mods[i]);
      mods[i] = NULL;
    }
  free(jobs);
  free(names);
  return st;
}

/*
 * The final rounds of one problem (kg_tune.h): the `finalists` fastest results of the search
 * (kgen bench: every point it measured) and the baselines, measured `rounds` times in one
 * worker, round k starting k entries further into the list.  Each keeps its median round;
 * the database gets "final:<params>" and "final:baseline:<name>".
 */
kg_status kg_tune_final_problem(kg_tune_report *r, kg_compiler *cc, kg_db *db, const kg_db_key *key,
                                const kg_tune_opts *opts, int p, int sp_index, kg_progress *pg, kg_ctx *ctx) {
  const kg_spec *spec = r->spec;
  kg_problem_result *res = &r->problems[p];
  const kg_spec_problem *sp = &spec->problems[sp_index];
  int rounds = opts->rounds > 64 ? 64 : opts->rounds;
  long nres = res->nresults, nfin = 0, limit = opts->npoints > 0 ? nres : (opts->finalists > 0 ? opts->finalists : 1);
  long *order = malloc(sizeof(long) * (size_t)(nres ? nres : 1));
  kg_final_item *items = calloc((size_t)(nres + spec->nbaselines + 2), sizeof *items);
  kg_status st = KG_OK;
  int nitems = 0;
  if (!order || !items) {
    st = kg_ctx_set(ctx, KG_ENOMEM, "out of memory");
    goto done;
  }
  nfin = kg_tune_rank(res, order); /* no finalists yet: by p50 */
  if (nfin > limit) nfin = limit;
  {
    long *pts = malloc(sizeof *pts * (size_t)(nfin ? nfin : 1));
    kg_module **mods = calloc((size_t)(nfin ? nfin : 1), sizeof *mods);
    if (!pts || !mods) st = kg_ctx_set(ctx, KG_ENOMEM, "out of memory");
    for (long f = 0; f < nfin && !st; f++) pts[f] = res->results[order[f]].point;
    if (!st) st = kg_tune_recompile(spec, cc, opts, pts, nfin, mods, ctx);
    for (long f = 0; f < nfin && !st; f++) items[f].module = mods[f];
    free(pts);
    free(mods);
    if (st) goto done;
  }
  for (long f = 0; f < nfin; f++) {
    kg_final_item *it = &items[nitems];
    kg_result *x = &res->results[order[f]];
    nitems++;
    char params[1024];
    kg_spec_format_point(spec, spec->points + (size_t)x->point * (size_t)spec->nparams, params, sizeof params);
    snprintf(it->name, sizeof it->name, "final:%s", params);
    it->run = (kg_run_fn)kg_module_sym(it->module, "kg_run");
    it->verify = r->spec->verify_off ? NULL : (kg_verify_fn)kg_module_sym(it->module, "kg_verify");
    it->phases = (kg_phases_fn)kg_module_sym(it->module, "kg_phases");
    it->result = x;
    it->point = x->point;
  }
  kg_module *any = items[0].module;
  for (int bl = 0; bl < spec->nbaselines; bl++) {
    char sym[256];
    snprintf(sym, sizeof sym, "kg_baseline_%s", spec->baselines[bl]);
    kg_run_fn fn = (kg_run_fn)kg_module_sym(any, sym);
    if (!fn || res->baselines[bl].m.status == KG_EUNSUPPORTED) continue; /* not this problem's (kg_abi.h) */
    kg_final_item *it = &items[nitems++];
    snprintf(it->name, sizeof it->name, "final:baseline:%s", spec->baselines[bl]);
    it->run = fn;
    it->phases = (kg_phases_fn)kg_module_sym(any, "kg_phases");
    it->result = &res->baselines[bl];
    it->point = -1;
  }
  res->has_reference = false;
  if (sp->bound != KG_BOUND_NONE) { /* the roofline reference of the spec's bound, side by side */
    kg_final_item *it = &items[nitems++];
    snprintf(it->name, sizeof it->name, "final:reference:%s", kg_roofline_name((kg_roofline_bound)sp->bound));
    it->reference = true;
    it->result = &res->reference;
    it->point = -1;
    memset(&res->reference, 0, sizeof res->reference);
    res->reference.point = -1;
    res->reference_work = kg_roofline_work_of((kg_roofline_bound)sp->bound, sp->bytes, opts->measure.cpu >= 0 ? 1 : 0);
  }
  for (int i = 0; i < nitems; i++)
    if (!(items[i].round = calloc((size_t)rounds, sizeof(kg_measurement)))) {
      st = kg_ctx_set(ctx, KG_ENOMEM, "out of memory");
      goto done;
    }

  if (pg->f) {
    int nbl = nitems - (int)nfin - (sp->bound != KG_BOUND_NONE);
    fprintf(pg->f, "%sfinal rounds: %s, %ld finalist%s and %d baseline%s%s%s side by side, %d rounds\n",
            pg->tty ? "\r\033[K" : "", sp->name, nfin, nfin == 1 ? "" : "s", nbl, nbl == 1 ? "" : "s",
            sp->bound != KG_BOUND_NONE ? " and the roofline reference " : "",
            sp->bound != KG_BOUND_NONE ? kg_roofline_name((kg_roofline_bound)sp->bound) : "", rounds);
  }
  kg_tune_opts fresh = *opts;
  fresh.resume = false; /* always measure now */
  kg_problem_run run = {spec, &fresh, NULL, key, {0}, sp, NULL, NULL, NULL, NULL, false, {0}, 0, NULL, false};
  run.prob = (kg_problem){sp->ndims, (const char *const *)sp->dim_names, sp->dims, spec->seed, spec->rtol, spec->atol};
  run.create = (kg_create_fn)kg_module_sym(any, "kg_create");
  run.prepare = (kg_prepare_fn)kg_module_sym(any, "kg_prepare");
  run.destroy = (kg_destroy_fn)kg_module_sym(any, "kg_destroy");
  for (int k = 0; k < rounds; k++)
    for (int j = 0; j < nitems; j++) {
      kg_final_item *it = &items[(j + k) % nitems];
      kg_result once;
      if (it->reference) {
        if ((st = kg_final_reference(sp, opts, &it->round[k], ctx))) goto stop;
        continue;
      }
      if (kg_final_skip(it, k)) continue;
      run.phases = it->phases;
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
    if (it->reference) {
      res->has_reference = true;
      continue; /* not a variant of the kernel: no database row */
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
