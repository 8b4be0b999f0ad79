/*
 * test_isolation.c - variants cannot fool the harness through the state they share
 * (tests/specs/hostile.lua): one that shrinks the problem after a right first call is failed
 * and does not speed up the variants and baselines measured after it; one that widens the
 * tolerance in the state does not let a wrong variant pass; a variant that forks a sleeper and
 * crashes is a crash (not a timeout) and leaves no process behind; one that damages the heap is
 * failed though its results are right.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#define KG_TEST_NAME "isolation"
#include "kg_cli_test.h"
#include <jansson.h>
#include <sqlite3.h>

/* Prints every measurement row (variant, status, reason): what a failed check saw. */
static void dump_rows(const char *db) {
  sqlite3 *h;
  sqlite3_stmt *st = NULL;
  if (sqlite3_open(db, &h) != SQLITE_OK) return;
  if (sqlite3_prepare_v2(h, "SELECT variant, status, reason FROM measurements", -1, &st, NULL) == SQLITE_OK)
    while (sqlite3_step(st) == SQLITE_ROW)
      print_message("  %s: %s (%s)\n", (const char *)sqlite3_column_text(st, 0),
                    (const char *)sqlite3_column_text(st, 1), (const char *)sqlite3_column_text(st, 2));
  sqlite3_finalize(st);
  sqlite3_close(h);
}

/* Exactly one measurement row matches where; else the rows are printed and the test fails. */
#define expect_one(db, where)                                    \
  do {                                                           \
    long n_ = db_count(db, where);                               \
    if (n_ != 1) {                                               \
      dump_rows(db);                                             \
      fail_msg("%ld rows (expected 1) where %s", n_, where);     \
    }                                                            \
  } while (0)

static void test_hostile_variants(void **state) {
  (void)state;
  char out[512], db[600];
  snprintf(out, sizeof out, "%s/out", tmp);
  snprintf(db, sizeof db, "%s/h.db", tmp);
  /* Several seeds: the measuring order is shuffled, so the hostile variants come before and
   * after the honest ones. */
  for (int seed = 1; seed <= 3; seed++) {
    int rc = run("'%s' tune '%s/tests/specs/hostile.lua' --out '%s' --db '%s' --seed %d --min-time 0.02 --cutoff 0 "
                 "--timeout 30 --quiet > '%s/log' 2>&1",
                 bin, root, out, db, seed, tmp);
    if (rc != 0) {
      run("cat '%s/log'", tmp);
      fail_msg("kgen tune exited %d", rc);
    }
    /* The shrinking variant is caught by the second verification... */
    expect_one(db, "variant = 'mode=shrink' AND status = 'wrong result' AND reason LIKE 'wrong after it was timed%'");
    /* ...and the widened tolerance does not reach the wrong variant. */
    expect_one(db, "variant = 'mode=sloppy' AND status = 'wrong result'");
    expect_one(db, "variant = 'mode=loosen' AND status = 'ok'");
    /* The forking crash is a crash, seen as soon as it happens. */
    expect_one(db, "variant = 'mode=forkcrash' AND status = 'crashed' AND reason LIKE 'SIGSEGV%'");
    /* The heap-damaging variant fails when glibc's allocator frees the damaged block.  (Under ASan
     * the allocator is ASan's, whose chunk headers differ, and the JIT'd variant is not
     * instrumented: nothing sees the damage, so there is nothing to check.) */
#ifndef KG_TEST_ASAN
    expect_one(db, "variant = 'mode=heap' AND status = 'crashed' AND reason LIKE 'died after its "
                                  "measurement%'");
#endif
    /* Nobody ran on a shrunk problem: 65536 elements take microseconds, a shrunk one a few ns.
     * (A bound three orders of magnitude below the real figure, not a timing assertion.) */
    double fastest = db_value(db, "SELECT min(p50_ns) FROM measurements WHERE status = 'ok'");
    if (!(fastest > 500)) fail_msg("a measurement of %g ns: something ran on a shrunk problem", fastest);
    /* The sleeper the crashing variant forked did not outlive the run. */
    /* "[/]tmp...": the pattern must not match the shell that runs pgrep */
    assert_int_equal(run("pgrep -f '[%c]%s' > /dev/null", out[0], out + 1), 1);
    json_error_t err;
    char path[700];
    snprintf(path, sizeof path, "%s/hostile", out);
    char cmd[1024], file[1024] = "";
    snprintf(cmd, sizeof cmd, "ls %s/*.json | head -n1", path);
    FILE *f = popen(cmd, "r");
    if (f && fgets(file, sizeof file, f)) file[strcspn(file, "\n")] = 0;
    if (f) pclose(f);
    json_t *r = json_load_file(file, 0, &err);
    assert_non_null(r);
    const char *mode = json_string_value(json_object_get(
        json_object_get(json_object_get(json_array_get(json_object_get(r, "problems"), 0), "winner"), "params"),
        "mode"));
    assert_non_null(mode);
    /* the winner computes right; under ASan the heap variant does too, as far as anything can see */
    bool right = !strcmp(mode, "ok") || !strcmp(mode, "loosen");
#ifdef KG_TEST_ASAN
    right = right || !strcmp(mode, "heap");
#endif
    if (!right) fail_msg("winner: mode=%s", mode);
    json_decref(r);
    run("rm -rf '%s' '%s'", out, db);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_hostile_variants, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
