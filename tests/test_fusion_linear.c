/*
 * test_fusion_linear.c - specs/fusion_linear.lua + templates/fusion_linear.c, in-process (JIT):
 * fused variants (every register tile and epilogue placement, both KC blocks and thread counts)
 * against the template's double-precision reference (kg_verify: the GEMM error bound) for every
 * activation, with and without LayerNorm, on shapes with edge tiles and a depth spanning two KC
 * blocks; every baseline's output (unfused, OpenBLAS, oneDNN) against the same reference; bad
 * shapes and codes refused by kg_create; the spec's fusion table (patterns, bytes).
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
#include "kg_spec.h"
#include "kg_template.h"

typedef int (*check_fn)(void *state, char *msg, size_t cap);
typedef void (*poison_fn)(void *state);

static kg_spec *g_spec;
static kg_compiler *g_cc;

static int setup(void **state) {
  const char *root = getenv("KGEN_ROOT");
  char path[4096];
  snprintf(path, sizeof path, "%s/specs/fusion_linear.lua", root ? root : ".");
  kg_ctx ctx = {0};
  if (kg_spec_load(path, &g_spec, &ctx) != KG_OK) {
    fprintf(stderr, "%s\n", ctx.msg);
    return -1;
  }
  kg_compile_opts co = {0};
  return kg_compiler_new(&co, &g_cc, &ctx) == KG_OK ? 0 : -1;
}

static int teardown(void **state) {
  kg_compiler_free(g_cc);
  kg_spec_free(g_spec);
  return 0;
}

static kg_module *compile_set(const char *set) {
  kg_ctx ctx = {0};
  int32_t pt[16];
  if (kg_spec_parse_set(g_spec, set, pt, &ctx) != KG_OK) fail_msg("%s: %s", set, ctx.msg);
  char *src = NULL;
  kg_module *mod = NULL;
  if (kg_template_emit(g_spec, pt, &src, NULL, &ctx) != KG_OK ||
      kg_compiler_compile(g_cc, set, src, &mod, NULL, &ctx) != KG_OK)
    fail_msg("%s: %s", set, ctx.msg);
  free(src);
  return mod;
}

/* dims (sorted by name): act, k, ln, m, n */
static void *make(kg_module *mod, int64_t m, int64_t k, int64_t n, int64_t act, int64_t ln) {
  static const char *const names[] = {"act", "k", "ln", "m", "n"};
  const int64_t dims[] = {act, k, ln, m, n};
  kg_problem p = {5, names, dims, 42, 0, 0};
  return ((kg_create_fn)kg_module_sym(mod, "kg_create"))(&p);
}

static const int64_t shapes[][3] = {{37, 300, 70}, {1, 64, 33}, {13, 17, 129}};

static void verify_variant(const char *set) {
  kg_module *mod = compile_set(set);
  kg_verify_fn verify = (kg_verify_fn)kg_module_sym(mod, "kg_verify");
  kg_destroy_fn destroy = (kg_destroy_fn)kg_module_sym(mod, "kg_destroy");
  kg_run_fn run = (kg_run_fn)kg_module_sym(mod, "kg_run");
  assert_true(verify && destroy && run);
  for (int sh = 0; sh < 3; sh++)
    for (int64_t ln = 0; ln <= 1; ln++)
      for (int64_t act = 0; act <= 8; act++) {
        void *st = make(mod, shapes[sh][0], shapes[sh][1], shapes[sh][2], act, ln);
        assert_non_null(st);
        run(st); /* the warm-up call grows the workspace; verify then reruns on it */
        char msg[512] = "";
        if (verify(st, msg, sizeof msg) != 0)
          fail_msg("[%s] m=%lld k=%lld n=%lld act=%lld ln=%lld: %s", set, (long long)shapes[sh][0],
                   (long long)shapes[sh][1], (long long)shapes[sh][2], (long long)act, (long long)ln, msg);
        assert_non_null(strstr(msg, "\"max_err_over_bound\"")); /* the accuracy figures */
        destroy(st);
      }
  kg_module_free(mod);
}

/* Every register tile and epilogue placement at the default blocking, then the blocking and
 * the threads at the default tile. */
static void test_variants(void **state) {
  static const char *const sets[] = {
      "epi=store",  "epi=pass",      "mr=8,nr=48", "mr=12,nr=32,epi=pass",
      "mr=4,nr=64", "kc=512,mc=192", "threads=2",  "threads=2,epi=pass,mr=8,nr=32",
  };
  for (size_t i = 0; i < sizeof sets / sizeof *sets; i++) {
    kg_ctx ctx = {0};
    int32_t pt[16];
    if (kg_spec_parse_set(g_spec, sets[i], pt, &ctx) != KG_OK) continue; /* a tile this machine lacks (AVX2) */
    verify_variant(sets[i]);
  }
}

static void test_baselines(void **state) {
  kg_module *mod = compile_set(NULL);
  check_fn check = (check_fn)kg_module_sym(mod, "fl_check_output");
  poison_fn poison = (poison_fn)kg_module_sym(mod, "fl_poison_output");
  kg_destroy_fn destroy = (kg_destroy_fn)kg_module_sym(mod, "kg_destroy");
  assert_true(check && poison && destroy);
  for (int b = 0; b < g_spec->nbaselines; b++) {
    char sym[128];
    snprintf(sym, sizeof sym, "kg_baseline_%s", g_spec->baselines[b]);
    kg_run_fn base = (kg_run_fn)kg_module_sym(mod, sym);
    assert_non_null(base);
    for (int sh = 0; sh < 2; sh++)
      for (int64_t ln = 0; ln <= 1; ln++)
        for (int64_t act = 0; act <= 8; act++) {
          void *st = make(mod, shapes[sh][0], shapes[sh][1], shapes[sh][2], act, ln);
          assert_non_null(st);
          base(st); /* warm-up: loads the library, makes the primitives */
          poison(st);
          base(st);
          char msg[512] = "";
          if (check(st, msg, sizeof msg) != 0)
            fail_msg("%s m=%lld act=%lld ln=%lld: %s", g_spec->baselines[b], (long long)shapes[sh][0], (long long)act,
                     (long long)ln, msg);
          destroy(st);
        }
  }
  kg_module_free(mod);
}

static void test_bad_shapes(void **state) {
  kg_module *mod = compile_set(NULL);
  const int64_t bad[][5] = {
      {0, 64, 33, 1, 0},  {4, 0, 33, 1, 0},  {4, 64, -1, 1, 0},       {4, 64, 33, 9, 0},
      {4, 64, 33, -1, 0}, {4, 64, 33, 1, 2}, {1 << 21, 64, 33, 1, 0}, {1 << 20, 1 << 20, 33, 1, 0},
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
    if (make(mod, bad[i][0], bad[i][1], bad[i][2], bad[i][3], bad[i][4]))
      fail_msg("kg_create accepted m=%lld k=%lld n=%lld act=%lld ln=%lld", (long long)bad[i][0], (long long)bad[i][1],
               (long long)bad[i][2], (long long)bad[i][3], (long long)bad[i][4]);
  kg_module_free(mod);
}

/* The fusion table: a pattern per problem, the unfused sequence moves more bytes. */
static void test_fusion_table(void **state) {
  assert_true(g_spec->fusion);
  assert_string_equal(g_spec->fusion_unfused, "unfused");
  int quick = 0;
  for (int i = 0; i < g_spec->nproblems; i++) {
    const kg_spec_problem *pr = &g_spec->problems[i];
    assert_non_null(pr->pattern);
    assert_true(strncmp(pr->name, pr->pattern, strlen(pr->pattern)) == 0); /* "<pattern>_m.." */
    assert_true(pr->bytes_unfused > pr->bytes && pr->bytes > 0);
    quick += pr->fusion_quick;
  }
  assert_int_equal(quick, 4);
  assert_int_equal(kg_spec_problem_index(g_spec, "linear_relu_m512_k1024_n1024") >= 0, 1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fusion_table),
      cmocka_unit_test(test_bad_shapes),
      cmocka_unit_test(test_variants),
      cmocka_unit_test(test_baselines),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
