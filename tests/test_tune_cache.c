/*
 * test_tune_cache.c - `kgen tune --cache FILE`: a Kernel Tuner cache file (kgen export-cache's)
 * read as already-measured points: none of them is measured again, the rest are, guided searches
 * spend their budget on the rest only, the summary counts them, and bad files are refused.  The
 * summary also counts censored variants (early cut-off) apart from failed ones.
 * tests/specs/replay_rt.lua: 14 points, of which some fail to compile, crash or are wrong.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#define KG_TEST_NAME "tune-cache"
#include "kg_cli_test.h"

static const char search_rows[] =
    "SELECT count(*) FROM measurements WHERE variant NOT LIKE 'final:%' AND variant NOT LIKE 'baseline:%'";

/* The count query sql on tmp/db. */
static long count(const char *db, const char *sql) {
  char p[600];
  snprintf(p, sizeof p, "%s/%s", tmp, db);
  return (long)db_value(p, sql);
}

static const char opts[] = "--min-time 0.02 --rounds 1 --cutoff 0";

/* A full tune, exported: the cache every test below starts from (tmp/full.json, 14 entries). */
static void make_cache(void) {
  static bool done;
  if (done) return;
  assert_int_equal(run("'%s' tune '%s/tests/specs/replay_rt.lua' %s --out '%s/o0' --db '%s/full.db' > /dev/null 2>&1",
                       bin, root, opts, tmp, tmp),
                   0);
  assert_int_equal(count(("full.db"), search_rows), 14);
  assert_int_equal(run("'%s' export-cache '%s/tests/specs/replay_rt.lua' --problem small --db '%s/full.db' -o "
                       "'%s/full.json' 2> /dev/null",
                       bin, root, tmp, tmp),
                   0);
  done = true;
}

/* Write tmp/name: full.json with only the entries keep() accepts, and `problem` set to problem
 * (NULL: removed).  Returns how many entries it kept. */
static size_t write_cache(const char *name, bool (*keep)(json_t *e), const char *problem) {
  char in[512], out[512];
  snprintf(in, sizeof in, "%s/full.json", tmp);
  snprintf(out, sizeof out, "%s/%s", tmp, name);
  json_error_t err;
  json_t *doc = json_load_file(in, 0, &err);
  assert_non_null(doc);
  json_t *cache = json_object_get(doc, "cache");
  const char *k;
  json_t *e, *tmpv;
  size_t n = 0;
  json_object_foreach_safe(cache, tmpv, k, e) {
    if (keep && !keep(e)) json_object_del(cache, k);
    else n++;
  }
  if (problem) json_object_set_new(doc, "problem", json_string(problem));
  else json_object_del(doc, "problem");
  assert_int_equal(json_dump_file(doc, out, 0), 0);
  json_decref(doc);
  return n;
}

static bool not_unrolled(json_t *e) { return strcmp(json_string_value(json_object_get(e, "mode")), "unrolled") != 0; }
static bool only_ok(json_t *e) { return strcmp(json_string_value(json_object_get(e, "mode")), "ok") == 0; }

/* Exhaustive: every cached point is skipped, every other one measured once; the winner is a
 * passing variant; the summary says how many came from the cache. */
static void test_exhaustive(void **state) {
  (void)state;
  make_cache();
  /* the whole space cached: no search measurement at all, the final rounds still run */
  write_cache("all.json", NULL, "small");
  assert_int_equal(run("'%s' tune '%s/tests/specs/replay_rt.lua' %s --cache '%s/all.json' --out '%s/o1' --db "
                       "'%s/all.db' > '%s/all.txt' 2>&1",
                       bin, root, opts, tmp, tmp, tmp, tmp),
                   0);
  assert_int_equal(count(("all.db"), search_rows), 0);
  assert_true(count(("all.db"), "SELECT count(*) FROM measurements WHERE variant LIKE 'final:%'") >= 1);
  assert_int_equal(run("grep -q '14 read from --cache' '%s/all.txt'", tmp), 0);
  /* part of it: the 2 'unrolled' points (pad 0, 1) are measured, the 12 others are not */
  size_t n = write_cache("part.json", not_unrolled, "small");
  assert_int_equal(n, 12);
  assert_int_equal(run("'%s' tune '%s/tests/specs/replay_rt.lua' %s --cache '%s/part.json' --out '%s/o2' --db "
                       "'%s/part.db' > '%s/part.txt' 2>&1",
                       bin, root, opts, tmp, tmp, tmp, tmp),
                   0);
  assert_int_equal(count(("part.db"), search_rows), 2);
  assert_int_equal(count(("part.db"), "SELECT count(*) FROM measurements WHERE variant LIKE 'mode=unrolled%'"), 2);
  assert_int_equal(run("grep -q '12 read from --cache' '%s/part.txt'", tmp), 0);
  char dir[400];
  snprintf(dir, sizeof dir, "%s/o2", tmp);
  json_t *doc = load_report(dir, "replay_rt");
  assert_non_null(doc);
  const char *mode = json_string_value(json_object_get(
      json_object_get(json_object_get(json_array_get(json_object_get(doc, "problems"), 0), "winner"), "params"),
      "mode"));
  assert_non_null(mode);
  assert_true(strcmp(mode, "ok") == 0 || strcmp(mode, "unrolled") == 0); /* a passing variant */
  json_decref(doc);
}

/* Guided: the budget pays for measured points only, and no cached point is measured. */
static void test_guided(void **state) {
  (void)state;
  make_cache();
  write_cache("ok.json", only_ok, "small"); /* mode=ok, pad 0..2: 3 points */
  assert_int_equal(run("'%s' tune '%s/tests/specs/replay_rt.lua' %s --strategy knn --budget 4 --cache '%s/ok.json' "
                       "--out '%s/o3' --db '%s/knn.db' > /dev/null 2>&1",
                       bin, root, opts, tmp, tmp, tmp),
                   0);
  assert_int_equal(count(("knn.db"), search_rows), 4);
  assert_int_equal(count(("knn.db"), "SELECT count(*) FROM measurements WHERE variant LIKE 'mode=ok,%' AND "
                                     "variant NOT LIKE 'final:%'"),
                   0);
}

/* A cache of another problem, one without `problem` (fine: one problem is tuned), an entry without
 * one of the spec's parameters, a missing file. */
static void test_bad(void **state) {
  (void)state;
  make_cache();
  write_cache("other.json", only_ok, "nosuch");
  assert_int_equal(run("'%s' tune '%s/tests/specs/replay_rt.lua' %s --cache '%s/other.json' --out '%s/o4' "
                       "> '%s/other.txt' 2>&1",
                       bin, root, opts, tmp, tmp, tmp),
                   2);
  assert_int_equal(run("grep -q \"problem 'nosuch' is not a problem of spec 'replay_rt'\" '%s/other.txt'", tmp), 0);
  write_cache("noprob.json", only_ok, NULL);
  assert_int_equal(run("'%s' tune '%s/tests/specs/replay_rt.lua' %s --cache '%s/noprob.json' --out '%s/o5' --db "
                       "'%s/noprob.db' > /dev/null 2>&1",
                       bin, root, opts, tmp, tmp, tmp),
                   0);
  assert_int_equal(count(("noprob.db"), search_rows), 11);
  assert_int_equal(run("sed 's/\"pad\"/\"padding\"/g' '%s/ok.json' > '%s/nopad.json' 2>/dev/null || "
                       "sed 's/\"pad\"/\"padding\"/g' '%s/noprob.json' > '%s/nopad.json'",
                       tmp, tmp, tmp, tmp),
                   0);
  assert_int_equal(run("'%s' tune '%s/tests/specs/replay_rt.lua' %s --cache '%s/nopad.json' --out '%s/o6' "
                       "> '%s/nopad.txt' 2>&1",
                       bin, root, opts, tmp, tmp, tmp),
                   2);
  assert_int_equal(run("grep -q \"lacks parameter 'pad'\" '%s/nopad.txt'", tmp), 0);
  assert_int_equal(run("'%s' tune '%s/tests/specs/replay_rt.lua' %s --cache '%s/none.json' --out '%s/o7' "
                       "> /dev/null 2>&1",
                       bin, root, opts, tmp, tmp),
                   1);
}

/* The summary counts censored variants apart from failed ones (tests/specs/cutoff.lua: variants
 * a hundred times slower than the fast ones, no failure). */
static void test_summary_censored(void **state) {
  (void)state;
  assert_int_equal(run("'%s' tune '%s/tests/specs/cutoff.lua' --cutoff 2 --min-time 0.02 --rounds 1 --out '%s/o8' "
                       "--db '%s/cut.db' > '%s/cut.txt' 2> /dev/null",
                       bin, root, tmp, tmp, tmp),
                   0);
  long censored = count("cut.db", "SELECT count(*) FROM measurements WHERE status = 'censored'");
  assert_true(censored >= 1);
  char cmd[800];
  snprintf(cmd, sizeof cmd,
           "grep -q '; 0 failed measurements (compile errors, crashes, timeouts, wrong results); %ld censored by the "
           "early cut-off' '%s/cut.txt'",
           censored, tmp);
  assert_int_equal(run("%s", cmd), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_exhaustive),
      cmocka_unit_test(test_guided),
      cmocka_unit_test(test_bad),
      cmocka_unit_test(test_summary_censored),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
