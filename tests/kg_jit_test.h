/*
 * kg_jit_test.h - what the tests that compile variants in-process share (test_kernels,
 * test_fusion_attention, test_fusion_conv, test_semiring_scan, test_moe_step): paths under the
 * repository root (KGEN_ROOT, set by ctest), a spec loaded beside a JIT compiler, and one variant
 * emitted by `kgen emit --set` and compiled.  Include after <cmocka.h>.
 */
#ifndef KG_JIT_TEST_H
#define KG_JIT_TEST_H

#include <stdio.h>
#include <stdlib.h>

#include "kg_compile.h"
#include "kg_spec.h"

/* rel under the repository root; a static buffer, overwritten by the next call. */
static inline const char *kg_test_path(const char *rel) {
  static char path[4096];
  const char *r = getenv("KGEN_ROOT");
  snprintf(path, sizeof path, "%s/%s", r ? r : ".", rel);
  return path;
}

/* Load the spec at rel (under the root) into *spec and make a compiler in *cc: 0, or -1 with the
 * message on stderr (for a CMocka group set-up). */
static inline int kg_test_load(const char *rel, kg_spec **spec, kg_compiler **cc) {
  kg_ctx ctx = {0};
  if (kg_spec_load(kg_test_path(rel), spec, &ctx) != KG_OK) {
    fprintf(stderr, "spec: %s\n", ctx.msg);
    return -1;
  }
  kg_compile_opts o = {0};
  if (kg_compiler_new(&o, cc, &ctx) != KG_OK) {
    fprintf(stderr, "compiler: %s\n", ctx.msg);
    return -1;
  }
  return 0;
}

/* The variant `set` of the spec at spec_path, emitted by the kgen binary into dir/variant.c and
 * compiled by c; the test fails when either step does.  The module belongs to c. */
static inline kg_module *kg_test_emit_compile(kg_compiler *c, const char *kgen, const char *spec_path, const char *set,
                                              const char *dir) {
  char cmd[8192], path[512];
  snprintf(path, sizeof path, "%s/variant.c", dir);
  snprintf(cmd, sizeof cmd, "'%s' emit '%s' --set %s -o '%s'", kgen, spec_path, set, path);
  assert_int_equal(system(cmd), 0);
  FILE *f = fopen(path, "r");
  assert_non_null(f);
  static char src[1 << 20];
  size_t n = fread(src, 1, sizeof src - 1, f);
  fclose(f);
  assert_true(n > 0 && n < sizeof src - 1);
  src[n] = '\0';
  kg_module *m = NULL;
  kg_ctx ctx = {0};
  kg_status st = kg_compiler_compile(c, set, src, &m, NULL, &ctx);
  if (st != KG_OK) printf("compile %s: %s\n", set, kg_ctx_message(&ctx));
  assert_int_equal(st, KG_OK);
  return m;
}

#endif
