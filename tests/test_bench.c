/*
 * test_bench.c - `kgen bench` and `kgen compare` end to end on tests/specs/variants.lua: a --set
 * variant and a tuned directory made by a short tune are re-measured with their baselines, the
 * JSON has the autotune JSON's problem keys, an unsupported hardware event is reported as
 * unavailable with a reason (or, on a machine with a PMU, counted), a machine without results
 * measures the nearest compatible machine's winners (--strict: told the closest one), and compare finds a regression, none, and none between identical
 * files.
 */
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#define KG_TEST_NAME "bench"
#include "kg_cli_test.h"
#include <jansson.h>

static json_t *load(const char *fmt, const char *arg) {
  char path[4096];
  snprintf(path, sizeof path, fmt, arg);
  json_error_t err;
  return json_load_file(path, 0, &err);
}

/* The keys the autotune JSON's problems have, and a measured baseline. */
static void check_problems(json_t *r, size_t nproblems) {
  assert_non_null(r);
  assert_string_equal(json_string_value(json_object_get(r, "command")), "bench");
  assert_string_equal(json_string_value(json_object_get(r, "mode")), "warm");
  json_t *probs = json_object_get(r, "problems");
  assert_int_equal(json_array_size(probs), nproblems);
  for (size_t i = 0; i < nproblems; i++) {
    json_t *p = json_array_get(probs, i);
    static const char *const keys[] = {"name", "dims", "winner", "baseline", "baselines", "speedup"};
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) assert_non_null(json_object_get(p, keys[k]));
    json_t *w = json_object_get(p, "winner");
    assert_non_null(json_object_get(w, "params"));
    assert_true(json_number_value(json_object_get(w, "p50_ns")) > 0);
    assert_true(json_number_value(json_object_get(w, "p90_ns")) >= json_number_value(json_object_get(w, "p50_ns")));
    assert_int_equal(json_array_size(json_object_get(w, "ci95_ns")), 2);
    assert_non_null(json_object_get(w, "noise"));
    assert_non_null(json_object_get(w, "efficiency"));
    json_t *b = json_array_get(json_object_get(p, "baselines"), 0);
    assert_string_equal(json_string_value(json_object_get(b, "name")), "plain");
    assert_string_equal(json_string_value(json_object_get(b, "status")), "ok");
    assert_true(json_number_value(json_object_get(b, "p50_ns")) > 0);
    assert_true(json_number_value(json_object_get(p, "speedup")) > 0);
  }
}

static void test_bench_set(void **state) {
  (void)state;
  assert_int_equal(run("cd '%s' && '%s' bench '%s/tests/specs/variants.lua' --set mode=unrolled --min-time 0.01 "
                       "--events cycles,task-clock --json set.json --md set.md --csv set.csv --quiet > set.out 2>&1",
                       tmp, bin, root),
                   0);
  json_t *r = load("%s/set.json", tmp);
  check_problems(r, 2);
  for (size_t i = 0; i < 2; i++) {
    json_t *w = json_object_get(json_array_get(json_object_get(r, "problems"), i), "winner");
    assert_string_equal(json_string_value(json_object_get(json_object_get(w, "params"), "mode")), "unrolled");
    /* cycles: counted (a PMU) or "unavailable" with a reason (this VM), never a bare 0. */
    json_t *cyc = json_object_get(json_object_get(w, "events"), "cycles");
    assert_non_null(cyc);
    json_t *v = json_object_get(cyc, "per_run");
    if (json_is_string(v)) {
      assert_string_equal(json_string_value(v), "unavailable");
      assert_true(strlen(json_string_value(json_object_get(cyc, "reason"))) > 0);
    } else {
      assert_true(json_number_value(v) > 0);
    }
    /* task-clock is a software event: always there. */
    assert_true(
        json_number_value(json_object_get(json_object_get(json_object_get(w, "events"), "task-clock"), "per_run")) > 0);
  }
  json_decref(r);
  assert_int_equal(run("grep -q '## Findings' '%s/set.md' && grep -q 'speedup vs fastest baseline' '%s/set.md' && "
                       "grep -q 'warm' '%s/set.md'",
                       tmp, tmp, tmp),
                   0);
  assert_int_equal(run("head -n1 '%s/set.csv' | grep -q 'cycles,task-clock'", tmp), 0);
  /* Without a profile the efficiency says so instead of printing a number. */
  assert_int_equal(run("grep -q 'no machine profile (run kgen calibrate)' '%s/set.out'", tmp), 0);
}

/* Two --set variants are measured side by side in the final rounds: both are in the CSV and the
 * report's top list, each with its median of 3 rounds, and the winner is one of them. */
static void test_bench_two_sets(void **state) {
  (void)state;
  assert_int_equal(
      run("cd '%s' && '%s' bench '%s/tests/specs/variants.lua' --set mode=ok --set mode=unrolled,pad=1 "
          "--problem small --rounds 3 --min-time 0.01 --json two.json --csv two.csv --quiet > two.out 2>&1",
          tmp, bin, root),
      0);
  json_t *r = load("%s/two.json", tmp);
  check_problems(r, 1);
  json_t *p = json_array_get(json_object_get(r, "problems"), 0), *w = json_object_get(p, "winner");
  assert_int_equal(json_integer_value(json_object_get(w, "rounds")), 3);
  assert_true(json_number_value(json_object_get(w, "round_spread")) >= 0);
  json_t *top = json_object_get(p, "top");
  assert_int_equal(json_array_size(top), 2);
  for (size_t i = 0; i < 2; i++)
    assert_int_equal(json_integer_value(json_object_get(json_array_get(top, i), "rounds")), 3);
  /* the top list is ordered by p50; the winner is its first, or the second when they tie */
  assert_true(json_number_value(json_object_get(json_array_get(top, 0), "p50_ns")) <=
              json_number_value(json_object_get(json_array_get(top, 1), "p50_ns")));
  bool first = json_equal(json_object_get(json_array_get(top, 0), "params"), json_object_get(w, "params"));
  assert_true(first || json_array_size(json_object_get(p, "ties")) == 1);
  json_t *b = json_array_get(json_object_get(p, "baselines"), 0);
  assert_int_equal(json_integer_value(json_object_get(b, "rounds")), 3);
  json_decref(r);
  /* header, two variants and one baseline */
  assert_int_equal(run("test $(wc -l < '%s/two.csv') -eq 4 && grep -q 'mode=unrolled' '%s/two.csv' && "
                       "grep -q 'mode=ok' '%s/two.csv'",
                       tmp, tmp, tmp),
                   0);
}

static void test_bench_tuned(void **state) {
  (void)state;
  assert_int_equal(run("cd '%s' && '%s' tune '%s/tests/specs/variants.lua' --problem small --out tv "
                       "--min-time 0.01 --timeout 0.5 --quiet > tune.out 2>&1",
                       tmp, bin, root),
                   0);
  assert_int_equal(run("cd '%s' && '%s' bench '%s/tests/specs/variants.lua' --tuned tv --min-time 0.01 "
                       "--json tb.json --quiet > tb.out 2>&1",
                       tmp, bin, root),
                   0);
  json_t *r = load("%s/tb.json", tmp);
  check_problems(r, 1);
  json_t *t = NULL;
  char cmd[4096], path[4096] = "";
  snprintf(cmd, sizeof cmd, "ls %s/tv/variants/*.json", tmp);
  FILE *f = popen(cmd, "r");
  if (f && fgets(path, sizeof path, f)) path[strcspn(path, "\n")] = 0;
  if (f) pclose(f);
  t = load("%s", path);
  assert_non_null(t);
  /* The re-measured variant is the shipped winner. */
  assert_true(json_equal(
      json_object_get(json_object_get(json_array_get(json_object_get(r, "problems"), 0), "winner"), "params"),
      json_object_get(json_object_get(json_array_get(json_object_get(t, "problems"), 0), "winner"), "params")));
  json_decref(t);
  json_decref(r);
  /* compare: identical files; a tune report against a bench report (the two formats match problem
   * by problem; the threshold is wide: two runs of a 50 ns kernel on a loaded machine differ by more
   * than 50%, and this checks the mechanism, not the machine); a doctored report far slower. */
  assert_int_equal(run("cd '%s' && '%s' compare tb.json tb.json > c1.out", tmp, bin), 0);
  assert_int_equal(run("cd '%s' && '%s' compare %s tb.json --threshold 1000 > c2.out", tmp, bin, path), 0);
  assert_int_equal(
      run("cd '%s' && sed -E 's/\"(p50_ns|p90_ns)\": ([0-9.e+-]+)/\"\\1\": 1e9/; "
          "/\"ci95_ns\": \\[/,/\\]/{s/^( *)[0-9][0-9.e+-]*,$/\\11e9,/; s/^( *)[0-9][0-9.e+-]*$/\\11.1e9/}' "
          "tb.json > slow.json",
          tmp),
      0);
  assert_int_equal(run("cd '%s' && '%s' compare tb.json slow.json > c3.out", tmp, bin), 1);
  assert_int_equal(run("grep -q REGRESSION '%s/c3.out'", tmp), 0);
  assert_int_equal(run("cd '%s' && '%s' compare slow.json tb.json > c4.out", tmp, bin), 0);
  assert_int_equal(run("cd '%s' && echo '{}' > bad.json && '%s' compare tb.json bad.json > /dev/null 2>&1", tmp, bin),
                   2);
  assert_int_equal(run("cd '%s' && '%s' compare tb.json nope.json > /dev/null 2>&1", tmp, bin), 2);
}

/* The tuned report of tv/ (a short tune of variants.lua; made when missing) rewritten as machine
 * `id`: vendor, cores and ISA replaced when given; written to dir/variants/<id>.json. */
static void fake_machine(const char *dir, const char *id, const char *vendor, int cores_factor, const char *isa) {
  if (run("test -d '%s/tv/variants'", tmp))
    assert_int_equal(run("cd '%s' && '%s' tune '%s/tests/specs/variants.lua' --problem small --out tv "
                         "--min-time 0.01 --timeout 0.5 --quiet > tune.out 2>&1",
                         tmp, bin, root),
                     0);
  json_t *t = load_report(tmp, "tv/variants");
  assert_non_null(t);
  json_t *m = json_object_get(t, "machine");
  json_object_set_new(m, "id", json_string(id));
  if (vendor) json_object_set_new(m, "vendor", json_string(vendor));
  json_object_set_new(m, "cores", json_integer(json_integer_value(json_object_get(m, "cores")) * cores_factor));
  if (isa) {
    json_error_t err;
    json_object_set_new(m, "isa", json_loads(isa, 0, &err));
  }
  char path[4096];
  assert_int_equal(run("mkdir -p '%s/%s/variants'", tmp, dir), 0);
  snprintf(path, sizeof path, "%s/%s/variants/%s.json", tmp, dir, id);
  assert_int_equal(json_dump_file(t, path, JSON_INDENT(2)), 0);
  json_decref(t);
}

static void test_bench_no_result(void **state) {
  (void)state;
  /* Only another machine's results, for another kernel's space: --strict names the closest
   * machine and exits 1, as before the nearest-machine fallback.  The copy's ISA is cut to
   * sse4_2 so that it is compatible with any x86-64 host (a copied AVX-512 machine is not
   * compatible with an AVX2-only one, and the fallback rightly refuses it there). */
  assert_int_equal(
      run("mkdir -p '%s/other/variants' && cp \"$(ls '%s/tuned/paired_cache/'*.json | head -n1)\" "
          "'%s/other/variants/zz-other-machine.json' && sed -i 's/\"id\": \"[^\"]*\"/\"id\": \"zz-other-machine\"/' "
          "'%s/other/variants/zz-other-machine.json' && perl -0pi -e 's/\"isa\": \\[[^\\]]*\\]/\"isa\": [\"sse4_2\"]/' "
          "'%s/other/variants/zz-other-machine.json'",
          tmp, root, tmp, tmp, tmp),
      0);
  assert_int_equal(run("'%s' bench '%s/tests/specs/variants.lua' --tuned '%s/other' --strict --quiet > /dev/null 2> "
                       "'%s/nr.err'",
                       bin, root, tmp, tmp),
                   1);
  assert_int_equal(
      run("grep -q 'no tuned result for this machine' '%s/nr.err' && grep -q 'closest machine with results: "
          "zz-other-machine' '%s/nr.err'",
          tmp, tmp),
      0);
  /* Without --strict it takes that machine's winners, which are not in this spec's space: an
   * input error that names the problem, never a silent success. */
  assert_int_equal(
      run("'%s' bench '%s/tests/specs/variants.lua' --tuned '%s/other' --quiet > /dev/null 2> '%s/nr1.err'", bin, root,
          tmp, tmp),
      2);
  assert_int_equal(run("grep -q 'nearest compatible machine, zz-other-machine' '%s/nr1.err'", tmp), 0);
  assert_int_equal(run("'%s' bench '%s/tests/specs/variants.lua' --tuned '%s/none' --quiet > /dev/null 2> '%s/nr2.err'",
                       bin, root, tmp, tmp),
                   1);
  assert_int_equal(run("grep -q 'no other machine has results' '%s/nr2.err'", tmp), 0);
}

/* A machine absent from tuned/ measures the nearest compatible machine's winners (the library's
 * rule: ISA level, then vendor/family/model, cores, caches), says so, and reports where they came
 * from; --strict refuses; a machine without AVX-512 (KGEN_MACHINE_OVERRIDE) skips AVX-512 ones. */
static void test_bench_nearest(void **state) {
  (void)state;
  fake_machine("near", "zz-far", "OtherVendor", 1, NULL); /* another vendor: distance >= 300 */
  fake_machine("near", "zz-near", NULL, 4, NULL);         /* 4x the cores: distance 20 */
  assert_int_equal(run("cd '%s' && '%s' bench '%s/tests/specs/variants.lua' --tuned near --min-time 0.01 "
                       "--json nb.json --md nb.md --quiet > nb.out 2> nb.err",
                       tmp, bin, root),
                   0);
  assert_int_equal(run("grep -q 'measuring the winners of the nearest compatible machine, zz-near' '%s/nb.err'", tmp),
                   0);
  json_t *r = load("%s/nb.json", tmp);
  assert_non_null(r);
  check_problems(r, 1);
  assert_string_equal(json_string_value(json_object_get(r, "source")), "nearest");
  assert_string_equal(json_string_value(json_object_get(r, "from")), "zz-near");
  json_decref(r);
  assert_int_equal(run("grep -q 'winners of machine `zz-near` (source: nearest)' '%s/nb.md'", tmp), 0);
  /* --strict: today's exit 1. */
  assert_int_equal(run("cd '%s' && '%s' bench '%s/tests/specs/variants.lua' --tuned near --strict --quiet "
                       "> /dev/null 2> ns.err",
                       tmp, bin, root),
                   1);
  assert_int_equal(run("grep -q 'no tuned result for this machine' '%s/ns.err'", tmp), 0);
  /* A machine without AVX-512: neither AVX-512 machine is compatible, so nothing to measure. */
  assert_int_equal(run("cd '%s' && KGEN_MACHINE_OVERRIDE='%s/tests/machines/avx2_16c.json' '%s' bench "
                       "'%s/tests/specs/variants.lua' --tuned near --quiet > /dev/null 2> na.err",
                       tmp, root, bin, root),
                   1);
  assert_int_equal(run("grep -q 'no compatible machine has one' '%s/na.err'", tmp), 0);
  /* ... until an AVX2 machine has results: that one is taken. */
  fake_machine("near", "zz-avx2", "AuthenticAMD", 8, "[\"sse4_2\", \"avx\", \"avx2\", \"fma\"]");
  assert_int_equal(run("cd '%s' && KGEN_MACHINE_OVERRIDE='%s/tests/machines/avx2_16c.json' '%s' bench "
                       "'%s/tests/specs/variants.lua' --tuned near --min-time 0.01 --json na.json --quiet "
                       "> /dev/null 2> na2.err",
                       tmp, root, bin, root),
                   0);
  r = load("%s/na.json", tmp);
  assert_non_null(r);
  assert_string_equal(json_string_value(json_object_get(r, "from")), "zz-avx2");
  json_decref(r);
  /* This machine's own results present: no fallback, no source field. */
  assert_int_equal(run("cd '%s' && '%s' bench '%s/tests/specs/variants.lua' --tuned tv --min-time 0.01 "
                       "--json own.json --quiet > /dev/null 2>&1",
                       tmp, bin, root),
                   0);
  r = load("%s/own.json", tmp);
  assert_non_null(r);
  assert_null(json_object_get(r, "source"));
  json_decref(r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_bench_set),       cmocka_unit_test(test_bench_two_sets), cmocka_unit_test(test_bench_tuned),
      cmocka_unit_test(test_bench_no_result), cmocka_unit_test(test_bench_nearest),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
