/*
 * test_search_tune.c - `kgen tune --strategy <guided>` end to end on small test specs: the budget
 * is never exceeded, no variant is measured twice, failing variants are data and never win, the
 * report names the strategy, and an unknown strategy is a usage error.
 */
#include <glob.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <sqlite3.h>

static char root[2048], bin[2048], tmp[256];

static int run(const char *fmt, ...) {
  char cmd[8192];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(cmd, sizeof cmd, fmt, ap);
  va_end(ap);
  int st = system(cmd);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int setup(void **state) {
  (void)state;
  const char *r = getenv("KGEN_ROOT"), *b = getenv("KGEN_BIN");
  snprintf(root, sizeof root, "%s", r ? r : ".");
  snprintf(bin, sizeof bin, "%s", b ? b : "build/kgen");
  snprintf(tmp, sizeof tmp, "/tmp/kgen-test-search-tune-XXXXXX");
  return mkdtemp(tmp) ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  return run("rm -rf '%s'", tmp) == 0 ? 0 : -1;
}

static long db_long(const char *db, const char *sql) {
  sqlite3 *h = NULL;
  sqlite3_stmt *q = NULL;
  long v = -1;
  if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
      sqlite3_prepare_v2(h, sql, -1, &q, NULL) == SQLITE_OK && sqlite3_step(q) == SQLITE_ROW)
    v = sqlite3_column_int64(q, 0);
  sqlite3_finalize(q);
  sqlite3_close(h);
  return v;
}

/* the autotune JSON under tmp/sub (the one *.json there), or NULL */
static json_t *load_report(const char *sub) {
  char pat[600];
  snprintf(pat, sizeof pat, "%s/%s/*.json", tmp, sub);
  glob_t g;
  if (glob(pat, 0, NULL, &g) != 0) return NULL;
  json_error_t err;
  json_t *doc = g.gl_pathc == 1 ? json_load_file(g.gl_pathv[0], 0, &err) : NULL;
  globfree(&g);
  return doc;
}

static const char search_rows[] =
    "FROM measurements WHERE variant NOT LIKE 'final:%' AND variant NOT LIKE 'baseline:%'";

static void test_budget(void **state) {
  (void)state;
  const char *names[] = {"knn", "bandit", "ga", "anneal", "ils"};
  for (int k = 0; k < 5; k++) {
    char db[400], sql[256];
    snprintf(db, sizeof db, "%s/%s.db", tmp, names[k]);
    assert_int_equal(run("'%s' tune '%s/tests/specs/many.lua' --strategy %s --budget 9 --out '%s/out-%s' --db '%s' "
                         "--min-time 0.005 --timeout 2 --rounds 1 --quiet > /dev/null 2>&1",
                         bin, root, names[k], tmp, names[k], db),
                     0);
    snprintf(sql, sizeof sql, "SELECT count(*) %s", search_rows);
    assert_int_equal(db_long(db, sql), 9); /* the budget, exactly: the space holds 40 */
    snprintf(sql, sizeof sql, "SELECT count(DISTINCT variant) %s", search_rows);
    assert_int_equal(db_long(db, sql), 9); /* none measured twice */
  }
  /* the report names the strategy and the budget */
  json_t *doc = load_report("out-knn/many");
  assert_non_null(doc);
  assert_string_equal(json_string_value(json_object_get(doc, "strategy")), "knn");
  assert_int_equal(json_integer_value(json_object_get(doc, "budget")), 9);
  json_decref(doc);
}

/* the whole of a space with failing variants: every variant once, the winner one that passed */
static void test_failures_are_data(void **state) {
  (void)state;
  char db[400];
  snprintf(db, sizeof db, "%s/rt.db", tmp);
  assert_int_equal(run("'%s' tune '%s/tests/specs/replay_rt.lua' --strategy ga --budget 100 --out '%s/out-rt' "
                       "--db '%s' --min-time 0.005 --timeout 2 --rounds 1 --quiet > /dev/null 2>&1",
                       bin, root, tmp, db),
                   0);
  char sql[256];
  snprintf(sql, sizeof sql, "SELECT count(DISTINCT variant) %s", search_rows);
  assert_int_equal(db_long(db, sql), 14); /* the budget is capped at the space */
  snprintf(sql, sizeof sql, "SELECT count(*) %s AND status != 'ok'", search_rows);
  assert_true(db_long(db, sql) >= 6);
  json_t *doc = load_report("out-rt/replay_rt");
  assert_non_null(doc);
  const char *mode = json_string_value(
      json_object_get(json_object_get(json_object_get(json_array_get(json_object_get(doc, "problems"), 0), "winner"),
                                      "params"),
                      "mode"));
  assert_non_null(mode);
  assert_true(!strcmp(mode, "ok") || !strcmp(mode, "unrolled"));
  json_decref(doc);
}

static void test_unknown_strategy(void **state) {
  (void)state;
  assert_int_equal(run("'%s' tune '%s/tests/specs/many.lua' --strategy hillclimb --quiet > /dev/null 2>&1", bin, root),
                   2);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_budget),
      cmocka_unit_test(test_failures_are_data),
      cmocka_unit_test(test_unknown_strategy),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
