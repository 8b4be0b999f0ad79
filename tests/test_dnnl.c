/*
 * test_dnnl.c - templates/kg_dnnl.h in a JIT-compiled template (tests/specs/dnnl_smoke.c):
 * oneDNN is reached through dlopen only (the JIT resolves no oneDNN symbol), its matmul with a
 * bias and each activation's eltwise post-op (kg_dnnl_append_act) agrees with a double-precision
 * reference, and kg_create refuses an unknown activation code.
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

static void test_dnnl_smoke(void **state) {
  const char *root = getenv("KGEN_ROOT");
  char path[4096];
  snprintf(path, sizeof path, "%s/tests/specs/dnnl_smoke.lua", root ? root : ".");
  kg_spec *spec = NULL;
  kg_ctx ctx = {0};
  if (kg_spec_load(path, &spec, &ctx) != KG_OK) fail_msg("%s", ctx.msg);
  char *src = NULL;
  if (kg_template_emit(spec, spec->points, &src, NULL, &ctx) != KG_OK) fail_msg("%s", ctx.msg);
  kg_compiler *cc = NULL;
  kg_compile_opts co = {0};
  kg_module *mod = NULL;
  assert_int_equal(kg_compiler_new(&co, &cc, &ctx), KG_OK);
  if (kg_compiler_compile(cc, "dnnl_smoke", src, &mod, NULL, &ctx) != KG_OK) fail_msg("%s", ctx.msg);
  kg_create_fn create = (kg_create_fn)kg_module_sym(mod, "kg_create");
  kg_verify_fn verify = (kg_verify_fn)kg_module_sym(mod, "kg_verify");
  kg_destroy_fn destroy = (kg_destroy_fn)kg_module_sym(mod, "kg_destroy");
  kg_run_fn baseline = (kg_run_fn)kg_module_sym(mod, "kg_baseline_onednn");
  assert_true(create && verify && destroy && baseline);
  const char *names[] = {"act", "k", "m", "n"}; /* sorted */
  for (int64_t act = 0; act <= 8; act++) {
    int64_t dims[] = {act, 37, 5, 21};
    kg_problem p = {4, names, dims, 42, 0, 0};
    void *st = create(&p);
    assert_non_null(st);
    baseline(st); /* the warm-up call loads oneDNN and makes the primitive */
    char msg[512] = "";
    if (verify(st, msg, sizeof msg) != 0) fail_msg("act %lld: %s", (long long)act, msg);
    destroy(st);
  }
  int64_t bad[] = {9, 37, 5, 21};
  kg_problem p = {4, names, bad, 42, 0, 0};
  assert_null(create(&p));
  kg_module_free(mod);
  kg_compiler_free(cc);
  free(src);
  kg_spec_free(spec);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_dnnl_smoke),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
