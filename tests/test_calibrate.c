/*
 * test_calibrate.c - `kgen calibrate --quick -o FILE` writes a machine profile with the keys
 * kg_profile.h documents, positive figures, and two OpenBLAS dispatches measured in fresh
 * processes on AVX-512 machines; kg_profile_load reads it back and the efficiency follows the
 * roofline (memory-bound below the machine balance, compute-bound above); with --rounds, each
 * figure is the best of its rounds and is confirmed exactly when a second round came close.
 */
#include <math.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>
#include <jansson.h>

#include "kg_calibrate.h"
#include "kg_compile.h"
#include "kg_profile.h"

static char bin[2048], tmp[256], path[512];

static int setup(void **state) {
  (void)state;
  const char *b = getenv("KGEN_BIN");
  snprintf(bin, sizeof bin, "%s", b ? b : "build/kgen");
  snprintf(tmp, sizeof tmp, "/tmp/kgen-test-calibrate-XXXXXX");
  assert_non_null(mkdtemp(tmp));
  snprintf(path, sizeof path, "%s/profile.json", tmp);
  char cmd[4096];
  snprintf(cmd, sizeof cmd, "'%s' calibrate --quick --quiet -o '%s' > '%s/table.txt'", bin, path, tmp);
  int st = system(cmd);
  assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  char cmd[512];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
  return system(cmd) == 0 ? 0 : -1;
}

static double num(const json_t *o, const char *k) { return json_number_value(json_object_get(o, k)); }

static void test_profile_keys(void **state) {
  (void)state;
  json_error_t err;
  json_t *p = json_load_file(path, 0, &err);
  assert_non_null(p);
  assert_int_equal(json_integer_value(json_object_get(p, "schema")), 1);
  assert_string_equal(json_string_value(json_object_get(p, "kind")), "machine-profile");
  assert_true(json_is_true(json_object_get(p, "quick")));
  json_t *m = json_object_get(p, "machine");
  static const char *const mkeys[] = {"id", "cpu", "isa", "cores", "caches", "compiler", "flags"};
  for (size_t i = 0; i < sizeof mkeys / sizeof mkeys[0]; i++) assert_non_null(json_object_get(m, mkeys[i]));
  int cores = (int)json_integer_value(json_object_get(m, "cores"));

  /* the roofline references: read-only bandwidth (l2 warm, dram cold in a quick run) and the
   * fp32 FMA, int8 VNNI and bf16 peaks, each a rate or an error naming what this CPU lacks */
  json_t *roof = json_object_get(p, "roofline"), *rd = json_object_get(roof, "read_bandwidth");
  assert_int_equal(json_array_size(rd), 2);
  assert_true(num(json_array_get(rd, 0), "rate") > 0 && num(json_array_get(rd, 1), "rate") > 0);
  assert_true(json_is_true(json_object_get(json_array_get(rd, 1), "cold")));
  assert_true(num(json_object_get(roof, "fp32_fma"), "rate") > 0);
  static const char *const dots[] = {"int8_dot", "bf16_dot"};
  for (int k = 0; k < 2; k++) {
    json_t *x = json_object_get(roof, dots[k]);
    assert_true(num(x, "rate") > 0 || json_is_string(json_object_get(x, "error")));
  }

  json_t *peak = json_object_get(p, "peak");
  assert_non_null(json_object_get(peak, "isa"));
  assert_true(json_integer_value(json_object_get(peak, "accumulators")) >= 8);
  static const char *const precs[] = {"fp32", "fp64"};
  for (int k = 0; k < 2; k++) {
    json_t *a = json_object_get(peak, precs[k]);
    assert_true(json_array_size(a) >= 1);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(a, 0), "threads")), 1);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(a, json_array_size(a) - 1), "threads")), cores);
    for (size_t i = 0; i < json_array_size(a); i++) assert_true(num(json_array_get(a, i), "gflops") > 0);
  }
  /* Each figure is a rate over the fastest (and the median) sample; what the microkernel computes
   * is checked by test_peak_kernel, not by re-deriving the rate from the code's own formula. */
  for (int k = 0; k < 2; k++) {
    json_t *a = json_object_get(peak, precs[k]);
    for (size_t i = 0; i < json_array_size(a); i++) {
      json_t *e = json_array_get(a, i);
      assert_true(num(e, "min_ns") > 0 && num(e, "p50_ns") >= num(e, "min_ns"));
      assert_true(num(e, "gflops_p50") <= num(e, "gflops"));
    }
  }

  json_t *bw = json_object_get(json_object_get(p, "bandwidth"), "results");
  size_t nops[4] = {0};
  static const char *const ops[] = {"copy", "scale", "add", "triad"};
  for (size_t i = 0; i < json_array_size(bw); i++) {
    json_t *e = json_array_get(bw, i);
    assert_true(num(e, "gbps") > 0 && num(e, "gbps_p50") > 0 && num(e, "gbps_p50") <= num(e, "gbps"));
    assert_true(num(e, "bytes") > 0);
    /* a cache-level call repeats the pass until it moves 8 MB; DRAM arrays are passed once */
    json_int_t passes = json_integer_value(json_object_get(e, "passes"));
    if (!strcmp(json_string_value(json_object_get(e, "level")), "dram")) assert_int_equal(passes, 1);
    else assert_true((double)passes * num(e, "bytes") >= 8.0 * 1024 * 1024);
    assert_float_equal(num(e, "gbps") * num(e, "min_ns") / ((double)passes * num(e, "bytes")), 1.0, 1e-9);
    assert_non_null(json_object_get(e, "level"));
    for (int o = 0; o < 4; o++) nops[o] += !strcmp(json_string_value(json_object_get(e, "op")), ops[o]);
  }
  for (int o = 0; o < 4; o++) assert_true(nops[o] >= 3);

  json_t *sg = json_object_get(json_object_get(p, "sgemm"), "results");
  assert_true(json_array_size(sg) >= 1);
  int skx = 0, def = 0;
  for (size_t i = 0; i < json_array_size(sg); i++) {
    json_t *e = json_array_get(sg, i);
    assert_null(json_object_get(e, "error"));
    assert_true(num(e, "gflops") > 0);
    const char *ct = json_string_value(json_object_get(e, "coretype"));
    const char *cn = json_string_value(json_object_get(e, "corename"));
    if (!strcmp(ct, "SkylakeX")) {
      skx++;
      assert_string_equal(cn, "SkylakeX"); /* the fresh process honoured OPENBLAS_CORETYPE */
    } else {
      def++;
    }
  }
  assert_true(def >= 1);
  int avx512 = 0;
  json_t *isa = json_object_get(m, "isa");
  for (size_t i = 0; i < json_array_size(isa); i++)
    avx512 |= !strcmp(json_string_value(json_array_get(isa, i)), "avx512f");
  assert_true(avx512 ? skx >= 1 : skx == 0);
  assert_true(num(json_object_get(p, "balance"), "fp32_flops_per_byte") > 0);
  json_decref(p);
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "grep -q 'peak FLOP/s' '%s/table.txt' && grep -q 'cblas_sgemm' '%s/table.txt'", tmp, tmp);
  assert_int_equal(system(cmd), 0);
}

/* The peak microkernel does the work the profile counts: compiled and run, each thread's result
 * equals nacc chains x lanes of `iters` FMA steps a = a * b + c computed here one by one (fp64:
 * a single step more or less, or a chain or a lane left out, changes the sum far beyond the
 * tolerance), and its loop body holds exactly nacc multiply-adds. */
static double peak_reference(int lanes, int nacc, long iters, double b, double c, bool fp64) {
  double sum = 0;
  for (int k = 0; k < nacc; k++) {
    double a = k + 1;
    float af = (float)(k + 1);
    for (long i = 0; i < iters; i++) {
      if (fp64) a = fma(a, b, c);
      else af = fmaf(af, (float)b, (float)c);
    }
    sum += fp64 ? a : (double)af;
  }
  return sum * lanes;
}

static void check_peak_kernel(kg_compiler *cc, int vbytes, bool fp64, int nacc, int threads, long iters) {
  char *src = kg_calibrate_peak_source(vbytes, fp64, nacc, threads, iters);
  assert_non_null(src);
  /* the loop body: nacc statements "aK = aK * b + c;" */
  int fmas = 0;
  for (const char *q = src; (q = strstr(q, " * b + c;")); q++) fmas++;
  assert_int_equal(fmas, nacc);
  kg_module *mod = NULL;
  kg_ctx ctx = {0};
  if (kg_compiler_compile(cc, "peak_test", src, &mod, NULL, &ctx) != KG_OK) fail_msg("%s", ctx.msg);
  void *(*create)(const void *) = (void *(*)(const void *))kg_module_sym(mod, "kg_create");
  void (*run)(void *) = (void (*)(void *))kg_module_sym(mod, "kg_run");
  void (*destroy)(void *) = (void (*)(void *))kg_module_sym(mod, "kg_destroy");
  double (*result)(const void *, int) = (double (*)(const void *, int))kg_module_sym(mod, "kg_peak_result");
  assert_true(create && run && destroy && result);
  void *st = create(NULL);
  assert_non_null(st);
  run(st);
  int lanes = vbytes / (fp64 ? 8 : 4);
  double want =
      peak_reference(lanes, nacc, iters, fp64 ? 0.9999999 : (double)0.9999999f, fp64 ? 1e-7 : (double)1e-7f, fp64);
  double one_less =
      peak_reference(lanes, nacc, iters - 1, fp64 ? 0.9999999 : (double)0.9999999f, fp64 ? 1e-7 : (double)1e-7f, fp64);
  double tol = fp64 ? 1e-12 * want : 1e-4 * want;
  if (fp64) assert_true(fabs(one_less - want) > 100 * tol); /* the check sees a single step */
  for (int t = 0; t < threads; t++) {
    double got = result(st, t);
    if (!(fabs(got - want) <= tol))
      fail_msg("thread %d: result %.17g, want %.17g (fp64 %d, nacc %d)", t, got, want, fp64, nacc);
  }
  destroy(st);
  kg_module_free(mod);
  free(src);
}

static void test_peak_kernel(void **state) {
  (void)state;
  kg_compile_opts co = {0};
  kg_compiler *cc = NULL;
  kg_ctx ctx = {0};
  assert_int_equal(kg_compiler_new(&co, &cc, &ctx), KG_OK);
  check_peak_kernel(cc, 32, true, 4, 1, 4096);
  check_peak_kernel(cc, 32, true, 12, 2, 1000);
  check_peak_kernel(cc, 64, true, 16, 1, 777);
  check_peak_kernel(cc, 32, false, 12, 1, 4096);
  check_peak_kernel(cc, 8, true, 8, 2, 100);
  kg_compiler_free(cc);
}

static void test_profile_efficiency(void **state) {
  (void)state;
  kg_profile p;
  kg_ctx ctx = {0};
  assert_int_equal(kg_profile_load(path, &p, &ctx), KG_OK);
  assert_true(p.npeak >= 1 && p.nbw >= 1);
  kg_efficiency e;
  /* A copy-like kernel: 0 flops, 1 MB in 1 ms = 1 GB/s: memory-bound. */
  kg_profile_efficiency(&p, 0, 1e6, 1e6, 1, KG_BOUND_MEMORY, &e);
  assert_true(e.known);
  assert_string_equal(e.bound, "memory");
  assert_true(fabs(e.fraction - 1.0 / e.ceiling) < 1e-9);
  /* A GEMM-like kernel: 1e9 flops over 1e6 bytes: compute-bound against the 1-thread peak. */
  kg_profile_efficiency(&p, 1e9, 1e6, 1e7, 1, KG_BOUND_FP32_FMA, &e);
  assert_true(e.known);
  assert_string_equal(e.bound, "compute");
  assert_true(fabs(e.achieved - 100.0) < 1e-9);
  /* int8 dot products against the profile's int8_dot peak (all cores), never the fp32 FMA peak */
  kg_profile_efficiency(&p, 1e9, 1e6, 1e7, 1, KG_BOUND_INT8_DOT, &e);
  if (isfinite(p.int8_dot)) {
    assert_true(e.known);
    assert_string_equal(e.bound, "compute");
    assert_true(fabs(e.ceiling - p.int8_dot) < 1e-9);
    assert_true(fabs(e.fraction - 100.0 / p.int8_dot) < 1e-9);
  } else {
    assert_false(e.known);
    assert_string_equal(e.why, "the profile lacks the int8_dot figure");
  }
  p.int8_dot = NAN; /* a profile from before the roofline section */
  kg_profile_efficiency(&p, 1e9, 1e6, 1e7, 1, KG_BOUND_INT8_DOT, &e);
  assert_false(e.known);
  assert_string_equal(e.why, "the profile lacks the int8_dot figure");
  kg_profile_efficiency(NULL, 1e9, 1e6, 1e7, 1, KG_BOUND_NONE, &e);
  assert_false(e.known);
  assert_string_equal(e.why, "no machine profile (run kgen calibrate)");
  assert_int_equal(kg_profile_load("/nonexistent/profile.json", &p, &ctx), KG_ENOTFOUND);
}

/* Each figure in arr against its rounds: the best of them, and "confirmed" exactly when a second
 * round came within 2% of it.  Returns how many are unconfirmed; *most = the most rounds any
 * figure has. */
static int check_rounds(const json_t *arr, const char *value, int rounds, int *most) {
  int open = 0;
  size_t i, j;
  const json_t *e, *v;
  json_array_foreach(arr, i, e) {
    const json_t *rv = json_object_get(e, "round_values");
    double best = 0;
    json_array_foreach(rv, j, v) best = fmax(best, json_number_value(v));
    int near = 0;
    json_array_foreach(rv, j, v) near += json_number_value(v) >= best * 0.98;
    assert_true(json_array_size(rv) >= 2 && (int)json_array_size(rv) <= rounds);
    assert_float_equal(num(e, value), best, 0);
    assert_int_equal(json_is_true(json_object_get(e, "confirmed")), near >= 2);
    open += near < 2;
    if ((int)json_array_size(rv) > *most) *most = (int)json_array_size(rv);
  }
  return open;
}

/* --rounds 2: at least 2 rounds of every figure, then more (up to 6) only while some figure is
 * unconfirmed; a figure stops being measured once confirmed. */
static void test_profile_rounds(void **state) {
  (void)state;
  char cmd[4096], p2[600];
  snprintf(p2, sizeof p2, "%s/rounds.json", tmp);
  snprintf(cmd, sizeof cmd, "'%s' calibrate --quick --quiet --rounds 2 -o '%s' > '%s/rounds.txt'", bin, p2, tmp);
  assert_int_equal(system(cmd), 0);
  json_error_t err;
  json_t *p = json_load_file(p2, 0, &err);
  assert_non_null(p);
  const json_t *peak = json_object_get(p, "peak"), *bw = json_object_get(p, "bandwidth");
  int rounds = (int)json_integer_value(json_object_get(peak, "rounds")), most = 0;
  assert_true(rounds >= 2 && rounds <= 6);
  assert_int_equal(json_integer_value(json_object_get(bw, "rounds")), rounds);
  int open = check_rounds(json_object_get(peak, "fp32"), "gflops", rounds, &most) +
             check_rounds(json_object_get(peak, "fp64"), "gflops", rounds, &most) +
             check_rounds(json_object_get(bw, "results"), "gbps", rounds, &most);
  assert_int_equal(most, rounds);
  /* it stopped early only with every figure confirmed; the unconfirmed are named below the tables */
  if (rounds < 6) assert_int_equal(open, 0);
  snprintf(cmd, sizeof cmd, "grep -q 'not confirmed:' '%s/rounds.txt'", tmp);
  assert_int_equal(system(cmd) == 0, open > 0);
  json_decref(p);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_profile_keys),
      cmocka_unit_test(test_peak_kernel),
      cmocka_unit_test(test_profile_efficiency),
      cmocka_unit_test(test_profile_rounds),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
