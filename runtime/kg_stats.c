/* kg_stats.c - summary statistics of timing samples and the "beats beyond noise" rule. */
#include "kg_stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int kg_stats_cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

double kg_quantile_sorted(const double *sorted, size_t n, double q) {
  if (n == 0) return NAN;
  if (q <= 0) return sorted[0];
  if (q >= 1) return sorted[n - 1];
  double h = (double)(n - 1) * q; /* R type 7: x[floor(h)] + frac(h) * (x[floor(h)+1] - x[floor(h)]) */
  size_t lo = (size_t)floor(h);
  if (lo >= n - 1) return sorted[n - 1];
  double frac = h - (double)lo;
  return sorted[lo] + frac * (sorted[lo + 1] - sorted[lo]);
}

/*
 * 1-based rank r of the lower end of the distribution-free 95% CI of the median; the upper end
 * is rank n + 1 - r.  The interval [x(r), x(n+1-r)] covers the median with probability
 * 1 - 2 P(B <= r - 1), B ~ Binomial(n, 1/2) (Conover, Practical Nonparametric Statistics,
 * 3rd ed. 1999, section 3.2, "confidence interval for a quantile").  We take the largest r with
 * P(B <= r - 1) <= 0.025, i.e. coverage >= 95%.  Exact cumulative probabilities for n <= 100
 * (the recurrence p(k+1) = p(k) (n-k)/(k+1) from p(0) = 2^-n stays in double range); beyond,
 * Conover's normal approximation r = n/2 - 1.96 sqrt(n)/2, rounded down.  For n < 6 no rank
 * reaches 95% (2^-n * 2 > 0.05) and the interval is [min, max] with lower coverage.
 */
static size_t median_ci_rank(size_t n) {
  if (n <= 100) {
    double p = ldexp(1.0, -(int)n), cum = 0;
    size_t r = 1;
    for (size_t k = 0; k < n; k++) { /* cum = P(B <= k) */
      cum += p;
      if (cum > 0.025) break;
      r = k + 1; /* P(B <= r - 1) = P(B <= k) <= 0.025 */
      p = p * (double)(n - k) / (double)(k + 1);
    }
    return r;
  }
  double r = floor((double)n / 2.0 - 1.96 * sqrt((double)n) / 2.0);
  return r < 1 ? 1 : (size_t)r;
}

kg_status kg_stats_compute(const double *x, size_t n, kg_stats *out) {
  if (!out) return KG_EINVAL;
  memset(out, 0, sizeof *out);
  if (n == 0 || !x) return KG_EINVAL;
  double *s = malloc(n * sizeof *s);
  if (!s) return KG_ENOMEM;
  memcpy(s, x, n * sizeof *s);
  qsort(s, n, sizeof *s, kg_stats_cmp_double);

  double sum = 0;
  for (size_t i = 0; i < n; i++) sum += s[i];
  double mean = sum / (double)n, ss = 0;
  for (size_t i = 0; i < n; i++) ss += (s[i] - mean) * (s[i] - mean); /* two-pass: stable */

  out->n = n;
  out->min = s[0];
  out->max = s[n - 1];
  out->mean = mean;
  out->std = n > 1 ? sqrt(ss / (double)(n - 1)) : 0.0;
  out->p50 = kg_quantile_sorted(s, n, 0.50);
  out->p90 = kg_quantile_sorted(s, n, 0.90);
  out->p99 = kg_quantile_sorted(s, n, 0.99);
  size_t r = median_ci_rank(n), u = n + 1 - r;
  if (u < r) u = r;
  out->ci_lo = s[r - 1];
  out->ci_hi = s[u - 1];
  free(s);
  return KG_OK;
}

int kg_stats_compare(const kg_stats *a, const kg_stats *b) {
  if (a->ci_hi < b->ci_lo) return -1;
  if (a->ci_lo > b->ci_hi) return 1;
  return 0;
}

double kg_stats_rel_ci(const kg_stats *s) {
  if (s->p50 == 0) return 0;
  return (s->ci_hi - s->ci_lo) / s->p50;
}
