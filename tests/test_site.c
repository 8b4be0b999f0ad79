/*
 * test_site.c - per-machine tuning at install (issue 12): the shipped library built from this
 * repository's tuned/ (the build's ship-install), installed into a private prefix with
 * KGEN_INSTALL_TUNE=OFF, and a program linked against it.
 * - site files: a valid one (choosing the portable variant, which the tables never choose on an
 *   AVX-512 machine) is used and kgen_explain says so; a corrupt, a truncated, a wrong-hash one,
 *   one of another kernel and one naming a variant this build lacks are each ignored with a
 *   KGEN_VERBOSE note, the shipped choice stands and the results stay right (no crash);
 * - kgen-site-tune: writes a site file (source "site", this build's hash) within a small budget
 *   that the library then uses, exports a tuned/ entry, refuses bad options; killed at several
 *   moments it leaves the previous site file whole;
 * - the install hook: KGEN_INSTALL_TUNE=OFF and DESTDIR skip it, a small KGEN_TUNE_BUDGET runs it.
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

#define KG_TEST_NAME "site"
#include "kg_cli_test.h"

static char build[2048], prefix[2400], hash[64], portable[64], portable_label[1024];

static const char app_src[] =
    "#include <kgen/kgen.h>\n#include <math.h>\n#include <stdio.h>\n#include <stdlib.h>\n"
    "int main(void) {\n  const int n = 128;\n"
    "  float *A = malloc(sizeof(float) * n * n), *B = malloc(sizeof(float) * n * n), *C = calloc(n * n, "
    "sizeof(float));\n"
    "  for (int i = 0; i < n * n; i++) A[i] = (float)((i * 7) % 13) / 13.0f, B[i] = (float)((i * 5) % 11) / 11.0f;\n"
    "  int rc = kgen_sgemm(n, n, n, 1.0f, A, n, B, n, 0.0f, C, n);\n  double err = 0;\n"
    "  for (int i = 0; i < n; i += 7)\n    for (int j = 0; j < n; j += 5) {\n      double s = 0;\n"
    "      for (int k = 0; k < n; k++) s += (double)A[i * n + k] * B[k * n + j];\n"
    "      err = fmax(err, fabs(s - C[i * n + j]) / (fabs(s) + 1));\n    }\n"
    "  char buf[4096];\n  kgen_explain(\"gemm\", buf, sizeof buf);\n"
    "  printf(\"rc %d err %s\\n%s\", rc, err < 1e-4 ? \"ok\" : \"BAD\", buf);\n  return rc != 0 || err >= 1e-4;\n}\n";

/* Install the build's library into tmp/p (no tuning) and build tmp/app against it. */
static int site_setup(void **state) {
  if (setup(state)) return -1;
  snprintf(build, sizeof build, "%s", bin);
  if (strrchr(build, '/')) *strrchr(build, '/') = 0; /* the build folder: the binary's (as test_ship) */
  else snprintf(build, sizeof build, ".");
  snprintf(prefix, sizeof prefix, "%s/p", tmp);
  if (run("KGEN_INSTALL_TUNE=OFF cmake --install '%s' --prefix '%s' > '%s/install.out' 2>&1", build, prefix, tmp))
    return -1;
  char path[4096];
  snprintf(path, sizeof path, "%s/app.c", tmp);
  FILE *f = fopen(path, "w");
  if (!f) return -1;
  fputs(app_src, f);
  fclose(f);
  if (run("cc -O1 '%s/app.c' -I'%s/include' -L'%s/lib' -lkgen -lm -Wl,-rpath,'%s/lib' -o '%s/app'", tmp, prefix, prefix,
          prefix, tmp))
    return -1;
  /* This build's hash and its portable variant (ISA 0) from the gemm manifest. */
  snprintf(path, sizeof path, "%s/share/kgen/manifest/gemm.json", prefix);
  json_error_t err;
  json_t *m = json_load_file(path, 0, &err);
  if (!m) return -1;
  snprintf(hash, sizeof hash, "%s", json_string_value(json_object_get(m, "build_hash")));
  size_t i;
  json_t *v;
  json_array_foreach(json_object_get(m, "variants"), i, v) if (json_integer_value(json_object_get(v, "isa")) == 0) {
    snprintf(portable, sizeof portable, "%s", json_string_value(json_object_get(v, "prefix")));
    snprintf(portable_label, sizeof portable_label, "%s", json_string_value(json_object_get(v, "params_label")));
  }
  json_decref(m);
  return portable[0] ? 0 : -1;
}

/* Write a gemm site file for m128_k128_n128 choosing `variant`, into tmp/sites/<name>/gemm.json. */
static void site_file(const char *name, const char *source, const char *kernel, const char *h, const char *variant,
                      const char *label) {
  json_t *doc = json_pack("{s:i, s:s, s:s, s:s, s:[{s:s, s:{s:i, s:i, s:i}, s:{s:s, s:s, s:f, s:[f, f]}}]}", "schema",
                          1, "source", source, "kernel", kernel, "build_hash", h, "problems", "name", "m128_k128_n128",
                          "dims", "k", 128, "m", 128, "n", 128, "winner", "variant", variant, "params_label", label,
                          "p50_ns", 1e5, "ci95_ns", 0.99e5, 1.01e5);
  assert_non_null(doc);
  char path[4096];
  assert_int_equal(run("mkdir -p '%s/sites/%s'", tmp, name), 0);
  snprintf(path, sizeof path, "%s/sites/%s/gemm.json", tmp, name);
  assert_int_equal(json_dump_file(doc, path, JSON_INDENT(2)), 0);
  json_decref(doc);
}

/* Run the app with KGEN_SITE_DIR=tmp/sites/<name> and KGEN_VERBOSE=1; its exit code; output in
 * tmp/<name>.out (stdout and stderr). */
static int app(const char *name) {
  return run("cd '%s' && KGEN_SITE_DIR='%s/sites/%s' KGEN_VERBOSE=1 ./app > '%s.out' 2>&1", tmp, tmp, name, name);
}

static void test_site_file_used(void **state) {
  (void)state;
  site_file("good", "site", "gemm", hash, portable, portable_label);
  assert_int_equal(app("good"), 0);
  assert_int_equal(run("grep -q 'err ok' '%s/good.out'", tmp), 0);
  assert_int_equal(run("grep -q \"choice: the site file's choice\" '%s/good.out'", tmp), 0);
  assert_int_equal(run("grep -q 'variant: %s ' '%s/good.out'", portable, tmp), 0);
  /* No site file: the shipped choice, and a note saying there is none. */
  assert_int_equal(app("none"), 0);
  assert_int_equal(run("grep -q 'no site file' '%s/none.out'", tmp), 0);
  assert_int_equal(run("grep -q \"site file's choice\" '%s/none.out'", tmp), 1);
}

static void test_site_file_ignored(void **state) {
  (void)state;
  site_file("hash", "site", "gemm", "0123456789abcdef", portable, portable_label);
  site_file("kernel", "site", "qmatmul", hash, portable, portable_label);
  site_file("source", "tuned", "gemm", hash, portable, portable_label);
  site_file("lacks", "site", "gemm", hash, "kgv_gemm_999_", portable_label);
  site_file("params", "site", "gemm", hash, portable, "mr=1");
  site_file("truncated", "site", "gemm", hash, portable, portable_label);
  assert_int_equal(run("cd '%s/sites/truncated' && head -c 150 gemm.json > t && mv t gemm.json", tmp), 0);
  assert_int_equal(
      run("mkdir -p '%s/sites/corrupt' && head -c 4096 /dev/urandom > '%s/sites/corrupt/gemm.json'", tmp, tmp), 0);
  assert_int_equal(run("mkdir -p '%s/sites/empty' && : > '%s/sites/empty/gemm.json'", tmp, tmp), 0);
  const struct {
    const char *name, *why;
  } cases[] = {{"hash", "tuned for another build"},   {"kernel", "of kernel .qmatmul."},
               {"source", "not a site file"},         {"lacks", "names a variant this build lacks"},
               {"params", "other parameters"},        {"truncated", "cannot be read as JSON"},
               {"corrupt", "cannot be read as JSON"}, {"empty", "cannot be read as JSON"}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    assert_int_equal(app(cases[i].name), 0); /* ran, and computed right */
    assert_int_equal(run("grep -q 'err ok' '%s/%s.out'", tmp, cases[i].name), 0);
    assert_int_equal(run("grep -q 'site file .* ignored: .*%s' '%s/%s.out'", cases[i].why, tmp, cases[i].name), 0);
    assert_int_equal(run("grep -q \"site file's choice\" '%s/%s.out'", tmp, cases[i].name), 1);
  }
}

static void test_site_tune(void **state) {
  (void)state;
  /* Bad options. */
  assert_int_equal(run("'%s/bin/kgen-site-tune' --budget -1 > /dev/null 2>&1", prefix), 2);
  assert_int_equal(run("'%s/bin/kgen-site-tune' --budget x > /dev/null 2>&1", prefix), 2);
  assert_int_equal(run("'%s/bin/kgen-site-tune' --nope > /dev/null 2>&1", prefix), 2);
  assert_int_equal(run("'%s/bin/kgen-site-tune' --prefix '%s/nowhere' --quiet > /dev/null 2>&1", prefix, tmp), 1);
  /* A short run on gemm's small problems: a site file of this build, which the library uses. */
  assert_int_equal(run("'%s/bin/kgen-site-tune' --budget 10 --kernel gemm --problem m64_k64_n64 --min-time 0.01 "
                       "--export '%s/exp' "
                       "> '%s/st.out' 2>&1",
                       prefix, tmp, tmp),
                   0);
  char path[4096];
  snprintf(path, sizeof path, "%s/share/kgen/site/gemm.json", prefix);
  json_error_t err;
  json_t *doc = json_load_file(path, 0, &err);
  assert_non_null(doc);
  assert_string_equal(json_string_value(json_object_get(doc, "source")), "site");
  assert_string_equal(json_string_value(json_object_get(doc, "build_hash")), hash);
  json_t *p0 = json_array_get(json_object_get(doc, "problems"), 0);
  assert_non_null(json_object_get(json_object_get(p0, "winner"), "params"));
  assert_true(json_number_value(json_object_get(json_object_get(p0, "winner"), "p50_ns")) > 0);
  assert_true(json_is_boolean(json_object_get(p0, "replaced")));
  json_decref(doc);
  assert_int_equal(run("ls '%s/exp/gemm/'*.json > /dev/null", tmp), 0);
  assert_int_equal(run("grep -q 'problems decided' '%s/st.out'", tmp), 0);
  /* A second run, on another problem, keeps the first's decision; a third on the first problem
   * starts from the site file's choice (the incumbent is "site"). */
  assert_int_equal(run("'%s/bin/kgen-site-tune' --budget 10 --kernel gemm --problem m128_k128_n128 --min-time 0.01 "
                       "--quiet > /dev/null 2>&1",
                       prefix),
                   0);
  assert_int_equal(run("'%s/bin/kgen-site-tune' --budget 10 --kernel gemm --problem m64_k64_n64 --min-time 0.01 "
                       "--quiet > /dev/null 2>&1",
                       prefix),
                   0);
  doc = json_load_file(path, 0, &err);
  assert_non_null(doc);
  json_t *rows = json_object_get(doc, "problems");
  assert_int_equal(json_array_size(rows), 2);
  int seen = 0;
  for (size_t i = 0; i < 2; i++) {
    const char *name = json_string_value(json_object_get(json_array_get(rows, i), "name"));
    const char *inc = json_string_value(json_object_get(json_array_get(rows, i), "incumbent"));
    assert_non_null(name);
    assert_non_null(inc);
    if (!strcmp(name, "m64_k64_n64")) seen |= 1, assert_string_equal(inc, "site");
    if (!strcmp(name, "m128_k128_n128")) seen |= 2, assert_string_equal(inc, "shipped");
  }
  assert_int_equal(seen, 3);
  json_decref(doc);
  /* The installed library (no KGEN_SITE_DIR: it finds share/kgen/site next to its lib/). */
  assert_int_equal(run("cd '%s' && KGEN_VERBOSE=1 ./app > inst.out 2>&1", tmp), 0);
  assert_int_equal(run("grep -q 'site file .*share/kgen/site/gemm.json: [0-9]* tuned problem' '%s/inst.out'", tmp), 0);
}

static void test_site_tune_killed(void **state) {
  (void)state;
  /* A known previous site file; each run is killed (SIGKILL) at a different moment: the file is
   * the previous one or a whole new one, never a torn one. */
  char path[4096], before[4096];
  snprintf(path, sizeof path, "%s/share/kgen/site/gemm.json", prefix);
  snprintf(before, sizeof before, "%s/before.json", tmp);
  site_file("prev", "site", "gemm", hash, portable, portable_label);
  const char *delays[] = {"0.05", "0.3", "1", "2.5"};
  for (int i = 0; i < 4; i++) {
    assert_int_equal(run("cp '%s/sites/prev/gemm.json' '%s' && cp '%s' '%s'", tmp, path, path, before), 0);
    run("'%s/bin/kgen-site-tune' --budget 3 --kernel gemm --min-time 0.01 --quiet > /dev/null 2>&1 & pid=$!; "
        "sleep %s; kill -9 $pid; wait $pid",
        prefix, delays[i]);
    json_error_t err;
    json_t *doc = json_load_file(path, 0, &err);
    assert_non_null(doc); /* whole JSON */
    assert_string_equal(json_string_value(json_object_get(doc, "source")), "site");
    json_decref(doc);
    assert_true(run("cmp -s '%s' '%s'", path, before) == 0 || run("grep -q successive-halving '%s'", path) == 0);
  }
}

static void test_install_hook(void **state) {
  (void)state;
  assert_int_equal(
      run("KGEN_INSTALL_TUNE=OFF cmake --install '%s' --prefix '%s/h1' > '%s/h1.out' 2>&1", build, tmp, tmp), 0);
  assert_int_equal(run("grep -q 'site tuning skipped (KGEN_INSTALL_TUNE=OFF)' '%s/h1.out'", tmp), 0);
  assert_int_equal(run("test -e '%s/h1/share/kgen/site/gemm.json'", tmp), 1);
  assert_int_equal(
      run("DESTDIR='%s/stage' cmake --install '%s' --prefix /opt/kgen > '%s/h2.out' 2>&1", tmp, build, tmp), 0);
  assert_int_equal(run("grep -q 'site tuning skipped (DESTDIR is set' '%s/h2.out'", tmp), 0);
  assert_int_equal(run("test -x '%s/stage/opt/kgen/bin/kgen-site-tune'", tmp), 0);
  /* On: runs last, within the budget given, and leaves site files. */
  assert_int_equal(run("KGEN_INSTALL_TUNE=ON KGEN_TUNE_BUDGET=4 cmake --install '%s' --prefix '%s/h3' > '%s/h3.out' "
                       "2>&1",
                       build, tmp, tmp),
                   0);
  /* (Whether it decides anything in 4 s depends on the load: the tool's summary says it ran.) */
  assert_int_equal(run("grep -q 'site tuning the installed library (budget 4 s' '%s/h3.out' && grep -q "
                       "'problems decided .*(budget 4 s)' '%s/h3.out'",
                       tmp, tmp),
                   0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_site_file_used), cmocka_unit_test(test_site_file_ignored),
      cmocka_unit_test(test_site_tune),      cmocka_unit_test(test_site_tune_killed),
      cmocka_unit_test(test_install_hook),
  };
  return cmocka_run_group_tests(tests, site_setup, teardown);
}
