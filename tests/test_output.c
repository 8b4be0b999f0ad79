/*
 * test_output.c - what `kgen tune` writes lands whole or not at all: the report and the winners'
 * sources form one set (each source's XXH64 in the report matches the file beside it); a kill
 * before the set is swapped in leaves the old set, a kill just after leaves the new one (finished
 * by the next run, which also removes the dead runs' leftovers); an output, database or CSV path that
 * cannot be written is refused before anything is measured (exit 2); a metric that overflows
 * 64-bit integers is refused at load with file:line.
 */
#include <dirent.h>
#include <setjmp.h>
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
#include <xxhash.h>

#define KG_TEST_NAME "output"
#include "kg_cli_test.h"

static const char *const tune_opts = "--min-time 0.01 --rounds 1 --cutoff 0 --quiet";

/* kgen tune of tests/specs/outset.lua into tmp/out with extra options and environment; its exit
 * code (128 + the signal when it was killed, as the shell reports it). */
static int tune(const char *env, const char *extra) {
  return run("cd '%s' && %s '%s' tune '%s/tests/specs/outset.lua' --out out --db t.db %s %s > log 2>&1", tmp, env, bin,
             root, tune_opts, extra);
}

/* The machine folder's name: the one directory under tmp/out/outset without ".tmp." in it. */
static void machine_dir(char *mid, size_t size) {
  char kdir[600];
  snprintf(kdir, sizeof kdir, "%s/out/outset", tmp);
  DIR *d = opendir(kdir);
  assert_non_null(d);
  struct dirent *e;
  mid[0] = 0;
  while ((e = readdir(d)))
    if (e->d_type == DT_DIR && e->d_name[0] != '.' && !strstr(e->d_name, ".tmp.")) snprintf(mid, size, "%s", e->d_name);
  closedir(d);
  assert_true(mid[0]);
}

/* Entries of tmp/out/outset whose name holds ".tmp." (staging leftovers). */
static int leftovers(void) {
  char kdir[600];
  snprintf(kdir, sizeof kdir, "%s/out/outset", tmp);
  DIR *d = opendir(kdir);
  assert_non_null(d);
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d))) n += strstr(e->d_name, ".tmp.") != NULL;
  closedir(d);
  return n;
}

/* Checks that the report at report_rel (under tmp/out/outset) and the sources in the machine
 * folder form one set: every problem with a winner names a file whose XXH64 matches, and the
 * folder holds no other source.  Returns the number of problems with a winner. */
static int check_set(const char *report_rel) {
  char mid[256], path[1200];
  machine_dir(mid, sizeof mid);
  snprintf(path, sizeof path, "%s/out/outset/%s", tmp, report_rel);
  json_error_t err;
  json_t *r = json_load_file(path, 0, &err);
  if (!r) fail_msg("%s: %s", path, err.text);
  json_t *problems = json_object_get(r, "problems"), *p;
  size_t i;
  int winners = 0;
  json_array_foreach(problems, i, p) {
    if (json_is_null(json_object_get(p, "winner"))) continue;
    json_t *src = json_object_get(p, "source");
    const char *file = json_string_value(json_object_get(src, "file"));
    const char *hash = json_string_value(json_object_get(src, "xxh64"));
    assert_non_null(file);
    assert_non_null(hash);
    snprintf(path, sizeof path, "%s/out/outset/%s", tmp, file);
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("%s names %s, which does not exist", report_rel, file);
    static char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    char hex[17];
    snprintf(hex, sizeof hex, "%016llx", (unsigned long long)XXH64(buf, n, 0));
    if (strcmp(hex, hash)) fail_msg("%s: XXH64 %s, the report says %s", file, hex, hash);
    winners++;
  }
  json_decref(r);
  /* no source the report does not name */
  snprintf(path, sizeof path, "%s/out/outset/%s", tmp, mid);
  DIR *d = opendir(path);
  assert_non_null(d);
  struct dirent *e;
  int sources = 0;
  while ((e = readdir(d))) sources += strstr(e->d_name, ".c") != NULL;
  closedir(d);
  assert_int_equal(sources, winners);
  return winners;
}

static void test_output_set_survives_kills(void **state) {
  (void)state;
  char mid[256], rel[600];
  /* A complete run: two problems, two sources. */
  assert_int_equal(tune("", ""), 0);
  machine_dir(mid, sizeof mid);
  snprintf(rel, sizeof rel, "%s.json", mid);
  assert_int_equal(check_set(rel), 2);
  assert_int_equal(leftovers(), 0);

  /* Killed with the new set (one problem) staged but not swapped in: the old set stands. */
  assert_int_equal(tune("KGEN_FAULT=tune-output-staged", "--problem p1"), 128 + 9); /* the shell reports SIGKILL */
  assert_int_equal(check_set(rel), 2);
  assert_int_equal(leftovers(), 1);

  /* Killed just after the swap: the folder is the new set, its report still inside it... */
  assert_int_equal(tune("KGEN_FAULT=tune-output-swapped", "--problem p1 --resume"), 128 + 9);
  snprintf(rel, sizeof rel, "%s/.report.json", mid);
  assert_int_equal(check_set(rel), 1);

  /* ...which the next run moves into place before it measures anything, removing the dead
   * runs' staging folders: even a run then refused (an unwritable CSV path) does that. */
  assert_int_equal(run("cd '%s' && '%s' tune '%s/tests/specs/outset.lua' --out out --db t.db --csv /proc/no/x.csv "
                       "%s > log 2>&1",
                       tmp, bin, root, tune_opts),
                   2);
  assert_int_equal(leftovers(), 0);
  snprintf(rel, sizeof rel, "%s.json", mid);
  assert_int_equal(check_set(rel), 1);
  assert_int_equal(tune("", "--problem p1 --resume"), 0);
  snprintf(rel, sizeof rel, "%s.json", mid);
  assert_int_equal(check_set(rel), 1);
  assert_int_equal(leftovers(), 0);
  snprintf(rel, sizeof rel, "%s/out/outset/%s/.report.json", tmp, mid);
  assert_int_equal(access(rel, F_OK), -1);
}

/* Unwritable output, database or CSV: exit 2 before measuring, naming the path. */
static void test_preflight(void **state) {
  (void)state;
  const char *cases[][2] = {
      {"--out /proc/kgen-no", "/proc/kgen-no"},
      {"--out o2 --db /proc/kgen-no/t.db", "/proc/kgen-no"},
      {"--out o2 --csv /proc/kgen-no/t.csv", "/proc/kgen-no"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    int rc = run("cd '%s' && '%s' tune '%s/tests/specs/outset.lua' %s %s > log 2> err", tmp, bin, root, cases[i][0],
                 tune_opts);
    if (rc != 2) {
      run("cat '%s/err'", tmp);
      fail_msg("%s: exit %d, expected 2", cases[i][0], rc);
    }
    assert_int_equal(run("grep -q '%s.*nothing was measured' '%s/err'", cases[i][1], tmp), 0);
    /* nothing measured: no database rows anywhere under o2 */
    assert_int_equal(run("test -e '%s/o2/outset/'*.json", tmp), 1);
  }
}

static void test_metric_overflow(void **state) {
  (void)state;
  assert_int_equal(run("'%s' show '%s/tests/specs/metric_overflow.lua' > '%s/log' 2> '%s/err'", bin, root, tmp, tmp), 2);
  assert_int_equal(run("grep -q 'metric_overflow.lua:8: metrics.bytes overflows 64-bit integers' '%s/err'", tmp), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_output_set_survives_kills),
      cmocka_unit_test(test_preflight),
      cmocka_unit_test(test_metric_overflow),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
