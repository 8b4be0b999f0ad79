/*
 * test_verify.c - `kgen verify` (gen/bench/kg_verify.h, gen/cli/kg_cli_verify.c).
 * The drift rules on synthetic measurements (slower beyond noise and threshold, within noise,
 * no longer beating the baseline, accuracy drift, failed verification, figures of another
 * machine not compared); then end to end on tests/specs/variants.lua: an untouched shipped
 * winner passes, a shipped figure edited to be 10x faster (an injected slowdown) is flagged
 * with exit 1, the whole report edited 10x faster (a machine loaded today) is not, and a machine absent from tuned/ verifies the nearest machine's winners without
 * comparing their figures (--strict refuses).
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

#define KG_TEST_NAME "verify"
#include "kg_cli_test.h"
#include "kg_spec.h"
#include "kg_verify.h"

/* ---- the rules, on a synthetic report --------------------------------------------------------- */

typedef struct fixture {
  kg_spec *spec;
  kg_tune_report r;
  kg_problem_result pr;
  kg_result res, base;
} fixture;

/* A report of variants.lua's first problem: winner p50 (CI +-1%), baseline p50 (CI +-1%). */
static void fixture_make(fixture *f, double p50, double base_p50, bool ok) {
  memset(f, 0, sizeof *f);
  char path[4096];
  snprintf(path, sizeof path, "%s/tests/specs/variants.lua", root);
  kg_ctx ctx = {0};
  assert_int_equal(kg_spec_load(path, &f->spec, &ctx), KG_OK);
  assert_true(f->spec->nbaselines >= 1);
  f->res.point = 0;
  f->res.m.status = ok ? KG_OK : KG_EVERIFY;
  snprintf(f->res.m.reason, sizeof f->res.m.reason, "%s", ok ? "" : "element 3: 1 != 2");
  f->res.m.stats = (kg_stats){.n = 100, .p50 = p50, .ci_lo = p50 * 0.99, .ci_hi = p50 * 1.01};
  f->base.point = -1;
  f->base.m.status = KG_OK;
  f->base.m.stats = (kg_stats){.n = 100, .p50 = base_p50, .ci_lo = base_p50 * 0.99, .ci_hi = base_p50 * 1.01};
  f->pr.problem = 0;
  f->pr.nresults = 1;
  f->pr.results = &f->res;
  f->pr.baselines = &f->base;
  f->pr.winner = ok ? 0 : -1;
  f->pr.baselines_done = true;
  f->r.spec = f->spec;
  f->r.nproblems = 1;
  f->r.problems = &f->pr;
}

/* A shipped problem: winner p50 (CI +-1%), speedup, optional accuracy (JSON text). */
static json_t *shipped(double p50, double speedup, const char *accuracy) {
  json_error_t err;
  json_t *w =
      json_pack("{s:f, s:[f, f], s:{s:s}}", "p50_ns", p50, "ci95_ns", p50 * 0.99, p50 * 1.01, "params", "mode", "ok");
  if (accuracy) json_object_set_new(w, "accuracy", json_loads(accuracy, 0, &err));
  return json_pack("{s:s, s:o, s:f}", "name", "small", "winner", w, "speedup", speedup);
}

/* Judge and return the drift count; the row's verdict must agree. */
static int judge(fixture *f, json_t *ship, bool comparable, double threshold) {
  int nd = -1;
  json_t *row = kg_verify_problem(&f->r, 0, ship, comparable, threshold, &nd);
  assert_non_null(row);
  assert_string_equal(json_string_value(json_object_get(row, "verdict")), nd ? "DRIFT" : "ok");
  assert_int_equal((int)json_array_size(json_object_get(row, "drift")), nd);
  json_decref(row);
  json_decref(ship);
  kg_spec_free(f->spec);
  return nd;
}

static void test_rules_slower(void **state) {
  (void)state;
  fixture f;
  fixture_make(&f, 200, 1000, true); /* 2x the shipped 100: drift */
  assert_int_equal(judge(&f, shipped(100, 5, NULL), true, 10), 1);
  fixture_make(&f, 105, 1000, true); /* 5% slower, CIs apart: within the 10% threshold */
  assert_int_equal(judge(&f, shipped(100, 5, NULL), true, 10), 0);
  fixture_make(&f, 101, 1000, true); /* 1% slower: CIs overlap (noise), even at threshold 0 */
  assert_int_equal(judge(&f, shipped(100, 5, NULL), true, 0), 0);
  fixture_make(&f, 50, 1000, true); /* faster: never drift */
  assert_int_equal(judge(&f, shipped(100, 5, NULL), true, 10), 0);
  fixture_make(&f, 200, 1000, true); /* another machine's figures: not compared */
  assert_int_equal(judge(&f, shipped(100, 5, NULL), false, 10), 0);
}

/* shipped() with a shipped figure of variants.lua's first baseline. */
static json_t *shipped_with_baseline(const fixture *f, double p50, double base_p50) {
  json_t *t = shipped(p50, base_p50 / p50, NULL);
  json_object_set_new(
      t, "baselines",
      json_pack("[{s:s, s:f, s:s}]", "name", f->spec->baselines[0], "p50_ns", base_p50, "status", "ok"));
  return t;
}

static void test_rules_load(void **state) {
  (void)state;
  fixture f;
  /* everything 2x slower than when shipped (the machine is loaded): not drift */
  fixture_make(&f, 200, 1000, true);
  assert_int_equal(judge(&f, shipped_with_baseline(&f, 100, 500), true, 10), 0);
  /* the winner alone 2x slower, its baseline as shipped: drift */
  fixture_make(&f, 200, 500, true);
  assert_int_equal(judge(&f, shipped_with_baseline(&f, 100, 500), true, 10), 1);
  /* the machine 2x slower and the winner 4x: drift (2x relative to its baseline) */
  fixture_make(&f, 400, 1000, true);
  assert_int_equal(judge(&f, shipped_with_baseline(&f, 100, 500), true, 10), 1);
  /* the row names the load factor and the relative change */
  fixture_make(&f, 300, 1000, true);
  int nd = -1;
  json_t *ship = shipped_with_baseline(&f, 100, 500);
  json_t *row = kg_verify_problem(&f.r, 0, ship, true, 10, &nd);
  assert_non_null(row);
  assert_int_equal(nd, 1);
  assert_float_equal(json_number_value(json_object_get(row, "load_factor")), 2.0, 1e-9);
  assert_float_equal(json_number_value(json_object_get(row, "change_vs_baseline_pct")), 50.0, 1e-9);
  assert_float_equal(json_number_value(json_object_get(row, "change_pct")), 200.0, 1e-9);
  json_decref(row);
  json_decref(ship);
  kg_spec_free(f.spec);
}

static void test_rules_baseline(void **state) {
  (void)state;
  fixture f;
  fixture_make(&f, 120, 100, true); /* beat its baseline when shipped (1.3x), now 20% slower beyond noise */
  assert_int_equal(judge(&f, shipped(110, 1.3, NULL), true, 10), 1);
  fixture_make(&f, 120, 100, true); /* the same, within a 50% threshold: not drift */
  assert_int_equal(judge(&f, shipped(110, 1.3, NULL), true, 50), 0);
  fixture_make(&f, 100.5, 100, true); /* now a tie with the baseline: not drift */
  assert_int_equal(judge(&f, shipped(100, 1.3, NULL), true, 50), 0);
  fixture_make(&f, 120, 100, true); /* never beat it (0.9x when shipped): not drift */
  assert_int_equal(judge(&f, shipped(118, 0.9, NULL), true, 50), 0);
}

static void test_rules_accuracy(void **state) {
  (void)state;
  fixture f;
  fixture_make(&f, 100, 1000, true);
  snprintf(f.res.m.accuracy, sizeof f.res.m.accuracy, "{\"rel_err\": 0.0105, \"max_err\": 0.2}");
  assert_int_equal(judge(&f, shipped(100, 10, "{\"rel_err\": 0.010, \"max_err\": 0.2}"), true, 10), 0);
  fixture_make(&f, 100, 1000, true);
  snprintf(f.res.m.accuracy, sizeof f.res.m.accuracy, "{\"rel_err\": 0.0125, \"max_err\": 0.2}");
  assert_int_equal(judge(&f, shipped(100, 10, "{\"rel_err\": 0.010, \"max_err\": 0.2}"), true, 10), 1);
  fixture_make(&f, 100, 1000, true); /* the figure vanished */
  assert_int_equal(judge(&f, shipped(100, 10, "{\"rel_err\": 0.010}"), true, 10), 1);
}

static void test_rules_fails(void **state) {
  (void)state;
  fixture f;
  fixture_make(&f, 100, 1000, false);
  int nd = -1;
  json_t *ship = shipped(100, 10, NULL);
  json_t *row = kg_verify_problem(&f.r, 0, ship, true, 10, &nd);
  assert_int_equal(nd, 1);
  assert_false(json_is_true(json_object_get(row, "verified")));
  assert_non_null(strstr(json_string_value(json_array_get(json_object_get(row, "drift"), 0)), "element 3"));
  json_decref(row);
  json_decref(ship);
  kg_spec_free(f.spec);
}

/* ---- end to end ------------------------------------------------------------------------------- */

/* Rewrite the report under dir/variants/: every winner's p50 and CI multiplied by factor (and the
 * baselines' p50 too when baselines_too); id when given. */
static void doctor_all(const char *dir, double factor, const char *id, bool baselines_too) {
  json_t *t = load_report(dir, "variants");
  assert_non_null(t);
  size_t i;
  json_t *p;
  json_array_foreach(json_object_get(t, "problems"), i, p) {
    json_t *w = json_object_get(p, "winner"), *ci = json_object_get(w, "ci95_ns");
    json_object_set_new(w, "p50_ns", json_real(json_number_value(json_object_get(w, "p50_ns")) * factor));
    for (size_t k = 0; k < 2; k++)
      json_array_set_new(ci, k, json_real(json_number_value(json_array_get(ci, k)) * factor));
    size_t j;
    json_t *b;
    json_array_foreach(baselines_too ? json_object_get(p, "baselines") : NULL, j, b)
        json_object_set_new(b, "p50_ns", json_real(json_number_value(json_object_get(b, "p50_ns")) * factor));
  }
  char path[4096];
  if (id) {
    json_object_set_new(json_object_get(t, "machine"), "id", json_string(id));
    assert_int_equal(run("rm -f %s/variants/*.json", dir), 0);
  }
  snprintf(path, sizeof path, "%s/variants/%s.json", dir,
           json_string_value(json_object_get(json_object_get(t, "machine"), "id")));
  assert_int_equal(json_dump_file(t, path, JSON_INDENT(2)), 0);
  json_decref(t);
}

static void doctor(const char *dir, double factor, const char *id) { doctor_all(dir, factor, id, false); }

static void test_verify_cli(void **state) {
  (void)state;
  assert_int_equal(run("cd '%s' && '%s' tune '%s/tests/specs/variants.lua' --problem small --out tv "
                       "--min-time 0.01 --timeout 0.5 --quiet > tune.out 2>&1",
                       tmp, bin, root),
                   0);
  /* Untouched: passes.  The threshold is wide: two runs of a 30 ns kernel on a loaded machine may
   * differ by more than 10%; this checks the mechanism. */
  assert_int_equal(run("cd '%s' && '%s' verify '%s/tests/specs/variants.lua' --tuned tv --threshold 200 "
                       "--min-time 0.01 --json ok.json --md ok.md > ok.out 2> ok.err",
                       tmp, bin, root),
                   0);
  char path[4096];
  snprintf(path, sizeof path, "%s/ok.json", tmp);
  json_error_t err;
  json_t *r = json_load_file(path, 0, &err);
  assert_non_null(r);
  assert_int_equal(json_integer_value(json_object_get(r, "drifts")), 0);
  json_t *row = json_array_get(json_object_get(json_array_get(json_object_get(r, "specs"), 0), "problems"), 0);
  assert_string_equal(json_string_value(json_object_get(row, "verdict")), "ok");
  assert_true(json_is_true(json_object_get(row, "verified")));
  assert_true(json_number_value(json_object_get(row, "p50_ns")) > 0);
  json_decref(r);
  assert_int_equal(run("grep -q '| small |' '%s/ok.md' && grep -q '0 drifts' '%s/ok.out'", tmp, tmp), 0);
  /* Injected slowdown: the shipped figure edited to be 10x faster. */
  assert_int_equal(run("cp -r '%s/tv' '%s/slow'", tmp, tmp), 0);
  snprintf(path, sizeof path, "%s/slow", tmp);
  doctor(path, 0.1, NULL);
  assert_int_equal(run("cd '%s' && '%s' verify '%s/tests/specs/variants.lua' --tuned slow --threshold 200 "
                       "--min-time 0.01 --json slow.json > slow.out 2> slow.err",
                       tmp, bin, root),
                   1);
  assert_int_equal(run("grep -q 'DRIFT: slower than shipped' '%s/slow.out'", tmp), 0);
  /* A machine 10x slower today than when shipped: winner and baselines alike, not drift. */
  assert_int_equal(run("cp -r '%s/tv' '%s/load'", tmp, tmp), 0);
  snprintf(path, sizeof path, "%s/load", tmp);
  doctor_all(path, 0.1, NULL, true);
  assert_int_equal(run("cd '%s' && '%s' verify '%s/tests/specs/variants.lua' --tuned load --threshold 200 "
                       "--min-time 0.01 --json load.json > load.out 2> load.err",
                       tmp, bin, root),
                   0);
  assert_int_equal(run("grep -q '0 drifts' '%s/load.out'", tmp), 0);
  /* Absent from tuned/: the nearest machine's winners are verified, their figures not compared
   * (the 10x edit is not drift there); --strict refuses.  The threshold is wide for the reason
   * above: the baseline rule still applies to a 30 ns winner. */
  assert_int_equal(run("cp -r '%s/slow' '%s/near'", tmp, tmp), 0);
  snprintf(path, sizeof path, "%s/near", tmp);
  doctor(path, 1.0, "zz-near-machine");
  assert_int_equal(run("cd '%s' && '%s' verify '%s/tests/specs/variants.lua' --tuned near --threshold 200 "
                       "--min-time 0.01 --json near.json > near.out 2> near.err",
                       tmp, bin, root),
                   0);
  assert_int_equal(run("grep -q 'winners: nearest of zz-near-machine' '%s/near.out' && grep -q \"another machine's\" "
                       "'%s/near.out'",
                       tmp, tmp),
                   0);
  assert_int_equal(run("cd '%s' && '%s' verify '%s/tests/specs/variants.lua' --tuned near --strict --min-time 0.01 "
                       "> /dev/null 2> strict.err",
                       tmp, bin, root),
                   1);
  assert_int_equal(run("grep -q 'no tuned result for this machine' '%s/strict.err'", tmp), 0);
  /* Usage errors: a bad threshold, --site without exactly one SPEC, a site file of another kernel. */
  assert_int_equal(run("'%s' verify --threshold -1 > /dev/null 2>&1", bin), 2);
  assert_int_equal(run("'%s' verify --site x.json > /dev/null 2>&1", bin), 2);
  assert_int_equal(
      run("cd '%s' && '%s' verify '%s/tests/specs/variants.lua' --site \"$(ls '%s/tuned/paired_cache/'*.json "
          "| head -n1)\" > /dev/null 2> site.err",
          tmp, bin, root, root),
      2);
  assert_int_equal(run("grep -q 'not of' '%s/site.err'", tmp), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_rules_slower),   cmocka_unit_test(test_rules_load),  cmocka_unit_test(test_rules_baseline),
      cmocka_unit_test(test_rules_accuracy), cmocka_unit_test(test_rules_fails), cmocka_unit_test(test_verify_cli),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
