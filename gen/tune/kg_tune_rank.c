/* kg_tune_rank.c - ranking the results of a problem and choosing its winner and ties (kg_tune.h). */

#include "kg_tune_internal.h"

/* Number of parameters away from their default: the "simpler parameters" tie-break. */
static int kg_tune_complexity(const kg_spec *spec, long point) {
  const int32_t *p = spec->points + (size_t)point * (size_t)spec->nparams;
  int c = 0;
  for (int i = 0; i < spec->nparams; i++) c += p[i] != 0;
  return c;
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

/* Choose the winner of one problem and its statistical ties: the fastest by p50, or among its ties
 * whose p50 is within KG_TIE_BREAK_BAND of it, the one with the lower p90, then the simpler
 * parameters.  On a noisy machine the confidence intervals of a 20% slower finalist may still
 * overlap the fastest's: it is reported as a tie but not chosen. */
void kg_tune_choose(const kg_spec *spec, kg_problem_result *pr) {
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
    if (kg_tune_eligible(pr, x) && kg_stats_compare(&pr->results[fastest].m.stats, &x->m.stats) == 0) group[ng++] = i;
  }
  long w = fastest;
  const double band = pr->results[fastest].m.stats.p50 * (1.0 + KG_TIE_BREAK_BAND);
  for (long g = 0; g < ng; g++) {
    const kg_result *a = &pr->results[group[g]], *b = &pr->results[w];
    if (a->m.stats.p50 > band) continue; /* a tie, reported, but too far behind to be chosen */
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
