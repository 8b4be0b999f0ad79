/*
 * test_replay.c - the replay backend (gen/search/kg_replay.h) on small cache files in tests/data/:
 * failed configurations are in the space and never chosen, missing ones are not in the space,
 * gzip and plain files read the same, bad files are refused with the entry named, random search's
 * exact figures match a brute-force count, `kgen replay --json` writes the documented keys, and
 * tune -> export-cache -> replay round-trips (tests/specs/replay_rt.lua).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <cmocka.h>
#include <jansson.h>
#include <sqlite3.h>

#include "kg_replay.h"

static char root[2048], bin[2048], path[4096];

static const char *data(const char *name) {
  snprintf(path, sizeof path, "%s/tests/data/%s", root, name);
  return path;
}

static int setup(void **state) {
  (void)state;
  const char *r = getenv("KGEN_ROOT"), *b = getenv("KGEN_BIN");
  snprintf(root, sizeof root, "%s", r ? r : ".");
  snprintf(bin, sizeof bin, "%s", b ? b : "build/kgen");
  return 0;
}

/* replay_tiny.json: x in {1,2,3,4}, y in {a,b,c}, z in {0,1}: 24 raw configurations, 5 missing
 * (x=4,y=c and x=1,z=1), 3 failed, optimum 10.0 at (3,a,0), the only one within 3%. */
static void test_load_tiny(void **state) {
  (void)state;
  kg_replay *r = NULL;
  kg_ctx ctx = {0};
  assert_int_equal(kg_replay_load(data("replay_tiny.json"), &r, &ctx), KG_OK);
  assert_string_equal(r->name, "replay_tiny");
  assert_int_equal(r->ndims, 3);
  assert_string_equal(r->param_names[1], "y");
  assert_int_equal(r->sp->npoints, 19);
  assert_int_equal(r->nfailed, 3);
  assert_true(r->optimum == 10.0);
  assert_int_equal(r->ngood, 1);
  int32_t opt[3] = {2, 0, 0}, missing[3] = {3, 2, 0}, missing2[3] = {0, 1, 1}, failed[3] = {1, 0, 0};
  long i = kg_search_space_find(r->sp, opt);
  assert_true(i >= 0);
  assert_true(r->time[i] == 10.0);
  assert_int_equal(r->nsamples[i], 3);
  assert_int_equal(kg_search_space_find(r->sp, missing), -1);
  assert_int_equal(kg_search_space_find(r->sp, missing2), -1);
  i = kg_search_space_find(r->sp, failed);
  assert_true(i >= 0);
  assert_true(isinf(r->time[i]));
  kg_replay_free(r);
}

/* Every strategy over the whole tiny space: R runs all end at the optimum; failed configurations
 * cost an evaluation (the budget = the space size is exactly enough), a budget beyond the space is
 * the space. */
static void test_run_tiny(void **state) {
  (void)state;
  kg_replay *r = NULL;
  kg_ctx ctx = {0};
  assert_int_equal(kg_replay_load(data("replay_tiny.json"), &r, &ctx), KG_OK);
  const char *const *names = kg_search_strategies();
  for (int k = 0; names[k]; k++) {
    kg_replay_opts o = {.strategy = names[k], .runs = 20, .seed = 3};
    kg_replay_budget b[3] = {{.budget = 19, .pct = 100}, {.budget = 1000, .pct = NAN}, {.budget = 1, .pct = NAN}};
    assert_int_equal(kg_replay_run(r, &o, b, 3, &ctx), KG_OK);
    assert_true(b[0].p == 1.0);
    assert_int_equal(b[1].budget, 19);
    assert_true(b[1].p == 1.0);
    assert_true(b[0].p90 >= 1 && b[0].p90 <= 19);
    assert_true(b[0].random_p == 1.0);
    assert_true(fabs(b[2].random_p - 1.0 / 19) < 1e-12);
    if (!strcmp(names[k], "random")) assert_true(b[2].p <= 0.3); /* 1 of 19: ~5% of the runs */
  }
  /* noise: the quality is judged on the stored times, the choice on the noisy ones */
  kg_replay_opts o = {.strategy = "random", .runs = 50, .seed = 1, .noise = KG_NOISE_LOGNORMAL, .noise_spread = 0.5};
  kg_replay_budget b[1] = {{.budget = 19, .pct = 100}};
  assert_int_equal(kg_replay_run(r, &o, b, 1, &ctx), KG_OK);
  assert_true(b[0].p < 1.0); /* a 50% spread hides the 5% gap to the runner-up in some runs */
  assert_true(b[0].p > 0.0);
  o.noise = KG_NOISE_RESAMPLE;
  assert_int_equal(kg_replay_run(r, &o, b, 1, &ctx), KG_OK);
  assert_true(b[0].p == 1.0); /* samples within 1%: the optimum stays ahead */
  o.strategy = "nosuch";
  assert_int_equal(kg_replay_run(r, &o, b, 1, &ctx), KG_EINVAL);
  kg_replay_free(r);
}

static void test_gzip(void **state) {
  (void)state;
  char tmp[] = "/tmp/kgen-test-replay-XXXXXX";
  assert_non_null(mkdtemp(tmp));
  char gz[256];
  snprintf(gz, sizeof gz, "%s/tiny.json.gz", tmp);
  FILE *in = fopen(data("replay_tiny.json"), "rb");
  assert_non_null(in);
  gzFile out = gzopen(gz, "wb");
  assert_non_null(out);
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, in)) > 0) assert_int_equal(gzwrite(out, buf, (unsigned)n), (int)n);
  fclose(in);
  gzclose(out);
  kg_replay *a = NULL, *b = NULL;
  kg_ctx ctx = {0};
  assert_int_equal(kg_replay_load(gz, &a, &ctx), KG_OK);
  assert_int_equal(kg_replay_load(data("replay_tiny.json"), &b, &ctx), KG_OK);
  assert_string_equal(a->name, "tiny");
  assert_int_equal(a->sp->npoints, b->sp->npoints);
  assert_memory_equal(a->sp->codes, b->sp->codes, sizeof *a->sp->codes * a->sp->npoints);
  assert_memory_equal(a->time, b->time, sizeof *a->time * a->sp->npoints);
  kg_replay_free(a);
  kg_replay_free(b);
  unlink(gz);
  rmdir(tmp);
}

static void test_bad_files(void **state) {
  (void)state;
  kg_replay *r = NULL;
  kg_ctx ctx = {0};
  assert_int_equal(kg_replay_load(data("replay_badvalue.json"), &r, &ctx), KG_EINVAL);
  assert_null(r);
  assert_non_null(strstr(ctx.msg, "replay_badvalue.json"));
  assert_non_null(strstr(ctx.msg, "\"2,a,1\""));
  assert_int_equal(kg_replay_load(data("replay_allfailed.json"), &r, &ctx), KG_EINVAL);
  assert_non_null(strstr(ctx.msg, "failed"));
  assert_int_equal(kg_replay_load(data("no_such_file.json"), &r, &ctx), KG_EIO);
  assert_non_null(strstr(ctx.msg, "no_such_file.json"));
  assert_int_equal(kg_replay_load(data("../test_replay.c"), &r, &ctx), KG_EIO); /* not JSON */
}

/* random search's exact figure against a brute-force count of all b-subsets of n points */
static void test_random_exact(void **state) {
  (void)state;
  for (size_t n = 1; n <= 12; n++)
    for (size_t good = 0; good <= n; good++)
      for (size_t b = 0; b <= n; b++) {
        long hit = 0, all = 0;
        for (unsigned mask = 0; mask < (1u << n); mask++) {
          if ((size_t)__builtin_popcount(mask) != b) continue;
          all++;
          hit += (mask & ((1u << good) - 1)) != 0; /* the good points are the first `good` */
        }
        double want = (double)hit / (double)all;
        assert_true(fabs(kg_replay_random_p(n, good, b) - want) < 1e-12);
      }
}

static void test_wilson(void **state) {
  (void)state;
  double lo, hi;
  kg_replay_wilson(5, 10, &lo, &hi); /* the textbook value: [0.2366, 0.7634] */
  assert_true(fabs(lo - 0.2366) < 1e-4 && fabs(hi - 0.7634) < 1e-4);
  kg_replay_wilson(100, 100, &lo, &hi);
  assert_true(fabs(lo - 0.9630) < 1e-4 && hi == 1.0);
  kg_replay_wilson(0, 100, &lo, &hi);
  assert_true(lo < 1e-12 && fabs(hi - 0.0370) < 1e-4);
}

static int run(const char *fmt, ...) {
  char cmd[8192];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(cmd, sizeof cmd, fmt, ap);
  va_end(ap);
  int st = system(cmd);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_cli(void **state) {
  (void)state;
  char out[] = "/tmp/kgen-test-replay-XXXXXX";
  int fd = mkstemp(out);
  assert_true(fd >= 0);
  close(fd);
  json_error_t err;
  json_t *doc;
  /* --batch B: batches asked together; the JSON says so */
  assert_int_equal(run("%s replay %s --runs 10 --batch 4 --json %s > /dev/null", bin, data("replay_tiny.json"), out),
                   0);
  doc = json_load_file(out, 0, &err);
  assert_non_null(doc);
  assert_int_equal(json_integer_value(json_object_get(doc, "batch")), 4);
  json_decref(doc);
  assert_int_equal(run("%s replay %s --batch 0 > /dev/null 2>&1", bin, data("replay_tiny.json")), 2);
  assert_int_equal(run("%s replay %s --runs 10 --json %s > /dev/null", bin, data("replay_tiny.json"), out), 0);
  doc = json_load_file(out, 0, &err);
  assert_non_null(doc);
  const char *keys[] = {"space", "size", "optimum", "strategy", "runs", "budgets"};
  assert_int_equal(json_object_size(doc), 6);
  for (int k = 0; k < 6; k++) assert_non_null(json_object_get(doc, keys[k]));
  assert_string_equal(json_string_value(json_object_get(doc, "strategy")), KG_SEARCH_DEFAULT);
  assert_int_equal(json_integer_value(json_object_get(doc, "size")), 19);
  json_t *budgets = json_object_get(doc, "budgets");
  assert_int_equal(json_array_size(budgets), 8);
  const char *bkeys[] = {"budget",
                         "budget_pct",
                         "p_within_3pct",
                         "ci95",
                         "evals_to_3pct_p50",
                         "evals_to_3pct_p90",
                         "random_p_within_3pct"};
  size_t i;
  json_t *b;
  json_array_foreach(budgets, i, b) {
    assert_int_equal(json_object_size(b), 7);
    for (int k = 0; k < 7; k++) assert_non_null(json_object_get(b, bkeys[k]));
    assert_true(json_is_null(json_object_get(b, "budget_pct")) == (i >= 5));
    assert_int_equal(json_array_size(json_object_get(b, "ci95")), 2);
  }
  /* 1% of 19 rounds to 0: the smallest budget is one evaluation, the exact random figure 1/19 */
  json_t *first = json_array_get(budgets, 0);
  assert_int_equal(json_integer_value(json_object_get(first, "budget")), 1);
  assert_true(fabs(json_real_value(json_object_get(first, "random_p_within_3pct")) - 1.0 / 19) < 1e-6);
  json_decref(doc);
  /* --strategy all: one report per strategy */
  assert_int_equal(run("%s replay %s --runs 3 --budget 5 --strategy all --noise 0.1 --json %s > /dev/null", bin,
                       data("replay_tiny.json"), out),
                   0);
  doc = json_load_file(out, 0, &err);
  assert_non_null(doc);
  assert_true(json_array_size(doc) >= 7);
  json_t *one = json_array_get(json_object_get(json_array_get(doc, 0), "budgets"), 0);
  assert_int_equal(json_integer_value(json_object_get(one, "budget")), 5);
  assert_true(json_is_null(json_object_get(one, "budget_pct"))); /* an absolute budget */
  json_decref(doc);
  unlink(out);
  assert_int_equal(run("%s replay %s --strategy nosuch 2> /dev/null > /dev/null", bin, data("replay_tiny.json")), 2);
  assert_int_equal(run("%s replay %s --runs 0 2> /dev/null", bin, data("replay_tiny.json")), 2);
  assert_int_equal(run("%s replay %s 2> /dev/null", bin, data("replay_badvalue.json")), 2);
  assert_int_equal(run("%s replay 2> /dev/null", bin), 2);
}

/* tune a small space with failing variants, export it, replay it: the same configurations, the
 * same medians, the excluded configuration absent, the failed ones failed. */
static void test_export_roundtrip(void **state) {
  (void)state;
  char tmp[] = "/tmp/kgen-test-export-XXXXXX";
  assert_non_null(mkdtemp(tmp));
  char spec[2400];
  snprintf(spec, sizeof spec, "%s/tests/specs/replay_rt.lua", root);
  assert_int_equal(run("'%s' tune '%s' --out '%s/out' --db '%s/t.db' --min-time 0.01 --timeout 2 --rounds 0 "
                       "--quiet > '%s/log' 2>&1",
                       bin, spec, tmp, tmp, tmp),
                   0);
  assert_int_equal(
      run("'%s' export-cache '%s' --problem small --db '%s/t.db' -o '%s/rt.json.gz' 2> /dev/null", bin, spec, tmp, tmp),
      0);
  char gz[300];
  snprintf(gz, sizeof gz, "%s/rt.json.gz", tmp);
  kg_replay *r = NULL;
  kg_ctx ctx = {0};
  assert_int_equal(kg_replay_load(gz, &r, &ctx), KG_OK);
  assert_int_equal(r->ndims, 2);
  assert_string_equal(r->param_names[0], "mode");
  assert_int_equal(r->sp->npoints, 14); /* 5 x 3 less the one the constraint excludes */
  int32_t excluded[2] = {1, 2};         /* mode=unrolled, pad=2 */
  assert_int_equal(kg_search_space_find(r->sp, excluded), -1);
  /* every database row is in the file with its median (ms) or as failed */
  char dbp[300];
  snprintf(dbp, sizeof dbp, "%s/t.db", tmp);
  sqlite3 *db = NULL;
  assert_int_equal(sqlite3_open_v2(dbp, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
  sqlite3_stmt *q = NULL;
  assert_int_equal(sqlite3_prepare_v2(db,
                                      "SELECT variant, status_code, p50_ns FROM measurements WHERE problem = 'small'"
                                      " AND variant NOT LIKE 'baseline:%' AND variant NOT LIKE 'final:%'",
                                      -1, &q, NULL),
                   SQLITE_OK);
  const char *modes[] = {"ok", "unrolled", "broken", "segv", "wrong"};
  size_t rows = 0, failed = 0;
  double best = INFINITY;
  while (sqlite3_step(q) == SQLITE_ROW) {
    char mode[32];
    int pad;
    assert_int_equal(sscanf((const char *)sqlite3_column_text(q, 0), "mode=%31[^,],pad=%d", mode, &pad), 2);
    int32_t pt[2] = {-1, (int32_t)pad};
    for (int m = 0; m < 5; m++)
      if (!strcmp(mode, modes[m])) pt[0] = m;
    long i = kg_search_space_find(r->sp, pt);
    assert_true(i >= 0);
    rows++;
    if (sqlite3_column_int(q, 1) != 0) {
      failed++;
      assert_true(isinf(r->time[i]));
    } else {
      double ms = sqlite3_column_double(q, 2) / 1e6;
      assert_true(fabs(r->time[i] - ms) <= 1e-9 * ms);
      best = fmin(best, ms);
    }
  }
  sqlite3_finalize(q);
  sqlite3_close(db);
  assert_int_equal(rows, 14);
  assert_int_equal(r->nfailed, failed);
  assert_true(failed >= 6); /* broken (3) fail to compile, segv (3) crash, wrong (3) fail to verify */
  assert_true(fabs(r->optimum - best) <= 1e-9 * best);
  kg_replay_free(r);
  /* the exported space replays: exhaustive over all of it always ends at the optimum */
  assert_int_equal(
      run("'%s' replay '%s' --strategy exhaustive --budget 14 --runs 2 --json '%s/r.json' > /dev/null", bin, gz, tmp),
      0);
  char rj[300];
  snprintf(rj, sizeof rj, "%s/r.json", tmp);
  json_error_t err;
  json_t *doc = json_load_file(rj, 0, &err);
  assert_non_null(doc);
  assert_true(json_real_value(json_object_get(json_array_get(json_object_get(doc, "budgets"), 0), "p_within_3pct")) ==
              1.0);
  json_decref(doc);
  /* errors: an unknown problem is a usage error, an unreadable database a failure */
  assert_int_equal(
      run("'%s' export-cache '%s' --problem nosuch --db '%s/t.db' -o '%s/x.json' 2> /dev/null", bin, spec, tmp, tmp),
      2);
  assert_int_equal(run("'%s' export-cache '%s' --problem small --db '%s/none/t.db' -o '%s/x.json' 2> /dev/null", bin,
                       spec, tmp, tmp),
                   1);
  assert_int_equal(run("'%s' export-cache '%s' -o '%s/x.json' 2> /dev/null", bin, spec, tmp), 2);
  assert_int_equal(run("rm -rf '%s'", tmp), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_load_tiny), cmocka_unit_test(test_run_tiny),         cmocka_unit_test(test_gzip),
      cmocka_unit_test(test_bad_files), cmocka_unit_test(test_random_exact),     cmocka_unit_test(test_wilson),
      cmocka_unit_test(test_cli),       cmocka_unit_test(test_export_roundtrip),
  };
  return cmocka_run_group_tests(tests, setup, NULL);
}
