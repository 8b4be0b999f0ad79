/*
 * test_gemm_ukr.c - templates/gemm_ukr.h's epilogue interface as a second template uses it
 * (tests/specs/ukr_epi.c): every variant of tests/specs/ukr_epi.lua (register tiles, K-unrolls,
 * prefetch) JIT-compiled and checked against a double-precision reference on a shape with edge
 * tiles in both directions and a depth spanning three KC blocks, the epilogue (bias, ReLU, row
 * offset) applied on the last block only; and the unexpanded file's portable fallback compiled
 * with the system compiler the same way.
 */
#include <setjmp.h>
#include <stdarg.h>
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

/* The signature line the Lua slot emits for the epilogue microkernel (the portable fallback's,
 * in every expansion's text, is wrapped differently). */
#define GENERATED_EPI                                                                                                  \
  "gemm_ukr_packed_epi(int64_t kc, const float *restrict a, const float *restrict b, float *restrict c"

static const char *root_dir(void) {
  const char *r = getenv("KGEN_ROOT");
  return r ? r : ".";
}

static void check_module(kg_module *mod, const char *name) {
  kg_create_fn create = (kg_create_fn)kg_module_sym(mod, "kg_create");
  kg_verify_fn verify = (kg_verify_fn)kg_module_sym(mod, "kg_verify");
  kg_destroy_fn destroy = (kg_destroy_fn)kg_module_sym(mod, "kg_destroy");
  assert_true(create && verify && destroy);
  const char *names[] = {"k", "m", "n"};
  const int64_t shapes[][3] = {{37, 13, 70}, {16, 6, 64}, {1, 1, 1}};
  for (int i = 0; i < 3; i++) {
    kg_problem p = {3, names, shapes[i], 42, 0, 0};
    void *st = create(&p);
    assert_non_null(st);
    char msg[512] = "";
    if (verify(st, msg, sizeof msg) != 0)
      fail_msg("%s, k=%lld m=%lld n=%lld: %s", name, (long long)shapes[i][0], (long long)shapes[i][1],
               (long long)shapes[i][2], msg);
    destroy(st);
  }
}

static void test_epilogue_variants(void **state) {
  char path[4096];
  snprintf(path, sizeof path, "%s/tests/specs/ukr_epi.lua", root_dir());
  kg_spec *spec = NULL;
  kg_ctx ctx = {0};
  if (kg_spec_load(path, &spec, &ctx) != KG_OK) fail_msg("%s", ctx.msg);
  kg_compiler *cc = NULL;
  kg_compile_opts co = {0};
  assert_int_equal(kg_compiler_new(&co, &cc, &ctx), KG_OK);
  for (size_t v = 0; v < spec->npoints; v++) {
    const int32_t *pt = spec->points + v * (size_t)spec->nparams;
    char name[256], *src = NULL;
    kg_spec_format_point(spec, pt, name, sizeof name);
    kg_module *mod = NULL;
    if (kg_template_emit(spec, pt, &src, NULL, &ctx) != KG_OK) fail_msg("%s: %s", name, ctx.msg);
    /* the generated microkernel with the epilogue, not the portable fallback alone */
    assert_non_null(strstr(src, GENERATED_EPI));
    assert_non_null(strstr(src, "gemm_epi16(c0_0, e, i0 + 0, j0 + 0)"));
    if (kg_compiler_compile(cc, name, src, &mod, NULL, &ctx) != KG_OK) fail_msg("%s: %s", name, ctx.msg);
    check_module(mod, name);
    kg_module_free(mod);
    free(src);
  }
  printf("# ukr_epi: %zu variants verified\n", spec->npoints);
  kg_compiler_free(cc);
  kg_spec_free(spec);
}

/* gemm's own expansion carries no epilogue kernel (GEMM_UKR_EPILOGUE unset there). */
static void test_gemm_without_epilogue(void **state) {
  char path[4096];
  snprintf(path, sizeof path, "%s/specs/gemm.lua", root_dir());
  kg_spec *spec = NULL;
  kg_ctx ctx = {0};
  if (kg_spec_load(path, &spec, &ctx) != KG_OK) fail_msg("%s", ctx.msg);
  char *src = NULL;
  if (kg_template_emit(spec, spec->points, &src, NULL, &ctx) != KG_OK) fail_msg("%s", ctx.msg);
  assert_non_null(strstr(src, "static inline void gemm_ukr_packed(int64_t kc"));
  assert_non_null(strstr(src, "/* kgen: begin \"gemm_ukr.h\" */"));
  assert_null(strstr(src, GENERATED_EPI));
  free(src);
  kg_spec_free(spec);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_epilogue_variants),
      cmocka_unit_test(test_gemm_without_epilogue),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
