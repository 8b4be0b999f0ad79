/*
 * test_contract.c - the CLI's contract on bad input and reruns: `kgen compare` fails a report
 * that lost problems or holds invalid figures (the same exit code in BASE and NEW); `--resume`
 * measures stored failures again unless --keep-failures; a worker's memory limit turns a runaway
 * allocation into a failed variant.
 */
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

#define KG_TEST_NAME "contract"
#include "kg_cli_test.h"
#include <jansson.h>
#include <sqlite3.h>

/* Write tmp/<name> with the given JSON text. */
static void put(const char *name, const char *json) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", tmp, name);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(json, f);
  fclose(f);
}

static int compare(const char *base, const char *cur, const char *extra) {
  return run("cd '%s' && '%s' compare %s %s %s > cmp.out 2> cmp.err", tmp, bin, base, cur, extra);
}

#define PROB(name, p50) "{\"name\": \"" name "\", \"winner\": {\"p50_ns\": " p50 ", \"ci95_ns\": [" p50 ", " p50 "]}}"

static void test_compare_contract(void **state) {
  (void)state;
  put("two.json", "{\"problems\": [" PROB("a", "100") ", " PROB("b", "200") "]}");
  put("one.json", "{\"problems\": [" PROB("a", "100") "]}");
  put("none.json", "{\"problems\": []}");
  put("neg.json", "{\"problems\": [" PROB("a", "-5") ", " PROB("b", "200") "]}");
  put("zero.json", "{\"problems\": [" PROB("a", "0") ", " PROB("b", "200") "]}");
  put("str.json", "{\"problems\": [{\"name\": \"a\", \"winner\": {\"p50_ns\": \"fast\"}}]}");
  assert_int_equal(compare("two.json", "two.json", ""), 0);
  /* A report that lost problems, or has none, is no pass. */
  assert_int_equal(compare("two.json", "one.json", ""), 1);
  assert_int_equal(run("grep -q 'REGRESSION (missing in NEW)' '%s/cmp.out'", tmp), 0);
  assert_int_equal(compare("two.json", "none.json", ""), 1);
  /* A new problem is no regression. */
  assert_int_equal(compare("one.json", "two.json", ""), 0);
  /* Invalid figures: the same exit code whichever side holds them, naming the side. */
  assert_int_equal(compare("neg.json", "two.json", ""), 2);
  assert_int_equal(run("grep -q 'BASE: problem .a.: invalid timing' '%s/cmp.err'", tmp), 0);
  assert_int_equal(compare("two.json", "neg.json", ""), 2);
  assert_int_equal(run("grep -q 'NEW: problem .a.: invalid timing' '%s/cmp.err'", tmp), 0);
  assert_int_equal(compare("zero.json", "two.json", ""), 2);
  assert_int_equal(compare("two.json", "zero.json", ""), 2);
  assert_int_equal(compare("str.json", "two.json", ""), 2);
  assert_int_equal(compare("two.json", "str.json", ""), 2);
  assert_int_equal(compare("none.json", "two.json", ""), 2); /* nothing to compare */
  /* The threshold is a finite percentage. */
  assert_int_equal(compare("two.json", "two.json", "--threshold nan"), 2);
  assert_int_equal(compare("two.json", "two.json", "--threshold -1"), 2);
  assert_int_equal(compare("two.json", "two.json", "--threshold inf"), 2);
}

/* A timeout on a loaded machine is not forever: --resume measures it again (here with a longer
 * timeout, so its reason changes), --resume --keep-failures keeps it. */
static void test_resume_retries_failures(void **state) {
  (void)state;
  char db[600];
  snprintf(db, sizeof db, "%s/r.db", tmp);
  const char *common = "--problem small --rounds 0 --min-time 0.01 --cutoff 0 --quiet";
  assert_int_equal(run("cd '%s' && '%s' tune '%s/tests/specs/variants.lua' --out o --db '%s' %s --timeout 0.5 "
                       "> /dev/null 2>&1",
                       tmp, bin, root, db, common),
                   0);
  assert_int_equal(db_count(db, "variant LIKE 'mode=hang%' AND reason = 'timed out after 0.5 s'"), 2);
  assert_int_equal(run("cd '%s' && '%s' tune '%s/tests/specs/variants.lua' --out o --db '%s' %s --timeout 1 "
                       "--resume --keep-failures > /dev/null 2>&1",
                       tmp, bin, root, db, common),
                   0);
  assert_int_equal(db_count(db, "variant LIKE 'mode=hang%' AND reason = 'timed out after 0.5 s'"), 2);
  assert_int_equal(run("cd '%s' && '%s' tune '%s/tests/specs/variants.lua' --out o --db '%s' %s --timeout 1 "
                       "--resume > /dev/null 2>&1",
                       tmp, bin, root, db, common),
                   0);
  assert_int_equal(db_count(db, "variant LIKE 'mode=hang%' AND reason = 'timed out after 1 s'"), 2);
  /* what succeeded was not measured again: the ok rows are still those of the first run */
  assert_int_equal(db_count(db, "variant LIKE 'mode=ok%' AND status = 'ok'"), 2);
}

/* Past --mem-limit an allocation fails: the careless variant that then writes through NULL is
 * a crash, and the others are measured. */
static void test_memory_limit(void **state) {
  (void)state;
#ifdef KG_TEST_ASAN
  skip(); /* no RLIMIT_DATA under AddressSanitizer: its shadow memory counts as data */
#else
  char db[600];
  snprintf(db, sizeof db, "%s/m.db", tmp);
  assert_int_equal(run("cd '%s' && '%s' tune '%s/tests/specs/hostile_hog.lua' --out o2 --db '%s' --rounds 0 --cutoff 0 "
                       "--min-time 0.01 --quiet --mem-limit 256M > /dev/null 2>&1",
                       tmp, bin, root, db),
                   0);
  assert_int_equal(db_count(db, "variant = 'mode=hog' AND status = 'crashed' AND reason LIKE 'SIGSEGV%'"), 1);
  assert_int_equal(db_count(db, "variant = 'mode=ok' AND status = 'ok'"), 1);
  assert_int_equal(run("'%s' tune '%s/tests/specs/hostile_hog.lua' --mem-limit 12X > /dev/null 2>&1", bin, root), 2);
#endif
}

/* A tuned entry that lacks a parameter of the spec is refused, not measured as the template's
 * default (a variant that never won). */
static void test_bench_refuses_partial_params(void **state) {
  (void)state;
  assert_int_equal(
      run("cd '%s' && '%s' tune '%s/tests/specs/variants.lua' --out t --db t.db --problem small --timeout 2 --rounds 0 "
          "--min-time 0.01 --quiet > /dev/null 2>&1",
          tmp, bin, root),
      0);
  char cmd[1024], file[1024] = "";
  snprintf(cmd, sizeof cmd, "ls %s/t/variants/*.json | head -n1", tmp);
  FILE *f = popen(cmd, "r");
  if (f && fgets(file, sizeof file, f)) file[strcspn(file, "\n")] = 0;
  if (f) pclose(f);
  json_error_t err;
  json_t *r = json_load_file(file, 0, &err);
  assert_non_null(r);
  json_t *params =
      json_object_get(json_object_get(json_array_get(json_object_get(r, "problems"), 0), "winner"), "params");
  assert_true(json_is_object(params));
  assert_int_equal(run("cd '%s' && '%s' bench '%s/tests/specs/variants.lua' --tuned t --problem small --rounds 1 "
                       "--min-time 0.01 --quiet > /dev/null 2>&1",
                       tmp, bin, root),
                   0);
  assert_int_equal(json_object_del(params, "mode"), 0);
  assert_int_equal(json_dump_file(r, file, JSON_INDENT(2)), 0);
  json_decref(r);
  assert_int_equal(run("cd '%s' && '%s' bench '%s/tests/specs/variants.lua' --tuned t --problem small --quiet "
                       "> /dev/null 2> bench.err",
                       tmp, bin, root),
                   2);
  assert_int_equal(run("grep -q \"does not set parameter 'mode'\" '%s/bench.err'", tmp), 0);
}

/* Verification is not optional: a template without kg_verify is refused, unless the spec declares
 * verify = false with a reason, and then every report says UNVERIFIED; a template of another
 * harness ABI is refused either way. */
static void test_verification_mandatory(void **state) {
  (void)state;
  const char *o = "--rounds 0 --min-time 0.01 --cutoff 0";
  assert_int_equal(run("cd '%s' && '%s' tune '%s/tests/specs/noverify.lua' --out nv --db nv.db %s > nv.out 2> nv.err",
                       tmp, bin, root, o),
                   1);
  assert_int_equal(run("grep -q 'template does not export kg_verify' '%s/nv.err'", tmp), 0);
  assert_int_equal(run("cd '%s' && '%s' tune '%s/tests/specs/noverify_noreason.lua' --out nv --db nv.db %s "
                       "> /dev/null 2> nr.err",
                       tmp, bin, root, o),
                   2);
  assert_int_equal(run("grep -q 'noverify_noreason.lua:2: verify = false needs verify_reason' '%s/nr.err'", tmp), 0);
  assert_int_equal(run("cd '%s' && '%s' tune '%s/tests/specs/noverify_optout.lua' --out nv --db nv.db %s > no.out "
                       "2> no.err",
                       tmp, bin, root, o),
                   0);
  assert_int_equal(run("grep -q 'UNVERIFIED' '%s/no.out'", tmp), 0);
  assert_int_equal(run("grep -q 'old_abi=1: template error: template speaks harness ABI 99' '%s/no.err'", tmp), 0);
  /* no ABI declaration at all (kgen defines kg_abi_version itself: no fallback to the process) */
  assert_int_equal(run("cd '%s' && '%s' tune '%s/tests/specs/noabi.lua' --out nv --db nv.db %s > /dev/null 2> na.err",
                       tmp, bin, root, o),
                   1);
  assert_int_equal(run("grep -q 'does not declare its harness ABI' '%s/na.err'", tmp), 0);
  char cmd[1024], file[1024] = "";
  snprintf(cmd, sizeof cmd, "ls %s/nv/noverify_optout/*.json | head -n1", tmp);
  FILE *f = popen(cmd, "r");
  if (f && fgets(file, sizeof file, f)) file[strcspn(file, "\n")] = 0;
  if (f) pclose(f);
  json_error_t err;
  json_t *r = json_load_file(file, 0, &err);
  assert_non_null(r);
  assert_true(json_is_false(json_object_get(r, "verified")));
  assert_non_null(strstr(json_string_value(json_object_get(r, "unverified")), "UNVERIFIED"));
  json_decref(r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_compare_contract),       cmocka_unit_test(test_resume_retries_failures),
      cmocka_unit_test(test_memory_limit),           cmocka_unit_test(test_bench_refuses_partial_params),
      cmocka_unit_test(test_verification_mandatory),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
