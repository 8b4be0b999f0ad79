/*
 * test_tune_rank.c - kg_tune_choose (gen/tune/kg_tune_rank.c) on synthetic final-round results:
 * a statistical tie of the fastest finalist is chosen for its lower p90 only when its p50 is
 * within KG_TIE_BREAK_BAND of the fastest's; further behind it is reported as a tie, not chosen.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#define KG_TEST_NAME "tune_rank"
#include "kg_cli_test.h"
#include "kg_spec.h"
#include "kg_tune_internal.h"

/* A finalist at spec point `point`: p50 with its 95% CI [lo, hi] and p90, 3 final rounds. */
static kg_result finalist(long point, double p50, double lo, double hi, double p90) {
  kg_result x;
  memset(&x, 0, sizeof x);
  x.point = point;
  x.rounds = 3;
  x.m.status = KG_OK;
  x.m.stats = (kg_stats){.n = 50, .p50 = p50, .p90 = p90, .ci_lo = lo, .ci_hi = hi};
  return x;
}

static bool has_tie(const kg_problem_result *pr, long i) {
  for (long t = 0; t < pr->nties; t++)
    if (pr->ties[t] == i) return true;
  return false;
}

static void test_tie_break_band(void **state) {
  (void)state;
  char path[4096];
  snprintf(path, sizeof path, "%s/tests/specs/variants.lua", root);
  kg_spec *spec = NULL;
  kg_ctx ctx = {0};
  assert_int_equal(kg_spec_load(path, &spec, &ctx), KG_OK);
  assert_true(spec->npoints >= 6);
  /* 0: the fastest; 1: 20% slower, CIs overlapping, lower p90 and simpler (point 0: every
   * parameter at its default); 2: 2% slower, overlapping, lower p90 */
  kg_result res[3] = {finalist(5, 100, 95, 120, 130), finalist(0, 120, 100, 140, 125),
                      finalist(1, 102, 96, 118, 128)};
  kg_problem_result pr;
  memset(&pr, 0, sizeof pr);
  pr.results = res;
  pr.finals = true;
  pr.nresults = 3;
  kg_tune_choose(spec, &pr);
  assert_int_equal(pr.winner, 2); /* within the band: the lower p90 wins */
  assert_int_equal(pr.nties, 2);  /* both others are reported as ties */
  assert_true(has_tie(&pr, 0) && has_tie(&pr, 1));
  free(pr.ties);
  /* without the near one, the 20% slower tie is not chosen, for all its p90 and simplicity */
  memset(&pr, 0, sizeof pr);
  pr.results = res;
  pr.finals = true;
  pr.nresults = 2;
  kg_tune_choose(spec, &pr);
  assert_int_equal(pr.winner, 0);
  assert_int_equal(pr.nties, 1);
  assert_true(has_tie(&pr, 1));
  free(pr.ties);
  kg_spec_free(spec);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_tie_break_band)};
  return cmocka_run_group_tests(tests, setup, teardown);
}
