/*
 * test_fusion_attention.c - templates/fusion_attention.c through the harness ABI, variants of
 * specs/fusion_attention.lua emitted by `kgen emit` (env KGEN_BIN, KGEN_ROOT) and compiled
 * in-process:
 *   - every pattern (qk, qk_softmax, attention), causal and not, on shapes that are no multiple
 *     of the blocks or tiles (s = 1, 7, 100, 257; d = 64, 16, 80 and d = 24, 1: the portable P V
 *     path; b = 1..3): kg_verify (the fused kernel against the double-precision reference within
 *     the template's error bounds) passes for variants covering the tiles, blocks, unrolls and
 *     2 threads, and so do the baselines (unfused, OpenBLAS, oneDNN; 1 and 2 threads) checked against the
 *     same reference (fusion_attention_check);
 *   - the check fails on an output nobody wrote (zeros: every pattern's reference is non-zero);
 *   - bad shapes (zero or negative b, s, d; unknown pattern; causal not 0/1; d too large) are
 *     refused by kg_create.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kg_abi.h"
#include "kg_compile.h"
#include "kg_jit_test.h"

static char root[2048], bin[2048], tmp[256];

typedef int (*check_fn)(void *, char *, size_t);

static int setup(void **state) {
  (void)state;
  const char *r = getenv("KGEN_ROOT"), *b = getenv("KGEN_BIN");
  snprintf(root, sizeof root, "%s", r ? r : ".");
  snprintf(bin, sizeof bin, "%s", b ? b : "build/kgen");
  snprintf(tmp, sizeof tmp, "/tmp/kgen-test-fattn-XXXXXX");
  assert_non_null(mkdtemp(tmp));
  return 0;
}

static int teardown(void **state) {
  (void)state;
  char cmd[512];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
  return system(cmd) == 0 ? 0 : 0;
}

/* One variant of specs/fusion_attention.lua (`kgen emit --set`), compiled in-process. */
static kg_module *emit_att(kg_compiler *c, const char *set) {
  char spec[4096];
  snprintf(spec, sizeof spec, "%s/specs/fusion_attention.lua", root);
  return kg_test_emit_compile(c, bin, spec, set, tmp);
}

static const char *const dim_names[] = {"b", "causal", "d", "pattern", "s"}; /* sorted */

static void *create(kg_module *m, int64_t b, int64_t causal, int64_t d, int64_t pattern, int64_t s) {
  const int64_t dims[] = {b, causal, d, pattern, s};
  kg_problem p = {5, dim_names, dims, 42, 0, 0};
  return ((kg_create_fn)kg_module_sym(m, "kg_create"))(&p);
}

/* The spec's tiles follow the machine (specs/fusion_attention.lua): AVX-512 or AVX2 ones. */
static bool avx512(void) { return __builtin_cpu_supports("avx512f"); }

/* A small variant with one of this machine's tiles (the checks and bad-shape tests). */
static const char *small_variant(void) {
  return avx512() ? "bq=32,bk=64,mr=4,nr=32,ku=4,threads=1" : "bq=32,bk=64,mr=4,nr=16,ku=4,threads=1";
}

static kg_compiler *new_compiler(void) {
  kg_compile_opts o = {.no_prelude = true};
  kg_compiler *c = NULL;
  kg_ctx ctx = {0};
  assert_int_equal(kg_compiler_new(&o, &c, &ctx), KG_OK);
  return c;
}

/* Every pattern and mask on ragged shapes: the variants and the baselines verify. */
static void test_verify(void **state) {
  (void)state;
  static const char *const sets512[] = {
      "bq=96,bk=128,mr=6,nr=32,ku=4,threads=1",
      "bq=32,bk=64,mr=4,nr=64,ku=1,threads=2",
      "bq=64,bk=256,mr=8,nr=32,ku=1,threads=2",
  };
  static const char *const sets2[] = {
      "bq=96,bk=128,mr=6,nr=16,ku=4,threads=1",
      "bq=48,bk=64,mr=3,nr=32,ku=1,threads=2",
      "bq=64,bk=256,mr=4,nr=16,ku=1,threads=2",
  };
  _Static_assert(sizeof sets512 == sizeof sets2, "one variant list per ISA, the same length");
  const char *const *sets = avx512() ? sets512 : sets2;
  enum { NV = sizeof sets512 / sizeof sets512[0] };
  static const int64_t shapes[][3] = {/* b, s, d */
                                      {1, 1, 64}, {2, 7, 16}, {3, 100, 64}, {1, 257, 24}, {2, 130, 80}, {1, 40, 1}};
  static const char *const baselines[] = {"kg_baseline_unfused",          "kg_baseline_unfused_2t",
                                          "kg_baseline_openblas_unfused", "kg_baseline_openblas_unfused_2t",
                                          "kg_baseline_onednn",           "kg_baseline_onednn_2t"};
  kg_compiler *c = new_compiler();
  kg_module *m[NV];
  for (int v = 0; v < NV; v++) m[v] = emit_att(c, sets[v]);
  long checks = 0;
  for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
    for (int pattern = 0; pattern < 3; pattern++)
      for (int causal = 0; causal < 2; causal++) {
        void *st = create(m[0], shapes[i][0], causal, shapes[i][2], pattern, shapes[i][1]);
        assert_non_null(st);
        ((kg_prepare_fn)kg_module_sym(m[0], "kg_prepare"))(st);
        char msg[512] = "";
        for (int v = 0; v < NV; v++) {
          kg_run_fn run = (kg_run_fn)kg_module_sym(m[v], "kg_run");
          run(st), run(st);
          int rc = ((kg_verify_fn)kg_module_sym(m[v], "kg_verify"))(st, msg, sizeof msg);
          if (rc)
            printf("%s, b %lld s %lld d %lld pattern %d causal %d: %s\n", sets[v], (long long)shapes[i][0],
                   (long long)shapes[i][1], (long long)shapes[i][2], pattern, causal, msg);
          assert_int_equal(rc, 0);
          checks++;
        }
        check_fn check = (check_fn)kg_module_sym(m[0], "fusion_attention_check");
        assert_non_null(check);
        for (size_t k = 0; k < sizeof baselines / sizeof baselines[0]; k++) {
          kg_run_fn base = (kg_run_fn)kg_module_sym(m[0], baselines[k]);
          assert_non_null(base);
          base(st);
          int rc = check(st, msg, sizeof msg);
          if (rc)
            printf("%s, b %lld s %lld d %lld pattern %d causal %d: %s\n", baselines[k], (long long)shapes[i][0],
                   (long long)shapes[i][1], (long long)shapes[i][2], pattern, causal, msg);
          assert_int_equal(rc, 0);
          checks++;
        }
        /* the success message carries the accuracy figures */
        assert_non_null(strstr(msg, "\"max_err_over_bound\""));
        ((kg_destroy_fn)kg_module_sym(m[0], "kg_destroy"))(st);
      }
  printf("fusion_attention: %ld checks passed\n", checks);
  for (int v = 0; v < NV; v++) kg_module_free(m[v]);
  kg_compiler_free(c);
}

/* The check can fail: an output nobody wrote (zeros). */
static void test_check_fails(void **state) {
  (void)state;
  kg_compiler *c = new_compiler();
  kg_module *m = emit_att(c, small_variant());
  check_fn check = (check_fn)kg_module_sym(m, "fusion_attention_check");
  char msg[512] = "";
  for (int pattern = 0; pattern < 3; pattern++) {
    void *st = create(m, 2, 0, 32, pattern, 50);
    assert_non_null(st);
    assert_int_not_equal(check(st, msg, sizeof msg), 0); /* nothing ran: the output is zero */
    printf("unwritten output, pattern %d: %s\n", pattern, msg);
    ((kg_destroy_fn)kg_module_sym(m, "kg_destroy"))(st);
  }
  kg_module_free(m);
  kg_compiler_free(c);
}

/* Bad shapes are refused. */
static void test_bad_shapes(void **state) {
  (void)state;
  kg_compiler *c = new_compiler();
  kg_module *m = emit_att(c, small_variant());
  static const int64_t bad[][5] = {/* b, causal, d, pattern, s */
                                   {0, 0, 64, 2, 16},  {1, 0, 0, 2, 16},    {1, 0, 64, 2, 0},
                                   {-1, 0, 64, 2, 16}, {1, 0, 64, 3, 16},   {1, 0, 64, -1, 16},
                                   {1, 2, 64, 2, 16},  {1, 0, 2048, 2, 16}, {4, 0, 64, 1, 1 << 15}};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    assert_null(create(m, bad[i][0], bad[i][1], bad[i][2], bad[i][3], bad[i][4]));
  void *ok = create(m, 1, 1, 8, 0, 3);
  assert_non_null(ok);
  ((kg_destroy_fn)kg_module_sym(m, "kg_destroy"))(ok);
  kg_module_free(m);
  kg_compiler_free(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_verify),
      cmocka_unit_test(test_check_fails),
      cmocka_unit_test(test_bad_shapes),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
