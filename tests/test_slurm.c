/*
 * test_slurm.c - sharded tuning through a real Slurm (label slow): tests/slurm/slurm-fixture.sh
 * starts munged, slurmctld and slurmd (Debian's slurm-wlm) as a one-node cluster on localhost,
 * scripts/slurm/tune-array.sh submits a 4-shard job array of tests/specs/variants.lua and the
 * dependent merge job; the merged result must match a single-process run of the same spec (the
 * same winner or a tie), and a failing array must keep the merge from running.  The services are
 * stopped at the end.  Skipped, saying why, only where the packages are missing or root is not
 * available (scripts/setup.sh installs them in CI).
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

#define KG_TEST_NAME "slurm"
#include "kg_cli_test.h"
#include "kg_shard_test.h"

#define OPTS "--min-time 0.01 --timeout 1 --cutoff 0 --quiet"

static char cluster[512];
static bool started;

static int start_cluster(void **state) {
  if (setup(state)) return -1;
  int rc = run("'%s/tests/slurm/slurm-fixture.sh' check", root);
  if (rc == 77) return 0; /* the test says why and skips */
  snprintf(cluster, sizeof cluster, "%s/cluster", tmp);
  if (run("'%s/tests/slurm/slurm-fixture.sh' start '%s' > '%s/fixture.log' 2>&1", root, cluster, tmp)) {
    run("cat '%s/fixture.log'", tmp);
    return -1;
  }
  started = true;
  char conf[700];
  snprintf(conf, sizeof conf, "%s/slurm.conf", cluster);
  setenv("SLURM_CONF", conf, 1);
  return 0;
}

static int stop_cluster(void **state) {
  if (started) run("'%s/tests/slurm/slurm-fixture.sh' stop '%s'", root, cluster);
  return teardown(state);
}

/* The first number in the output of a shell command; -1 when none. */
static long number_of(const char *cmd) {
  FILE *f = popen(cmd, "r");
  long v = -1;
  if (f && fscanf(f, "%ld", &v) != 1) v = -1;
  if (f) pclose(f);
  return v;
}

/* Wait (at most limit_s) until jobs a and b have left the queue. */
static void wait_jobs(long a, long b, int limit_s) {
  char cmd[256];
  snprintf(cmd, sizeof cmd, "squeue -h -j %ld,%ld 2>/dev/null | wc -l", a, b);
  for (int i = 0; i < limit_s * 2 && number_of(cmd) > 0; i++) usleep(500000);
  assert_int_equal(number_of(cmd), 0);
}

/* Submit tune-array.sh with extra tune options; the array's and the merge's job ids. */
static void submit(const char *out, const char *extra, long *array, long *merge) {
  char log[700], cmd[1400];
  snprintf(log, sizeof log, "%s/submit.log", tmp);
  assert_int_equal(run("'%s/scripts/slurm/tune-array.sh' '%s/tests/specs/variants.lua' -n 4 --constraint kgentest "
                       "--kgen '%s' --out '%s' -- %s > '%s' 2>&1",
                       root, root, bin, out, extra, log),
                   0);
  snprintf(cmd, sizeof cmd, "sed -n 's/^array \\([0-9]*\\):.*/\\1/p' '%s'", log);
  *array = number_of(cmd);
  snprintf(cmd, sizeof cmd, "sed -n 's/^merge \\([0-9]*\\) after.*/\\1/p' '%s'", log);
  *merge = number_of(cmd);
  assert_true(*array > 0 && *merge > 0);
}

static bool job_state(long id, const char *want) {
  return run("scontrol show job %ld | grep -q 'JobState=%s '", id, want) == 0;
}

static void test_array_and_merge(void **state) {
  (void)state;
  if (!started) {
    run("'%s/tests/slurm/slurm-fixture.sh' check", root);
    skip(); /* the fixture printed why (packages missing, no root) */
  }
  char out[600], single[600];
  snprintf(out, sizeof out, "%s/out", tmp);
  snprintf(single, sizeof single, "%s/single", tmp);
  long array, merge;
  submit(out, OPTS, &array, &merge);
  wait_jobs(array, merge, 600);
  if (!job_state(merge, "COMPLETED")) run("cat '%s'/slurm/variants/*.log; scontrol show job %ld", out, merge);
  assert_true(job_state(merge, "COMPLETED"));
  /* every shard finished and measured its part: 14 variants x 2 problems once */
  long sum = 0;
  for (int i = 0; i < 4; i++) {
    char db[800];
    snprintf(db, sizeof db, "%s/slurm/variants/shard-%d-of-4.db", out, i);
    assert_int_equal((long)db_value(db, "SELECT done FROM shards"), 1);
    long n = db_count(db, "variant NOT LIKE 'baseline:%'");
    assert_true(n == 7);
    sum += n;
  }
  assert_int_equal(sum, 28);

  /* the same spec in one process */
  assert_int_equal(
      run("'%s' tune '%s/tests/specs/variants.lua' --out '%s' " OPTS " > /dev/null 2>&1", bin, root, single), 0);
  json_t *a = load_report(single, "variants"), *b = load_report(out, "variants");
  assert_non_null(a);
  assert_non_null(b);
  json_t *pa = json_object_get(a, "problems"), *pb = json_object_get(b, "problems");
  assert_int_equal(json_array_size(pa), json_array_size(pb));
  for (size_t i = 0; i < json_array_size(pa); i++) {
    json_t *x = json_array_get(pa, i), *y = json_array_get(pb, i);
    assert_int_equal(json_integer_value(json_object_get(x, "failed")),
                     json_integer_value(json_object_get(y, "failed")));
    assert_true(same_or_tie(a, b, i));
  }
  json_decref(a);
  json_decref(b);

  /* shards that fail keep the merge from running (afterok): nothing written */
  char bad[600];
  snprintf(bad, sizeof bad, "%s/bad", tmp);
  submit(bad, "--no-such-option", &array, &merge);
  wait_jobs(array, merge, 120);
  assert_false(job_state(merge, "COMPLETED"));
  assert_int_equal(run("test ! -e '%s/variants/'*.json", bad), 0);
  assert_int_equal(run("grep -q 'no-such-option' '%s/slurm/variants/shard-0-of-4.log'", bad), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_array_and_merge)};
  return cmocka_run_group_tests(tests, start_cluster, stop_cluster);
}
