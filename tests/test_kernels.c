/*
 * test_kernels.c - the gemm and qmatmul templates on edge shapes, end to end through `kgen
 * tune` (env KGEN_BIN, KGEN_ROOT): tests/specs/gemm_edges.lua and qmatmul_edges.lua tune every
 * variant of a space covering all register tiles, paths, unrolls, packing modes and thread
 * counts on shapes that are not multiples of the tiles, blocks or group sizes (k < g, M = 1),
 * and every variant and baseline must verify (the CSV has no row whose status is not ok).
 * Slow (a couple of minutes): listed in tests/slow.txt.
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
#include <jansson.h>

static char root[2048], bin[2048], tmp[256];

static int setup(void **state) {
  const char *r = getenv("KGEN_ROOT"), *b = getenv("KGEN_BIN");
  snprintf(root, sizeof root, "%s", r ? r : ".");
  snprintf(bin, sizeof bin, "%s", b ? b : "build/kgen");
  snprintf(tmp, sizeof tmp, "/tmp/kgen-test-kernels-XXXXXX");
  assert_non_null(mkdtemp(tmp));
  return 0;
}

static int teardown(void **state) {
  char cmd[512];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
  return system(cmd) == 0 ? 0 : 0;
}

/* Tune tests/specs/<name>.lua; every CSV row must be ok. */
static void tune_all_ok(const char *name) {
  char cmd[8192], csv[512], line[4096];
  snprintf(csv, sizeof csv, "%s/%s.csv", tmp, name);
  snprintf(cmd, sizeof cmd, "'%s' tune '%s/tests/specs/%s.lua' --min-time 0.01 --out '%s/out' --db '%s/%s.db' --csv '%s' 2>/dev/null >/dev/null",
           bin, root, name, tmp, tmp, name, csv);
  int st = system(cmd);
  assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  FILE *f = fopen(csv, "r");
  assert_non_null(f);
  long rows = 0, bad = 0;
  assert_non_null(fgets(line, sizeof line, f)); /* header */
  while (fgets(line, sizeof line, f)) {
    rows++;
    if (!strstr(line, ",ok,")) {
      if (bad++ < 5) printf("not ok: %s", line);
    }
  }
  fclose(f);
  printf("%s: %ld rows, %ld not ok\n", name, rows, bad);
  assert_true(rows > 0);
  assert_int_equal(bad, 0);
}

static void test_gemm_edges(void **state) { tune_all_ok("gemm_edges"); }
/* qmatmul's verification reports its accuracy against fp32 on the same weights: every winner
 * carries it, with a non-zero quantization error below what 4 bits allow. */
static void test_qmatmul_edges(void **state) {
  tune_all_ok("qmatmul_edges");
  char cmd[1024], path[1024] = "";
  snprintf(cmd, sizeof cmd, "ls %s/out/qmatmul_edges/*.json", tmp);
  FILE *ls = popen(cmd, "r");
  assert_non_null(ls);
  assert_non_null(fgets(path, sizeof path, ls));
  pclose(ls);
  path[strcspn(path, "\n")] = 0;
  json_error_t err;
  json_t *r = json_load_file(path, 0, &err), *p;
  assert_non_null(r);
  size_t i;
  json_array_foreach(json_object_get(r, "problems"), i, p) {
    json_t *acc = json_object_get(json_object_get(p, "winner"), "accuracy");
    assert_true(json_is_object(acc));
    double w = json_number_value(json_object_get(acc, "weight_rel_err"));
    double y = json_number_value(json_object_get(acc, "output_rel_err"));
    assert_true(w > 0 && w < 0.2);
    assert_true(y > 0 && y < 0.3);
  }
  json_decref(r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_gemm_edges),
      cmocka_unit_test(test_qmatmul_edges),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
