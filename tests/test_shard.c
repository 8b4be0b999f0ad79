/*
 * test_shard.c - sharded tuning (kg_shard.h): `kgen tune --shard I/N` measures disjoint parts that
 * cover the run and differ in size by at most one; `kgen merge` refuses shards of different specs,
 * a missing or unfinished shard (unless --allow-partial, which merges the rest and says so), and
 * otherwise gives the winner a single run gives (the same or a tie); `kgen fleet status` tells a
 * current result from a stale one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define KG_TEST_NAME "shard"
#include "kg_cli_test.h"
#include "kg_shard_test.h"
#include "kg_shard.h"

#define OPTS "--min-time 0.01 --timeout 1 --cutoff 0 --quiet"

/* The single value of sql run on db with the databases at[0..nat) attached as s0, s1, ... */
static double query(const char *db, const char *const *at, int nat, const char *sql) {
  sqlite3 *h;
  sqlite3_stmt *s = NULL;
  double v = -1;
  if (sqlite3_open(db, &h) != SQLITE_OK) return -1;
  for (int i = 0; i < nat; i++) {
    char a[4400];
    snprintf(a, sizeof a, "ATTACH '%s' AS s%d", at[i], i);
    if (sqlite3_exec(h, a, NULL, NULL, NULL) != SQLITE_OK) goto done;
  }
  if (sqlite3_prepare_v2(h, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
    v = sqlite3_column_double(s, 0);
done:
  sqlite3_finalize(s);
  sqlite3_close(h);
  return v;
}

/* The split itself: for many sizes, every pair in exactly one shard, shards contiguous in
 * point-major order, sizes differing by at most one. */
static void test_split_balanced(void **state) {
  (void)state;
  long sizes[] = {1, 2, 3, 7, 14, 40, 1000};
  int nps[] = {1, 2, 3, 5}, counts[] = {1, 2, 3, 4, 8, 64};
  for (size_t a = 0; a < sizeof sizes / sizeof *sizes; a++)
    for (size_t b = 0; b < sizeof nps / sizeof *nps; b++)
      for (size_t c = 0; c < sizeof counts / sizeof *counts; c++) {
        long nsel = sizes[a];
        int np = nps[b], n = counts[c];
        long per[64] = {0};
        int last = 0;
        for (long pos = 0; pos < nsel; pos++)
          for (int p = 0; p < np; p++) {
            int k = kg_shard_of(pos, p, nsel, np, n);
            assert_true(k >= 0 && k < (n > 1 ? n : 1));
            assert_true(k >= last); /* contiguous: never back to an earlier shard */
            last = k;
            per[k]++;
          }
        long lo = per[0], hi = per[0], sum = 0;
        for (int k = 0; k < (n > 1 ? n : 1); k++) {
          lo = per[k] < lo ? per[k] : lo;
          hi = per[k] > hi ? per[k] : hi;
          sum += per[k];
        }
        assert_int_equal(sum, nsel * np);
        assert_true(hi - lo <= 1);
      }
  int i, n;
  kg_ctx ctx = {0};
  assert_int_equal(kg_shard_parse("2/4", &i, &n, &ctx), KG_OK);
  assert_int_equal(i * 10 + n, 24);
  assert_int_equal(kg_shard_parse("4/4", &i, &n, &ctx), KG_EINVAL);
  assert_non_null(strstr(kg_ctx_message(&ctx), "--shard 4/4"));
  assert_int_equal(kg_shard_parse("-1/2", &i, &n, &ctx), KG_EINVAL);
  assert_int_equal(kg_shard_parse("1", &i, &n, &ctx), KG_EINVAL);
  assert_int_equal(kg_shard_parse("1/2x", &i, &n, &ctx), KG_EINVAL);
}

static char sh[3][700]; /* the three shard databases of variants.lua */

/* Shards of tests/specs/variants.lua (14 variants x 2 problems: 28 pairs) are disjoint, cover the
 * single run's pairs, and differ in size by at most one; merged, the winner is the single run's. */
static void test_shards_cover_and_merge(void **state) {
  (void)state;
  char single[600], db1[700];
  snprintf(single, sizeof single, "%s/single", tmp);
  snprintf(db1, sizeof db1, "%s/single.db", tmp);
  assert_int_equal(run("'%s' tune '%s/tests/specs/variants.lua' --out '%s' --db '%s' " OPTS " > '%s/single.log' 2>&1",
                       bin, root, single, db1, tmp),
                   0);
  for (int i = 0; i < 3; i++) {
    assert_int_equal(run("'%s' tune '%s/tests/specs/variants.lua' --shard %d/3 --out '%s/sh' " OPTS " > '%s/sh%d.log' "
                         "2>&1",
                         bin, root, i, tmp, tmp, i),
                     0);
    snprintf(sh[i], sizeof sh[i], "%s/sh/variants/shards/", tmp);
    FILE *f;
    char cmd[2200], name[400] = "";
    snprintf(cmd, sizeof cmd, "ls '%s' | grep -- '-%d-of-3.db$'", sh[i], i);
    assert_non_null(f = popen(cmd, "r"));
    assert_non_null(fgets(name, sizeof name, f));
    pclose(f);
    name[strcspn(name, "\n")] = 0;
    strncat(sh[i], name, sizeof sh[i] - strlen(sh[i]) - 1);
    /* a shard runs no final rounds, and records that it finished */
    assert_int_equal(db_count(sh[i], "variant LIKE 'final:%'"), 0);
    assert_int_equal((long)db_value(sh[i], "SELECT done FROM shards"), 1);
    assert_int_equal((long)db_value(sh[i], "SELECT shard * 10 + shards FROM shards"), i * 10 + 3);
  }
  /* partial reports next to the databases */
  assert_int_equal(run("test $(ls '%s/sh/variants/shards/' | grep -c 'of-3.json$') -eq 3", tmp), 0);
  const char *at[3] = {sh[0], sh[1], sh[2]};
  const char *pairs = "(SELECT problem, variant FROM s%d.measurements WHERE variant NOT LIKE '%%baseline:%%')";
  char sql[2048];
  long per[3], sum = 0;
  for (int i = 0; i < 3; i++) {
    char q[512];
    snprintf(q, sizeof q, pairs, i);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", q);
    per[i] = (long)query(db1, at, 3, sql);
    sum += per[i];
  }
  assert_int_equal(sum, 28); /* 14 x 2, each pair once: disjoint and ... */
  for (int i = 0; i < 3; i++) assert_true(per[i] == 9 || per[i] == 10);
  /* ... covering: the union is exactly the single run's search pairs */
  snprintf(sql, sizeof sql,
           "SELECT count(*) FROM (SELECT problem, variant FROM s0.measurements UNION SELECT problem, variant FROM "
           "s1.measurements UNION SELECT problem, variant FROM s2.measurements) u WHERE variant NOT LIKE "
           "'%%baseline:%%' AND (problem, variant) IN (SELECT problem, variant FROM main.measurements)");
  assert_int_equal((long)query(db1, at, 3, sql), 28);
  assert_int_equal(db_count(db1, "variant NOT LIKE 'final:%' AND variant NOT LIKE 'baseline:%'"), 28);

  /* merge: nothing of the search measured again, the final rounds run here */
  char merged[600];
  snprintf(merged, sizeof merged, "%s/merged", tmp);
  assert_int_equal(run("'%s' merge '%s' '%s' '%s' --out '%s' --min-time 0.01 --timeout 1 --quiet > '%s/merge.log' "
                       "2>&1",
                       bin, sh[2], sh[0], sh[1], merged, tmp),
                   0);
  json_t *a = load_report(single, "variants"), *b = load_report(merged, "variants");
  assert_non_null(a);
  assert_non_null(b);
  assert_string_equal(json_string_value(json_object_get(a, "spec_hash")),
                      json_string_value(json_object_get(b, "spec_hash")));
  json_t *pa = json_object_get(a, "problems"), *pb = json_object_get(b, "problems");
  assert_int_equal(json_array_size(pa), 2);
  assert_int_equal(json_array_size(pb), 2);
  for (size_t i = 0; i < 2; i++) {
    json_t *x = json_array_get(pa, i), *y = json_array_get(pb, i);
    assert_int_equal(json_integer_value(json_object_get(x, "evaluated")),
                     json_integer_value(json_object_get(y, "evaluated")));
    assert_int_equal(json_integer_value(json_object_get(x, "failed")),
                     json_integer_value(json_object_get(y, "failed")));
    assert_true(same_or_tie(a, b, i));
  }
  char mid[200];
  snprintf(mid, sizeof mid, "%s", json_string_value(json_object_get(json_object_get(b, "machine"), "id")));
  assert_true(mid[0] != 0 && strcmp(mid, "(null)") != 0);
  json_decref(a);
  json_decref(b);
  char mdb2[700];
  snprintf(mdb2, sizeof mdb2, "%s/variants/*.db", merged);
  /* the merged database: the 28 search rows as the shards stored them, and final rounds */
  FILE *f;
  char cmd[1024], path[900] = "";
  snprintf(cmd, sizeof cmd, "ls %s", mdb2);
  assert_non_null(f = popen(cmd, "r"));
  assert_non_null(fgets(path, sizeof path, f));
  pclose(f);
  path[strcspn(path, "\n")] = 0;
  assert_int_equal(db_count(path, "variant NOT LIKE 'final:%' AND variant NOT LIKE 'baseline:%'"), 28);
  assert_true(db_count(path, "variant LIKE 'final:mode=%' AND status='ok'") >= 2);
  snprintf(sql, sizeof sql,
           "SELECT count(*) FROM main.measurements m JOIN (SELECT * FROM s0.measurements UNION ALL SELECT * FROM "
           "s1.measurements UNION ALL SELECT * FROM s2.measurements) s USING (problem, variant) WHERE m.variant NOT "
           "LIKE 'baseline:%%' AND m.measured_at = s.measured_at AND m.status = s.status AND "
           "(m.p50_ns IS s.p50_ns)");
  assert_int_equal((long)query(path, at, 3, sql), 28);

  /* fleet status: the merged result is current; with its spec hash changed it is stale */
  assert_int_equal(run("'%s' fleet status '%s/tests/specs/variants.lua' --tuned '%s' > '%s/fleet1' 2>&1 && "
                       "grep -q ' current$' '%s/fleet1' && grep -q -- '%s' '%s/fleet1'",
                       bin, root, merged, tmp, tmp, mid, tmp),
                   0);
  assert_int_equal(run("sed -i 's/\"spec_hash\": \"[0-9a-f]*\"/\"spec_hash\": \"0000000000000001\"/' "
                       "%s/variants/*.json && '%s' fleet status '%s/tests/specs/variants.lua' --tuned '%s' > "
                       "'%s/fleet2' 2>&1 && grep -q 'STALE: spec changed' '%s/fleet2'",
                       merged, bin, root, merged, tmp, tmp),
                   0);
  assert_int_equal(
      run("'%s' fleet status '%s/tests/specs/many.lua' --tuned '%s' | grep -q 'no results'", bin, root, merged), 0);
}

/* A missing or unfinished shard is refused with the shard named; --allow-partial merges the rest,
 * says so and measures none of the missing pairs; shards of another spec are refused. */
static void test_merge_refuses(void **state) {
  (void)state;
  assert_true(sh[0][0] && sh[1][0] && sh[2][0]); /* test_shards_cover_and_merge ran first */
  char log[600];
  snprintf(log, sizeof log, "%s/refuse.log", tmp);
  /* missing */
  assert_int_equal(run("'%s' merge '%s' '%s' --out '%s/m1' --quiet > '%s' 2>&1", bin, sh[0], sh[2], tmp, log), 1);
  assert_int_equal(run("grep -q 'shard 1/3: no database given' '%s' && grep -q 'refused' '%s'", log, log), 0);
  assert_int_equal(run("test ! -e '%s/m1/variants/'*.json", tmp), 0);
  /* unfinished: a shard killed before its end keeps done = 0 (kg_cli_shard.c marks it first) */
  char copy[700];
  snprintf(copy, sizeof copy, "%s/killed-1-of-3.db", tmp);
  assert_int_equal(run("cp '%s' '%s'", sh[1], copy), 0);
  sqlite3 *h;
  assert_int_equal(sqlite3_open(copy, &h), SQLITE_OK);
  assert_int_equal(sqlite3_exec(h, "UPDATE shards SET done = 0", NULL, NULL, NULL), SQLITE_OK);
  sqlite3_close(h);
  assert_int_equal(
      run("'%s' merge '%s' '%s' '%s' --out '%s/m2' --quiet > '%s' 2>&1", bin, sh[0], copy, sh[2], tmp, log), 1);
  assert_int_equal(run("grep -q 'shard 1/3 (%s) did not finish' '%s'", copy, log), 0);
  /* --allow-partial: shards 0 and 2 only, said so, nothing of shard 1 measured */
  assert_int_equal(run("'%s' merge '%s' '%s' '%s' --out '%s/m3' --db '%s/m3.db' --allow-partial --min-time 0.01 "
                       "--timeout 1 --quiet > '%s' 2>&1",
                       bin, sh[0], copy, sh[2], tmp, tmp, log),
                   0);
  assert_int_equal(run("grep -q 'PARTIAL merge of variants: 2 of 3 shards' '%s'", log), 0);
  char m3[600];
  snprintf(m3, sizeof m3, "%s/m3.db", tmp);
  long want = db_count(sh[0], "variant NOT LIKE 'baseline:%'") + db_count(sh[2], "variant NOT LIKE 'baseline:%'");
  assert_int_equal(db_count(m3, "variant NOT LIKE 'final:%' AND variant NOT LIKE 'baseline:%'"), want);
  assert_true(want < 28);
  /* another spec (the same with one line more) as shard 1/3 */
  assert_int_equal(run("mkdir -p '%s/other' && cd '%s' && cp tests/specs/variants.lua tests/specs/variants.c "
                       "templates/kg_util.h templates/kg_abi.h '%s/other/' && cd '%s/other' && "
                       "sed -i 's|\"../../templates/kg_util.h\"|\"kg_util.h\"|' variants.c && "
                       "echo '-- edited' >> variants.lua",
                       tmp, root, tmp, tmp),
                   0);
  assert_int_equal(run("'%s' tune '%s/other/variants.lua' --shard 1/3 --out '%s/other/out' --db '%s/other/s1.db' " OPTS
                       " > /dev/null 2>&1",
                       bin, tmp, tmp, tmp),
                   0);
  assert_int_equal(
      run("'%s' merge '%s' '%s/other/s1.db' '%s' --out '%s/m4' --quiet > '%s' 2>&1", bin, sh[0], tmp, sh[2], tmp, log),
      2);
  assert_int_equal(run("grep -q '%s/other/s1.db differs from .*: spec hash [0-9a-f]* vs [0-9a-f]* (a different or "
                       "edited spec); not a shard of the same run, refused' '%s'",
                       tmp, log),
                   0);
  /* the other spec's shard itself measured correct variants: the refusal is about the hashes */
  char other[600];
  snprintf(other, sizeof other, "%s/other/s1.db", tmp);
  assert_true(db_count(other, "status='ok'") > 0);
  /* the spec given to the merge is not the one the shards tuned (edited since) */
  assert_int_equal(run("'%s' merge '%s' --allow-partial --spec '%s/tests/specs/variants.lua' --out '%s/m6' > '%s' 2>&1",
                       bin, other, root, tmp, log),
                   2);
  assert_int_equal(run("grep -q 'variants.lua: kernel variants, spec hash .* changed since; refused' '%s'", log), 0);
  /* shards of another machine class: the final rounds would compare across machines */
  char alien[700];
  snprintf(alien, sizeof alien, "%s/alien-0-of-3.db", tmp);
  assert_int_equal(run("cp '%s' '%s'", sh[0], alien), 0);
  assert_int_equal(sqlite3_open(alien, &h), SQLITE_OK);
  assert_int_equal(sqlite3_exec(h, "UPDATE shards SET machine_id = 'testclass-none-0c-00000000'", NULL, NULL, NULL),
                   SQLITE_OK);
  sqlite3_close(h);
  assert_int_equal(run("'%s' merge '%s' --allow-partial --out '%s/m7' > '%s' 2>&1", bin, alien, tmp, log), 2);
  assert_int_equal(run("grep -q 'alien-0-of-3.db: tuned on machine class testclass-none-0c-00000000; this machine is "
                       ".*refused' '%s'",
                       log),
                   0);
  /* not a shard database at all */
  assert_int_equal(run("'%s' merge '%s/single.db' --out '%s/m5' > '%s' 2>&1", bin, tmp, tmp, log), 2);
  assert_int_equal(run("grep -q 'single.db: not a shard database' '%s'", log), 0);
  /* guided strategies choose as they go: they cannot be split */
  assert_int_equal(run("'%s' tune '%s/tests/specs/variants.lua' --shard 0/2 --strategy knn --out '%s/g' " OPTS
                       " > '%s' 2>&1",
                       bin, root, tmp, log),
                   2);
  assert_int_equal(run("grep -q 'knn chooses each next variant' '%s'", log), 0);
}

/* scripts/slurm/tune-array.sh --dry-run: the array covers shards 0..N-1 with the node constraint,
 * the merge depends on it (afterok) and names every shard's database; bad input is refused. */
static void test_slurm_script_dry_run(void **state) {
  (void)state;
  char out[600];
  snprintf(out, sizeof out, "%s/dry", tmp);
  const char *script = "scripts/slurm/tune-array.sh";
  assert_int_equal(run("cd '%s' && %s tests/specs/variants.lua -n 4 --constraint zen5 --kgen '%s' --out '%s' "
                       "--dry-run -- --min-time 0.01 --strategy random > '%s/dry.txt'",
                       root, script, bin, out, tmp),
                   0);
  /* line 1: the array; line 2: the merge */
  assert_int_equal(run("sed -n 1p '%s/dry.txt' > '%s/l1' && sed -n 2p '%s/dry.txt' > '%s/l2'", tmp, tmp, tmp, tmp), 0);
  const char *l1[] = {"--array=0-3",           "--constraint=zen5", "--exclusive",
                      "SLURM_ARRAY_TASK_ID/4", "--resume",          "strategy\\ random"};
  for (size_t i = 0; i < sizeof l1 / sizeof *l1; i++) assert_int_equal(run("grep -qF -- '%s' '%s/l1'", l1[i], tmp), 0);
  const char *l2[] = {"--dependency=afterok:", "--constraint=zen5", "shard-0-of-4.db", "shard-3-of-4.db",
                      "min-time\\ 0.01"};
  for (size_t i = 0; i < sizeof l2 / sizeof *l2; i++) assert_int_equal(run("grep -qF -- '%s' '%s/l2'", l2[i], tmp), 0);
  assert_int_equal(run("grep -qF strategy '%s/l2'", tmp), 1); /* the merge takes the shards' strategy */
  assert_int_equal(
      run("cd '%s' && %s tests/specs/variants.lua -n 0 --kgen '%s' --dry-run 2> '%s/dry.err'", root, script, bin, tmp),
      2);
  assert_int_equal(run("grep -q 'positive number of shards' '%s/dry.err'", tmp), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_split_balanced),
      cmocka_unit_test(test_slurm_script_dry_run),
      cmocka_unit_test(test_shards_cover_and_merge),
      cmocka_unit_test(test_merge_refuses),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
