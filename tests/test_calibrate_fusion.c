/*
 * test_calibrate_fusion.c - the fusion report fields (gen/report/kg_report_fusion.c) in the tune
 * and bench JSON, and `kgen calibrate --fusion` (gen/calibrate/kg_calibrate_fusion.c), on
 * tests/specs/fusion_tiny.lua (templates/fusion_linear.c on small problems): the contract's keys
 * with values consistent with the baselines of the same run and the spec's metrics; the profile's
 * other keys kept; the quick subset and --full; usage errors.
 */
#define KG_TEST_NAME "calibrate-fusion"
#include <math.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "kg_cli_test.h"

static double num(const json_t *o, const char *key) {
  const json_t *v = json_object_get(o, key);
  if (!json_is_number(v)) fail_msg("key %s is not a number", key);
  return json_number_value(v);
}

static const json_t *baseline(const json_t *problem, const char *name) {
  size_t i;
  const json_t *b;
  json_array_foreach(json_object_get(problem, "baselines"), i,
                     b) if (!strcmp(json_string_value(json_object_get(b, "name")), name)) return b;
  fail_msg("no baseline %s", name);
  return NULL;
}

/* The contract's keys of one problem: fused = the winner, unfused = the `unfused` baseline. */
static void check_fusion_keys(const json_t *p) {
  const char *name = json_string_value(json_object_get(p, "name"));
  const json_t *d = json_object_get(p, "dims");
  const double m = num(d, "m"), k = num(d, "k"), n = num(d, "n");
  const bool ln = num(d, "ln") == 1;
  assert_string_equal(json_string_value(json_object_get(p, "pattern")), ln ? "ln_linear_silu" : "linear_relu");
  assert_true(num(p, "flops") == 2 * m * k * n);
  /* unfused: fusion.unfused's twin with the winner's thread count (2) */
  assert_string_equal(json_string_value(json_object_get(p, "unfused_baseline")), "unfused_2t");
  const double fused = num(json_object_get(p, "winner"), "p50_ns"), unfused = num(baseline(p, "unfused_2t"), "p50_ns");
  assert_true(fabs(num(p, "fused_latency_ms") - fused * 1e-6) <= 1e-9 * fused);
  assert_true(fabs(num(p, "unfused_latency_ms") - unfused * 1e-6) <= 1e-9 * unfused);
  assert_true(fabs(num(p, "speedup_factor") - unfused / fused) <= 1e-9 * unfused / fused);
  assert_true(fabs(num(p, "fused_gflops") - 2 * m * k * n / fused) <= 1e-6);
  assert_true(fabs(num(p, "unfused_gflops") - 2 * m * k * n / unfused) <= 1e-6);
  const double fb = 4 * (m * k + n * k + n + m * n), ub = 4 * (m * k + n * k + n + 5 * m * n);
  assert_true(num(p, "fused_bytes") == fb && num(p, "unfused_bytes") == ub);
  assert_true(fabs(num(p, "memory_reduction") - (1 - fb / ub)) <= 1e-12);
  const char *v = json_string_value(json_object_get(p, "fusion_verdict"));
  if (!v || (strcmp(v, "fuse") && strcmp(v, "avoid") && strcmp(v, "neutral"))) fail_msg("%s: verdict %s", name, v);
}

static void test_tune_and_bench_keys(void **state) {
  assert_int_equal(run("'%s' tune '%s/tests/specs/fusion_tiny.lua' --quiet --min-time 0.02 --rounds 1 --out '%s/out' "
                       "> /dev/null 2>&1",
                       bin, root, tmp),
                   0);
  json_t *r = load_report(tmp, "out/fusion_tiny");
  assert_non_null(r);
  size_t i;
  json_t *p;
  json_array_foreach(json_object_get(r, "problems"), i, p) check_fusion_keys(p);
  assert_int_equal(json_array_size(json_object_get(r, "problems")), 3);
  json_decref(r);
  char path[512];
  snprintf(path, sizeof path, "%s/bench.json", tmp);
  assert_int_equal(run("'%s' bench '%s/tests/specs/fusion_tiny.lua' --set epi=pass --quiet --min-time 0.02 --rounds 1 "
                       "--problem linear_relu_wide --json '%s' > /dev/null 2>&1",
                       bin, root, path),
                   0);
  json_error_t err;
  r = json_load_file(path, 0, &err);
  assert_non_null(r);
  assert_int_equal(json_array_size(json_object_get(r, "problems")), 1);
  check_fusion_keys(json_array_get(json_object_get(r, "problems"), 0));
  json_decref(r);
  /* a spec without `fusion`: none of the keys */
  assert_int_equal(
      run("'%s' bench '%s/specs/stream.lua' --set vec=1 --problem copy_l1 --quiet --min-time 0.01 --rounds 1 "
          "--json '%s/stream.json' > /dev/null 2>&1",
          bin, root, tmp),
      0);
  snprintf(path, sizeof path, "%s/stream.json", tmp);
  r = json_load_file(path, 0, &err);
  assert_non_null(r);
  assert_null(json_object_get(json_array_get(json_object_get(r, "problems"), 0), "speedup_factor"));
  json_decref(r);
}

static void test_calibrate_fusion(void **state) {
  char prof[512];
  snprintf(prof, sizeof prof, "%s/profile.json", tmp);
  /* an existing profile: its other keys stay, and so do the patterns of specs not re-measured;
   * a re-measured pattern is replaced */
  FILE *f = fopen(prof, "w");
  assert_non_null(f);
  fputs("{\"schema\": 1, \"kind\": \"machine-profile\", \"peak\": {\"marker\": 7}, \"fusion_profiles\": "
        "{\"patterns\": {\"other_spec\": {\"marker\": 3}, \"linear_relu\": {\"stale\": 1}}}}",
        f);
  fclose(f);
  assert_int_equal(run("'%s' calibrate --fusion --quick --quiet --spec '%s/tests/specs/fusion_tiny.lua' -o '%s' > "
                       "'%s/table.txt'",
                       bin, root, prof, tmp),
                   0);
  json_error_t err;
  json_t *j = json_load_file(prof, 0, &err);
  assert_non_null(j);
  assert_true(num(json_object_get(j, "peak"), "marker") == 7);
  const json_t *fp = json_object_get(j, "fusion_profiles"), *pats = json_object_get(fp, "patterns");
  assert_true(json_is_false(json_object_get(fp, "full")));
  assert_int_equal(json_object_size(pats), 3);
  assert_true(num(json_object_get(pats, "other_spec"), "marker") == 3);
  assert_null(json_object_get(json_object_get(pats, "linear_relu"), "stale"));
  /* quick subset: the first problem of each pattern */
  const json_t *relu = json_object_get(pats, "linear_relu"), *lns = json_object_get(pats, "ln_linear_silu");
  assert_non_null(relu);
  assert_non_null(lns);
  assert_int_equal(json_array_size(json_object_get(relu, "shapes")), 1);
  const json_t *sh = json_array_get(json_object_get(relu, "shapes"), 0);
  assert_string_equal(json_string_value(json_object_get(sh, "problem")), "linear_relu_small");
  assert_string_equal(json_string_value(json_object_get(sh, "variant_source")), "default");
  const double sp = num(sh, "speedup");
  assert_true(sp > 0 && fabs(sp - num(sh, "unfused_latency_ms") / num(sh, "fused_latency_ms")) <= 1e-9 * sp);
  assert_true(fabs(num(relu, "speedup") - sp) <= 1e-12 * sp); /* one shape: its own */
  const double mr = 1.0 - (48.0 * 96 + 64 * 96 + 64 + 48 * 64) / (48.0 * 96 + 64 * 96 + 64 + 5 * 48 * 64);
  assert_true(fabs(num(sh, "memory_reduction") - mr) <= 1e-12);
  assert_true(num(sh, "fused_gflops") > 0);
  const char *v = json_string_value(json_object_get(relu, "verdict"));
  assert_true(v && (!strcmp(v, "fuse") || !strcmp(v, "avoid") || !strcmp(v, "neutral")));
  json_decref(j);
  /* the table */
  char line[4096], all[16384] = "";
  snprintf(line, sizeof line, "%s/table.txt", tmp);
  f = fopen(line, "r");
  assert_non_null(f);
  while (fgets(line, sizeof line, f)) strncat(all, line, sizeof all - strlen(all) - 1);
  fclose(f);
  assert_non_null(strstr(all, "CPU speedup"));
  assert_non_null(strstr(all, "linear_relu "));
  assert_non_null(strstr(all, "ln_linear_silu "));
  /* --full: every problem */
  assert_int_equal(run("'%s' calibrate --fusion --full --quick --quiet --spec '%s/tests/specs/fusion_tiny.lua' -o '%s' "
                       "> /dev/null",
                       bin, root, prof),
                   0);
  j = json_load_file(prof, 0, &err);
  assert_non_null(j);
  pats = json_object_get(json_object_get(j, "fusion_profiles"), "patterns");
  assert_int_equal(json_array_size(json_object_get(json_object_get(pats, "linear_relu"), "shapes")), 2);
  json_decref(j);
}

static void test_usage_errors(void **state) {
  assert_int_equal(run("'%s' calibrate --full > /dev/null 2>&1", bin), 2);
  assert_int_equal(run("'%s' calibrate --spec x.lua > /dev/null 2>&1", bin), 2);
  char prof[512];
  snprintf(prof, sizeof prof, "%s/p2.json", tmp);
  FILE *f = fopen(prof, "w");
  assert_non_null(f);
  fputs("{}", f);
  fclose(f);
  /* a spec without `fusion` */
  assert_int_not_equal(run("'%s' calibrate --fusion --quiet --spec '%s/tests/specs/small.lua' -o '%s' > /dev/null 2>&1",
                           bin, root, prof),
                       0);
  /* a profile that is not JSON */
  f = fopen(prof, "w");
  fputs("not json", f);
  fclose(f);
  assert_int_not_equal(
      run("'%s' calibrate --fusion --quiet --spec '%s/tests/specs/fusion_tiny.lua' -o '%s' > /dev/null 2>&1", bin, root,
          prof),
      0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_usage_errors),
      cmocka_unit_test(test_tune_and_bench_keys),
      cmocka_unit_test(test_calibrate_fusion),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
