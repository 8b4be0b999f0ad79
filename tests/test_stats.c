/* test_stats.c - quantiles, the median's CI and the beats-beyond-noise rule. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <math.h>
#include <stdlib.h>

#include "kg_stats.h"

static void test_one_to_hundred(void **state) {
  double x[100];
  for (int i = 0; i < 100; i++) x[99 - i] = i + 1; /* reversed: compute must sort a copy */
  kg_stats s;
  assert_int_equal(kg_stats_compute(x, 100, &s), KG_OK);
  assert_int_equal(s.n, 100);
  assert_float_equal(s.min, 1, 0);
  assert_float_equal(s.max, 100, 0);
  assert_float_equal(s.mean, 50.5, 1e-12);
  assert_float_equal(s.std, sqrt(100.0 * 101.0 / 12.0), 1e-9); /* var of 1..n = n(n+1)/12 */
  /* R: quantile(1:100, c(.5,.9,.99)) = 50.5, 90.1, 99.01 */
  assert_float_equal(s.p50, 50.5, 1e-12);
  assert_float_equal(s.p90, 90.1, 1e-9);
  assert_float_equal(s.p99, 99.01, 1e-9);
  /* Exact binomial ranks for n = 100: [x(40), x(61)] (Conover, table A3). */
  assert_float_equal(s.ci_lo, 40, 0);
  assert_float_equal(s.ci_hi, 61, 0);
  assert_true(s.ci_lo <= s.p50 && s.p50 <= s.ci_hi);
  assert_float_equal(x[0], 100, 0); /* input untouched */
}

static void test_small_n_ranks(void **state) {
  /* n = 10: P(B <= 1) = 0.0107 <= 0.025 < P(B <= 2) = 0.0547, so [x(2), x(9)]. */
  double x[10];
  for (int i = 0; i < 10; i++) x[i] = i + 1;
  kg_stats s;
  assert_int_equal(kg_stats_compute(x, 10, &s), KG_OK);
  assert_float_equal(s.ci_lo, 2, 0);
  assert_float_equal(s.ci_hi, 9, 0);
  /* n = 20: [x(6), x(15)]. */
  double y[20];
  for (int i = 0; i < 20; i++) y[i] = i + 1;
  assert_int_equal(kg_stats_compute(y, 20, &s), KG_OK);
  assert_float_equal(s.ci_lo, 6, 0);
  assert_float_equal(s.ci_hi, 15, 0);
  /* n = 3: no rank reaches 95%, the interval is [min, max]. */
  assert_int_equal(kg_stats_compute(y, 3, &s), KG_OK);
  assert_float_equal(s.ci_lo, 1, 0);
  assert_float_equal(s.ci_hi, 3, 0);
}

static void test_constant_and_single(void **state) {
  double x[50];
  for (int i = 0; i < 50; i++) x[i] = 7.25;
  kg_stats s;
  assert_int_equal(kg_stats_compute(x, 50, &s), KG_OK);
  assert_float_equal(s.p50, 7.25, 0);
  assert_float_equal(s.p99, 7.25, 0);
  assert_float_equal(s.std, 0, 0);
  assert_float_equal(s.ci_lo, 7.25, 0);
  assert_float_equal(s.ci_hi, 7.25, 0);
  assert_float_equal(kg_stats_rel_ci(&s), 0, 0);
  assert_int_equal(kg_stats_compute(x, 1, &s), KG_OK);
  assert_float_equal(s.std, 0, 0);
  assert_float_equal(s.p90, 7.25, 0);
}

static void test_two_values(void **state) {
  double x[4] = {1, 3, 1, 3};
  kg_stats s;
  assert_int_equal(kg_stats_compute(x, 4, &s), KG_OK);
  assert_float_equal(s.p50, 2, 1e-12);
  assert_float_equal(s.p90, 3, 1e-12);
  assert_float_equal(s.mean, 2, 1e-12);
  assert_float_equal(s.std, sqrt(4.0 / 3.0), 1e-12);
  double sorted[2] = {1, 3};
  assert_float_equal(kg_quantile_sorted(sorted, 2, 0.25), 1.5, 1e-12);
  assert_float_equal(kg_quantile_sorted(sorted, 2, 0), 1, 0);
  assert_float_equal(kg_quantile_sorted(sorted, 2, 1), 3, 0);
}

/* Samples at the quantiles (i + 0.5) / n of an exponential(1) distribution (median ln 2). */
static double ci_width(size_t n) {
  double *x = malloc(n * sizeof *x);
  for (size_t i = 0; i < n; i++) x[i] = -log(1 - (i + 0.5) / (double)n);
  kg_stats s;
  assert_int_equal(kg_stats_compute(x, n, &s), KG_OK);
  assert_true(s.ci_lo <= log(2.0) && log(2.0) <= s.ci_hi);
  assert_true(s.ci_lo <= s.p50 && s.p50 <= s.ci_hi);
  free(x);
  return s.ci_hi - s.ci_lo;
}

static void test_ci_shrinks(void **state) {
  double w10 = ci_width(10), w30 = ci_width(30), w100 = ci_width(100), w101 = ci_width(101), w1000 = ci_width(1000),
         w100000 = ci_width(100000);
  assert_true(w10 > w30);
  assert_true(w30 > w100);
  assert_true(w100 > w1000);
  assert_true(w1000 > w100000);
  assert_true(fabs(w101 - w100) < 0.2 * w100); /* exact and normal ranks agree at the seam */
}

static void test_compare(void **state) {
  kg_stats a = {.n = 10, .p50 = 10, .ci_lo = 9, .ci_hi = 11};
  kg_stats b = {.n = 10, .p50 = 20, .ci_lo = 19, .ci_hi = 21};
  kg_stats c = {.n = 10, .p50 = 11.5, .ci_lo = 10.5, .ci_hi = 12.5};
  assert_int_equal(kg_stats_compare(&a, &b), -1);
  assert_int_equal(kg_stats_compare(&b, &a), 1);
  assert_int_equal(kg_stats_compare(&a, &c), 0);
  assert_int_equal(kg_stats_compare(&c, &a), 0);
  assert_int_equal(kg_stats_compare(&a, &a), 0);
  assert_float_equal(kg_stats_rel_ci(&a), 0.2, 1e-12);
}

static void test_empty(void **state) {
  kg_stats s;
  double x[1] = {1};
  assert_int_equal(kg_stats_compute(x, 0, &s), KG_EINVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_one_to_hundred),
      cmocka_unit_test(test_small_n_ranks),
      cmocka_unit_test(test_constant_and_single),
      cmocka_unit_test(test_two_values),
      cmocka_unit_test(test_ci_shrinks),
      cmocka_unit_test(test_compare),
      cmocka_unit_test(test_empty),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
