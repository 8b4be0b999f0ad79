/* test_spec_space.c - the valid space enumerated by backtracking (kg_spec_space.c): the same
 * points in the same order as filtering the cartesian product, constraints pruned early. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kg_spec.h"

static char g_path[4096];

static const char *path_of(const char *rel) {
  const char *root = getenv("KGEN_ROOT");
  snprintf(g_path, sizeof g_path, "%s/%s", root ? root : ".", rel);
  return g_path;
}

/* tests/specs/bigspace.lua's constraints, written out in C over values 0..9. */
static bool big_valid(const int v[8]) {
  int a = v[0], b = v[1], c = v[2], d = v[3], e = v[4], f = v[5], g = v[6], h = v[7];
  if (a + b >= 5 || c == a || (c * d) % 4) return false;
  if (a == 0 ? h < 5 : e > f) return false;
  return g + h <= 9 && h != 3 && e + f + g < 6;
}

/* A product of 10^8 points: every valid point, in lexicographic order (first parameter slowest),
 * found with far fewer constraint calls than the product (filtering it would make 8 * 10^8). */
static void test_backtracking_matches_product(void **state) {
  (void)state;
  kg_ctx ctx = {0};
  kg_spec *s = NULL;
  if (kg_spec_load(path_of("tests/specs/bigspace.lua"), &s, &ctx) != KG_OK) fail_msg("%s", ctx.msg);
  assert_int_equal(s->nparams, 8);
  assert_int_equal(s->nraw, 100000000);
  /* walk the product in C, with the same odometer order, and compare point by point */
  size_t k = 0;
  int v[8] = {0};
  for (long r = 0; r < 100000000; r++) {
    /* skip whole blocks the first constraints reject, so this stays quick */
    if (v[0] + v[1] >= 5 || v[2] == v[0]) {
      int lvl = v[0] + v[1] >= 5 ? 1 : 2; /* advance digit lvl, zero the rest */
      for (int i = lvl + 1; i < 8; i++) v[i] = 0;
      long step = 1;
      for (int i = lvl + 1; i < 8; i++) step *= 10;
      r += step - 1;
      for (int i = lvl; i >= 0; i--) {
        if (++v[i] < 10) break;
        v[i] = 0;
      }
      continue;
    }
    if (big_valid(v)) {
      if (k >= s->npoints) fail_msg("the loader has only %zu points; point %zu is valid", s->npoints, k);
      for (int i = 0; i < 8; i++) {
        int32_t idx = s->points[k * 8 + (size_t)i];
        if (idx != v[i]) fail_msg("point %zu: parameter %d is value %d, want %d", k, i, idx, v[i]);
      }
      k++;
    }
    for (int i = 7; i >= 0; i--) {
      if (++v[i] < 10) break;
      v[i] = 0;
    }
  }
  assert_int_equal(k, s->npoints);
  assert_int_equal(s->npoints, 179070);
  /* pruned: a few calls per valid point, not one per point of the product */
  if (s->nconstraint_calls > 20 * s->npoints)
    fail_msg("%llu constraint calls for %zu valid points", s->nconstraint_calls, s->npoints);
  assert_true(s->space_seconds > 0);
  /* the point -> index map */
  for (size_t i = 0; i < s->npoints; i += 997) assert_int_equal(kg_spec_point_index(s, s->points + i * 8), (long)i);
  int32_t bad[8] = {4, 1, 0, 0, 0, 0, 0, 0}; /* a + b = 5 */
  assert_int_equal(kg_spec_point_index(s, bad), -1);
  kg_spec_free(s);
}

/* Errors found part-way still name the constraint, its line and the bound parameters. */
static void test_errors_partial(void **state) {
  (void)state;
  kg_ctx ctx = {0};
  kg_spec *s = (kg_spec *)1;
  assert_int_equal(kg_spec_load(path_of("tests/specs/constraint_error.lua"), &s, &ctx), KG_ESPEC);
  assert_null(s);
  assert_non_null(strstr(ctx.msg, "constraint 1 failed at a=1"));
  assert_non_null(strstr(ctx.msg, "p.b: no such parameter (parameters: a)"));
  s = (kg_spec *)1;
  assert_int_equal(kg_spec_load(path_of("tests/specs/constraint_nil.lua"), &s, &ctx), KG_ESPEC);
  assert_non_null(strstr(ctx.msg, "constraint 1 returned nil at a=1"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_backtracking_matches_product),
      cmocka_unit_test(test_errors_partial),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
