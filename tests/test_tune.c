/*
 * test_tune.c - `kgen tune` end to end on small test specs (tests/specs/): variants that fail to
 * compile, crash, hang, abort or compute wrong results are recorded with their reason and never
 * win; a run where everything fails exits 1 and leaves the output untouched; kill -9 in the
 * middle of a run and --resume loses nothing and measures nothing twice.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#define KG_TEST_NAME "tune"
#include "kg_cli_test.h"
#include <jansson.h>
#include <sqlite3.h>

static void test_bad_variants_are_data(void **state) {
  (void)state;
  char out[512], db[600], csv[600];
  snprintf(out, sizeof out, "%s/out1", tmp);
  snprintf(db, sizeof db, "%s/v.db", tmp);
  snprintf(csv, sizeof csv, "%s/v.csv", tmp);
  int rc = run("'%s' tune '%s/tests/specs/variants.lua' --out '%s' --db '%s' --csv '%s' "
               "--min-time 0.01 --timeout 2 --cutoff 0 --quiet > '%s/log1' 2>&1",
               bin, root, out, db, csv, tmp);
  assert_int_equal(rc, 0);
  /* Every failure is stored with its status and reason. */
  assert_int_equal(
      db_count(db, "variant LIKE 'mode=broken%' AND status='compile error' AND reason LIKE 'mode=broken%error:%'"), 4);
  assert_int_equal(db_count(db, "variant LIKE 'mode=segv%' AND status='crashed' AND reason LIKE 'SIGSEGV%'"), 4);
  assert_int_equal(db_count(db, "variant LIKE 'mode=hang%' AND status='timed out'"), 4);
  assert_int_equal(db_count(db, "variant LIKE 'mode=wrong%' AND status='wrong result' AND reason LIKE 'y[7]%'"), 4);
  assert_int_equal(db_count(db, "variant LIKE 'mode=abort%' AND status='crashed' AND reason LIKE 'SIGABRT%'"), 4);
  assert_int_equal(db_count(db, "status='ok' AND variant LIKE 'mode=%'"), 8);
  assert_int_equal(db_count(db, "variant='baseline:plain' AND status='ok'"), 2);
  assert_int_equal(db_count(db, "variant='final:baseline:plain' AND status='ok'"), 2);

  json_t *r = load_report(out, "variants");
  assert_non_null(r);
  assert_int_equal(json_integer_value(json_object_get(r, "schema")), 1);
  json_t *probs = json_object_get(r, "problems");
  assert_int_equal(json_array_size(probs), 2);
  for (size_t i = 0; i < 2; i++) {
    json_t *p = json_array_get(probs, i);
    const char *mode =
        json_string_value(json_object_get(json_object_get(json_object_get(p, "winner"), "params"), "mode"));
    assert_non_null(mode);
    assert_true(strcmp(mode, "ok") == 0 || strcmp(mode, "unrolled") == 0);
    assert_int_equal(json_integer_value(json_object_get(p, "evaluated")), 14);
    assert_int_equal(json_integer_value(json_object_get(p, "failed")), 10);
    assert_true(json_real_value(json_object_get(p, "speedup")) > 0);
    assert_true(json_real_value(json_object_get(json_object_get(p, "winner"), "p50_ns")) > 0);
  }
  json_decref(r);
  /* The winner's source is standalone and opens with its banner. */
  assert_int_equal(run("ls %s/variants/*/small.c > /dev/null", out), 0);
  assert_int_equal(run("gcc -std=c17 -fsyntax-only %s/variants/*/small.c", out), 0);
  /* CSV: a header and one row per variant and baseline per problem. */
  assert_int_equal(run("test $(wc -l < '%s') -eq 31", csv), 0);
}

static void test_all_fail_leaves_output_untouched(void **state) {
  (void)state;
  char out[512];
  snprintf(out, sizeof out, "%s/out2", tmp);
  assert_int_equal(run("mkdir -p '%s' && echo keep > '%s/marker'", out, out), 0);
  int rc = run("'%s' tune '%s/tests/specs/all_fail.lua' --out '%s' --db '%s/f.db' --min-time 0.01 "
               "--timeout 2 --quiet > '%s/log2' 2>&1",
               bin, root, out, tmp, tmp);
  assert_int_equal(rc, 1);
  assert_int_equal(run("test \"$(ls -A '%s')\" = marker", out), 0);
  assert_int_equal(run("grep -q 'no variant of all_fail passed' '%s/log2'", tmp), 0);
}

/* A baseline that timed out is not measured again in the final rounds (it would spend the timeout
 * again in every round); the finalists still are. */
static void test_timed_out_baseline_measured_once(void **state) {
  (void)state;
  char out[512], log[600];
  snprintf(out, sizeof out, "%s/out_hang", tmp);
  snprintf(log, sizeof log, "%s/hang.log", tmp);
  int rc = run("KG_TEST_HANG_LOG='%s' '%s' tune '%s/tests/specs/hang_baseline.lua' --out '%s' --db '%s/h.db' "
               "--min-time 0.01 --timeout 1 --rounds 3 --quiet > '%s/log_hang' 2>&1",
               log, bin, root, out, tmp, tmp);
  assert_int_equal(rc, 0);
  assert_int_equal(run("test $(grep -c start '%s') -eq 1", log), 0);
  char db[600];
  snprintf(db, sizeof db, "%s/h.db", tmp);
  assert_int_equal(db_count(db, "variant='final:baseline:hang' AND status='timed out'"), 1);
  assert_int_equal(db_count(db, "variant='final:baseline:plain' AND status='ok'"), 1);
  json_t *r = load_report(out, "hang_baseline");
  assert_non_null(r);
  json_t *w = json_object_get(json_array_get(json_object_get(r, "problems"), 0), "winner");
  assert_int_equal(json_integer_value(json_object_get(w, "rounds")), 3);
  json_decref(r);
}

static void test_usage_errors(void **state) {
  (void)state;
  assert_int_equal(run("'%s' frobnicate > /dev/null 2>&1", bin), 2);
  assert_int_equal(run("'%s' tune --no-such-option x > /dev/null 2>&1", bin), 2);
  assert_int_equal(run("'%s' tune '%s/tests/specs/variants.lua' --problem nope --quiet > /dev/null 2>&1", bin, root),
                   2);
  assert_int_equal(run("'%s' emit '%s/tests/specs/variants.lua' --set nope=1 > /dev/null 2>&1", bin, root), 2);
  assert_int_equal(run("'%s' emit '%s/tests/specs/variants.lua' --set pad=7 2> '%s/log3' > /dev/null", bin, root, tmp),
                   2);
  /* the message names the bad value and lists the allowed ones */
  assert_int_equal(run("grep -qF 'pad=7 is not in the space (allowed values: 0, 1)' '%s/log3'", tmp), 0);
  assert_int_equal(run("'%s' --help | grep -q 'kgen tune\\|tune SPEC'", bin), 0);
}

static void test_kill_and_resume(void **state) {
  (void)state;
  char out[512], db[600];
  snprintf(out, sizeof out, "%s/out3", tmp);
  snprintf(db, sizeof db, "%s/k.db", tmp);
  /* Start a run of 40 variants, kill -9 it once some are stored. */
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    char spec[4096];
    snprintf(spec, sizeof spec, "%s/tests/specs/many.lua", root);
    freopen("/dev/null", "w", stderr);
    execl(bin, bin, "tune", spec, "--out", out, "--db", db, "--min-time", "0.05", "--cutoff", "0", "--quiet",
          (char *)NULL);
    _exit(127);
  }
  long before = 0;
  /* Up to 5 minutes: on a loaded machine the first rows come late (compiling 40 variants). */
  for (int i = 0; i < 6000 && before < 8; i++) {
    usleep(50000);
    before = db_count(db, "status='ok'");
  }
  kill(pid, SIGKILL);
  int wst;
  waitpid(pid, &wst, 0);
  before = db_count(db, "variant NOT LIKE 'final:%'");
  assert_true(before >= 8 && before < 40);
  /* Snapshot what was measured, to compare after the resume. */
  char snap[600];
  snprintf(snap, sizeof snap, "%s/snap.db", tmp);
  assert_int_equal(run("cp '%s' '%s' && (cp '%s-wal' '%s-wal' 2>/dev/null; true)", db, snap, db, snap), 0);
  int rc = run("'%s' tune '%s/tests/specs/many.lua' --out '%s' --db '%s' --min-time 0.05 --cutoff 0 --resume --quiet "
               "> /dev/null 2>&1",
               bin, root, out, db);
  assert_int_equal(rc, 0);
  assert_int_equal(db_count(db, "variant NOT LIKE 'final:%'"), 40);
  /* The eight fastest were measured again side by side in the final rounds (default 8). */
  assert_int_equal(db_count(db, "variant LIKE 'final:mode=%' AND status='ok'"), 8);
  /* Every row stored before the kill is unchanged: not lost, not measured again. */
  sqlite3 *h;
  sqlite3_stmt *s = NULL;
  char sql[1400];
  assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
  snprintf(sql, sizeof sql, "ATTACH '%s' AS old", snap);
  assert_int_equal(sqlite3_exec(h, sql, NULL, NULL, NULL), SQLITE_OK);
  assert_int_equal(
      sqlite3_prepare_v2(h,
                         "SELECT count(*) FROM old.measurements o JOIN main.measurements m "
                         "USING (problem, variant) WHERE o.variant NOT LIKE 'final:%' AND o.p50_ns IS m.p50_ns AND "
                         "o.measured_at = m.measured_at AND o.status = m.status",
                         -1, &s, NULL),
      SQLITE_OK);
  assert_int_equal(sqlite3_step(s), SQLITE_ROW);
  assert_int_equal(sqlite3_column_int64(s, 0), before);
  sqlite3_finalize(s);
  sqlite3_close(h);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_usage_errors),
      cmocka_unit_test(test_bad_variants_are_data),
      cmocka_unit_test(test_all_fail_leaves_output_untouched),
      cmocka_unit_test(test_timed_out_baseline_measured_once),
      cmocka_unit_test(test_kill_and_resume),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
