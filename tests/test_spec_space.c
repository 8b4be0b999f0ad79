/* test_spec_space.c - the valid space enumerated by backtracking (kg_spec_space.c): the same
 * points in the same order as filtering the cartesian product, constraints pruned early; a space
 * too large to enumerate estimated and sampled. */
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

/* tests/specs/hugespace.lua's constraints in C (value indices; mode is index 0). */
static bool huge_valid(const int32_t *v) {
  int a = v[1], b = v[2], c = v[3], d = v[4], e = v[5], f = v[6], g = v[7], h = v[8], i = v[9];
  return a + b < 15 && c != d && (e + f) % 3 != 0 && (g != 0 || h >= 5) && i != a % 5;
}

/* A product of 10^9 points with 406,296,000 valid ones (360 (a,b,i) x 2 x 90 x 66 x 95): too large
 * to enumerate, so it is estimated and sampled: KG_SPEC_SAMPLE_DEFAULT distinct valid points in
 * lexicographic order, the same sample on every load, the estimate close to the true count. */
static void test_sampled_space(void **state) {
  (void)state;
  kg_ctx ctx = {0};
  kg_spec *s = NULL, *again = NULL;
  if (kg_spec_load(path_of("tests/specs/hugespace.lua"), &s, &ctx) != KG_OK) fail_msg("%s", ctx.msg);
  assert_int_equal(s->nparams, 10);
  assert_int_equal(s->nraw, 1000000000);
  assert_true(s->sampled);
  assert_int_equal(s->npoints, KG_SPEC_SAMPLE_DEFAULT);
  print_message("estimate %.4g valid points (true 406296000), %.3f s, %llu constraint calls\n", s->estimate,
                s->space_seconds, s->nconstraint_calls);
  assert_true(s->estimate > 0.8 * 406296000.0 && s->estimate < 1.25 * 406296000.0);
  long hist_c[10] = {0};
  for (size_t k = 0; k < s->npoints; k++) {
    const int32_t *pt = s->points + k * 10;
    if (!huge_valid(pt)) fail_msg("sampled point %zu violates a constraint", k);
    if (k > 0) { /* strictly increasing: sorted and distinct */
      const int32_t *q = pt - 10;
      int i = 0;
      while (i < 10 && q[i] == pt[i]) i++;
      assert_true(i < 10 && q[i] < pt[i]);
    }
    assert_int_equal(kg_spec_point_index(s, pt), (long)k);
    hist_c[pt[3]]++;
  }
  /* c's every value has valid completions, so it is uniform: about 1000 each */
  for (int v = 0; v < 10; v++) assert_true(hist_c[v] > 800 && hist_c[v] < 1200);
  if (kg_spec_load(path_of("tests/specs/hugespace.lua"), &again, &ctx) != KG_OK) fail_msg("%s", ctx.msg);
  assert_int_equal(again->npoints, s->npoints);
  assert_memory_equal(again->points, s->points, sizeof *s->points * 10 * s->npoints);
  kg_spec_free(again);
  kg_spec_free(s);
  /* a product below KG_SPEC_SAMPLE_ABOVE is enumerated, not sampled */
  if (kg_spec_load(path_of("tests/specs/many.lua"), &s, &ctx) != KG_OK) fail_msg("%s", ctx.msg);
  assert_false(s->sampled);
  assert_int_equal(s->npoints, 40);
  kg_spec_free(s);
}

/* sample = N asks for a sample: of a space with fewer valid points, all of them (11 here, though
 * the branch a = 0 holds one point and is drawn half of the time); sample = 0 is refused. */
static void test_sample_field(void **state) {
  (void)state;
  kg_ctx ctx = {0};
  kg_spec *s = NULL;
  if (kg_spec_load(path_of("tests/specs/branchy.lua"), &s, &ctx) != KG_OK) fail_msg("%s", ctx.msg);
  assert_true(s->sampled);
  assert_int_equal(s->sample_target, 40);
  assert_int_equal(s->npoints, 11);
  assert_int_equal(s->points[0], 0); /* (a=0, b=0) first, then a=1 with every b */
  assert_int_equal(s->points[1], 0);
  for (int b = 0; b < 10; b++) {
    assert_int_equal(s->points[2 + 2 * b], 1);
    assert_int_equal(s->points[3 + 2 * b], b);
  }
  kg_spec_free(s);
  s = (kg_spec *)1;
  assert_int_equal(kg_spec_load(path_of("tests/specs/sample_bad.lua"), &s, &ctx), KG_ESPEC);
  assert_null(s);
  assert_non_null(strstr(ctx.msg, "sample: expected a number of points"));
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
      cmocka_unit_test(test_sampled_space),
      cmocka_unit_test(test_sample_field),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
