/*
 * kg_stats.h - robust summary statistics of timing samples, and the "beats beyond noise" rule.
 */
#ifndef KG_STATS_H
#define KG_STATS_H

#include <stdbool.h>
#include <stddef.h>

#include "kg_status.h"

/** Summary of n samples (units are the caller's, usually ns per run). */
typedef struct kg_stats {
  size_t n;
  double min, max, mean, std; /**< std: sample standard deviation (n - 1) */
  double p50, p90, p99;       /**< quantiles, linear interpolation between order statistics */
  double ci_lo, ci_hi;        /**< distribution-free 95% confidence interval of the median
                                   (binomial order statistics; Conover, Practical
                                   Nonparametric Statistics, 1999, 3.2) */
} kg_stats;

/** Compute the summary of x[0..n) (x is not modified).  KG_EINVAL when n == 0; KG_ENOMEM. */
kg_status kg_stats_compute(const double *x, size_t n, kg_stats *out);

/** Quantile q in [0, 1] of sorted[0..n) by linear interpolation (R type 7); n >= 1. */
/** qsort comparator of doubles, ascending (NaN compares equal to everything). */
int kg_stats_cmp_double(const void *a, const void *b);

double kg_quantile_sorted(const double *sorted, size_t n, double q);

/**
 * Compare a with b beyond noise: -1 when a is faster (a's CI of the median lies entirely below
 * b's), +1 when slower, 0 for a statistical tie (the intervals overlap).
 */
int kg_stats_compare(const kg_stats *a, const kg_stats *b);

/** Relative width of the median's CI: (ci_hi - ci_lo) / p50 (0 when p50 is 0). */
double kg_stats_rel_ci(const kg_stats *s);

#endif
