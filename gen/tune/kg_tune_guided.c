/* kg_tune_guided.c - kg_tune's loop for the guided strategies (gen/search/): one search per
 * problem, each next batch of variants chosen from the measurements so far. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kg_search.h"
#include "kg_tune_internal.h"

/* ---- guided search (gen/search/): one search per problem, each next batch of variants chosen
 * from the measurements so far (kg_search.h).  A variant's code must exist before its worker forks
 * (kg_worker.h), so a batch of opts->propose points is asked at once, compiled together and measured
 * in one worker (one kg_create and reference, as a batch of the exhaustive loop), then told.
 * A variant compiled for one problem is kept (up to KG_TUNE_KEEP compiles) for the later problems'
 * searches, which often ask for it again: a tune of P problems compiles each point once, as the
 * exhaustive loop does.  Errors as kg_tune_measure_batch. ---- */

enum { KG_TUNE_KEEP = 4096 };

/* The guided search's store of compiled variants: kept[spec point] or NULL. */
typedef struct kg_kept {
  kg_variant **at;
  long n;
} kg_kept;

static void kg_kept_free(kg_kept *k, long total) {
  for (long i = 0; k->at && i < total; i++)
    if (k->at[i]) {
      kg_module_free(k->at[i]->module);
      free(k->at[i]->name);
      free(k->at[i]);
    }
  free(k->at);
}

/* Compile the points pts[0..n) into batch[0..n), taking kept variants from k and keeping the new
 * ones when `keep` (a later problem may ask for them).  Errors as kg_tune_compile_batch. */
static kg_status kg_tune_compile_kept(kg_tune_run *t, kg_kept *k, bool keep, const long *pts, kg_variant *batch, int n,
                                      kg_ctx *ctx) {
  long fresh_pts[KG_SEARCH_MAX_BATCH] = {0};
  int slot[KG_SEARCH_MAX_BATCH], nt = 0;
  kg_variant *fresh = calloc((size_t)(n > 0 ? n : 1), sizeof *fresh);
  kg_status st;
  if (!fresh) return kg_ctx_set(ctx, KG_ENOMEM, "out of memory");
  for (int i = 0; i < n; i++) {
    memset(&batch[i], 0, sizeof batch[i]);
    const kg_variant *kv = k->at ? k->at[pts[i]] : NULL;
    if (kv) {
      batch[i] = *kv;
      batch[i].shared = true;
      if (!(batch[i].name = strdup(kv->name))) {
        free(fresh);
        return kg_ctx_set(ctx, KG_ENOMEM, "out of memory");
      }
    } else {
      fresh_pts[nt] = pts[i];
      slot[nt++] = i;
    }
  }
  if ((st = kg_tune_compile_batch(t, fresh_pts, -1, fresh, nt, ctx))) {
    kg_batch_free(fresh, nt);
    free(fresh);
    return st;
  }
  for (int j = 0; j < nt; j++) {
    kg_variant *v = &batch[slot[j]];
    *v = fresh[j];
    if (keep && k->at && k->n < KG_TUNE_KEEP && v->module) {
      kg_variant *kv = malloc(sizeof *kv);
      if (kv) {
        *kv = *v;
        kv->shared = false;
        if ((kv->name = strdup(v->name))) {
          k->at[v->point] = kv;
          k->n++;
          v->shared = true;
        } else {
          free(kv);
        }
      }
    }
  }
  free(fresh);
  return KG_OK;
}

/* Whether problem result res holds point (measured, cached or failed). */
static bool kg_tune_has_point(const kg_problem_result *res, long point) {
  for (long i = 0; i < res->nresults; i++)
    if (res->results[i].point == point) return true;
  return false;
}

/* Distance between problems a and b of spec: the sum over their dimensions of |log2 a_d / b_d|
 * (the problems of a spec share their dimension names, sorted). */
static double kg_tune_problem_distance(const kg_spec_problem *a, const kg_spec_problem *b) {
  double d = 0;
  for (int i = 0; i < a->ndims && i < b->ndims; i++)
    d += fabs(log2((double)(a->dims[i] > 0 ? a->dims[i] : 1)) - log2((double)(b->dims[i] > 0 ? b->dims[i] : 1)));
  return d;
}

/* The seeds of report problem p, the points its search measures first, before its strategy's own
 * (a warm start: good configurations transfer between related problems and machines): the
 * winner so far (fastest p50) of each earlier problem, nearest problem first (by
 * kg_tune_problem_distance), then the other machines' points (opts->warm, kgen tune --warm-start),
 * distinct, not yet measured for p, at most cap.  With `later`, p's back-seeds instead: the
 * winners of the problems searched after p (nearest first), which p's own search never saw.
 * Returns how many spec points it wrote to out. */
static int kg_tune_seeds(const kg_tune_run *t, int p, bool later, long *out, int cap) {
  const kg_tune_report *r = t->r;
  const kg_spec_problem *here = &t->spec->problems[t->probs[p]];
  int order[KG_TUNE_MAX_PROBLEMS], n = 0, k = 0;
  double dist[KG_TUNE_MAX_PROBLEMS];
  for (int q = later ? p + 1 : 0; q < (later ? r->nproblems : p); q++) { /* by distance, the earlier first among equals */
    dist[q] = kg_tune_problem_distance(here, &t->spec->problems[t->probs[q]]);
    int at = n++;
    while (at > 0 && dist[order[at - 1]] > dist[q]) {
      order[at] = order[at - 1];
      at--;
    }
    order[at] = q;
  }
  for (int i = 0; i < n + (later ? 0 : (int)t->opts->nwarm) && k < cap; i++) {
    long pt = -1;
    if (i < n) {
      long at = kg_tune_fastest(&r->problems[order[i]]);
      if (at >= 0) pt = r->problems[order[i]].results[at].point;
    } else {
      pt = t->opts->warm[i - n];
    }
    bool skip = pt < 0 || pt >= (long)t->spec->npoints || kg_tune_has_point(&r->problems[p], pt);
    for (int j = 0; j < k && !skip; j++) skip = out[j] == pt;
    if (!skip) out[k++] = pt;
  }
  return k;
}

/* The search cost of a result: its p50 (a censored variant tells its lower bound: slow, not
 * failed), INFINITY when it failed. */
static double kg_tune_search_cost(const kg_result *x) {
  return x->m.status == KG_OK || x->m.status == KG_ECENSORED ? x->m.stats.p50 : INFINITY;
}

/* The evaluations of problem p's budget kept back for its back-seeds (kg_tune_seeds with later):
 * one per problem searched after it, at most a batch and a quarter of the budget.  The first
 * problems have no earlier winners to start from; a later, related problem's winner is often what
 * their search missed (gemm's m64 never met the two-thread direct variant m128's search found). */
static long kg_tune_back_reserve(const kg_tune_run *t, int p, long budget, int bsize) {
  long n = t->r->nproblems - 1 - p;
  if (n > bsize) n = bsize;
  if (n > budget / 4) n = budget / 4;
  return n > 0 ? n : 0;
}

/* Measure points pts[0..n) for problem p (compiled or taken from kept); the results land in p's
 * result list.  Errors as kg_tune_measure_batch. */
static kg_status kg_tune_measure_points(kg_tune_run *t, kg_kept *kept, bool keep, int p, const long *pts, int n,
                                        kg_variant *batch, int *nb, kg_ctx *ctx) {
  kg_status st;
  *nb = n;
  if ((st = kg_tune_compile_kept(t, kept, keep, pts, batch, n, ctx))) return st;
  return kg_tune_measure_batch(t, p, batch, n, ctx);
}

kg_status kg_tune_guided(kg_tune_run *t, kg_ctx *ctx) {
  const kg_spec *spec = t->spec;
  const kg_tune_opts *opts = t->opts;
  kg_tune_report *r = t->r;
  kg_progress *pg = &t->pg;
  long total = (long)spec->npoints, budget = opts->budget;
  if (budget <= 0) budget = total / 10 > 32 ? total / 10 : 32; /* the default: 10%, at least 32 */
  if (budget > total) budget = total;
  int bsize = opts->propose > 0 ? opts->propose : 8;
  if (bsize > KG_SEARCH_MAX_BATCH) bsize = KG_SEARCH_MAX_BATCH;
  r->nvariants = budget;
  pg->total = budget * r->nproblems;
  if (pg->f)
    fprintf(pg->f, "%s search: %ld of %ld variants per problem, %d at a time\n", kg_strategy_name(opts->strategy),
            budget, total, bsize);
  kg_status st = KG_OK;
  kg_search_space *space = NULL;
  kg_search *search = NULL;
  int32_t *card = malloc(sizeof *card * (size_t)spec->nparams);
  long *spec_index = malloc(sizeof *spec_index * (size_t)total);     /* search index -> spec point */
  long *search_index = malloc(sizeof *search_index * (size_t)total); /* spec point -> search index */
  kg_variant *batch = calloc((size_t)bsize, sizeof *batch);
  size_t *asked = malloc(sizeof *asked * (size_t)bsize);
  long *pts = malloc(sizeof *pts * (size_t)bsize);
  kg_kept kept = {r->nproblems > 1 ? calloc((size_t)total, sizeof *kept.at) : NULL, 0};
  int nb = 0;
  if (!card || !spec_index || !search_index || !batch || !asked || !pts || (r->nproblems > 1 && !kept.at)) {
    st = kg_ctx_set(ctx, KG_ENOMEM, "out of memory");
    goto done;
  }
  for (int d = 0; d < spec->nparams; d++) card[d] = spec->params[d].nvalues;
  if ((st = kg_search_space_new(spec->nparams, card, (size_t)total, spec->points, &space, ctx))) goto done;
  for (long i = 0; i < total; i++) {
    long j = kg_search_space_find(space, spec->points + (size_t)i * (size_t)spec->nparams);
    search_index[i] = j;
    if (j >= 0) spec_index[j] = i;
  }
  for (int p = 0; p < r->nproblems && !st; p++) {
    kg_problem_result *res = &r->problems[p];
    if ((st = kg_search_new(space, kg_strategy_name(opts->strategy), opts->seed, &search, ctx))) goto done;
    for (long i = 0; i < res->cached; i++) { /* --cache: known before the first ask, and free */
      const kg_result *x = &res->results[i];
      if (search_index[x->point] >= 0) kg_search_tell(search, (size_t)search_index[x->point], kg_tune_search_cost(x));
    }
    /* the seeds first (told like any measured point), then the strategy's batches, leaving the
     * back-seeds' share of the budget for the pass after the last problem */
    const long mine = budget - kg_tune_back_reserve(t, p, budget, bsize);
    int nseed = kg_tune_seeds(t, p, false, pts, mine < bsize ? (int)mine : bsize);
    if (nseed && pg->f)
      fprintf(pg->f, "%s%s: %d seed%s measured first (the winners of the nearest earlier problems%s)\n",
              pg->tty ? "\r\033[K" : "", spec->problems[t->probs[p]].name, nseed, nseed == 1 ? "" : "s",
              opts->nwarm ? ", then the other machines' points" : "");
    for (;;) {
      long left = mine - (res->nresults - res->cached);
      if (left <= 0) break;
      size_t na;
      if (nseed) {
        na = (size_t)nseed;
        for (size_t i = 0; i < na; i++) asked[i] = (size_t)search_index[pts[i]];
        nseed = 0;
      } else {
        if (!(na = kg_search_ask_batch(search, (size_t)(left < bsize ? left : bsize), asked))) break;
        for (size_t i = 0; i < na; i++) pts[i] = spec_index[asked[i]];
      }
      long first = res->nresults;
      if ((st = kg_tune_measure_points(t, &kept, r->nproblems > 1, p, pts, (int)na, batch, &nb, ctx))) goto done;
      for (long i = first; i < res->nresults; i++) /* tell each result (a pending point left untold fails) */
        kg_search_tell(search, (size_t)search_index[res->results[i].point], kg_tune_search_cost(&res->results[i]));
      for (size_t i = 0; i < na; i++) kg_search_tell(search, asked[i], INFINITY); /* no-op once told */
      kg_batch_free(batch, nb);
      nb = 0;
    }
    kg_search_free(search);
    search = NULL;
  }
  /* back-seeds: each problem measures the winners of the problems searched after it, within the
   * share of its budget it kept for them (they compete in the final rounds like any point) */
  for (int p = 0; p + 1 < r->nproblems && !st; p++) {
    kg_problem_result *res = &r->problems[p];
    long left = budget - (res->nresults - res->cached), cap = kg_tune_back_reserve(t, p, budget, bsize);
    if (cap > left) cap = left;
    int n = cap > 0 ? kg_tune_seeds(t, p, true, pts, (int)cap) : 0;
    if (!n) continue;
    if (pg->f)
      fprintf(pg->f, "%s%s: %d back-seed%s measured (the winners of the later problems)\n", pg->tty ? "\r\033[K" : "",
              spec->problems[t->probs[p]].name, n, n == 1 ? "" : "s");
    if ((st = kg_tune_measure_points(t, &kept, true, p, pts, n, batch, &nb, ctx))) goto done;
    kg_batch_free(batch, nb);
    nb = 0;
  }
done:
  kg_batch_free(batch, nb);
  kg_kept_free(&kept, total);
  free(batch);
  free(asked);
  free(pts);
  kg_search_free(search);
  kg_search_space_free(space);
  free(card);
  free(spec_index);
  free(search_index);
  return st;
}
