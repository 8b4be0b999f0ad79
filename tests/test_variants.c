/*
 * test_variants.c - a property of every shipped spec: every variant of its space (as this
 * machine sees it) compiles and agrees with the template's reference (kg_verify) on small
 * problems that hit the edges (sizes that are not multiples of the tiles, blocks and vectors;
 * every recipe, op and cache shape).  Runs in-process with the JIT; labelled slow.
 */
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kg_abi.h"
#include "kg_compile.h"
#include "kg_machine.h"
#include "kg_spec.h"
#include "kg_template.h"

#define MAX_DIMS 8

/* A small problem: "name=value" pairs, NULL-terminated. */
typedef struct small_problem {
  const char *dims[MAX_DIMS + 1];
} small_problem;

static int cmp_str(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

/* Whether point pt varies only the parameters named in `vary` (NULL: every point counts). */
static bool varies_only(const kg_spec *spec, const int32_t *pt, const char *const *vary) {
  if (!vary) return true;
  for (int i = 0; i < spec->nparams; i++) {
    bool listed = false;
    for (const char *const *v = vary; *v; v++) listed |= strcmp(*v, spec->params[i].name) == 0;
    if (!listed && pt[i] != 0) return false;
  }
  return true;
}

/* Every variant of specs/<kernel>.lua (as `machine` sees it, NULL: this machine; with `vary`,
 * only the points that keep every other parameter at its default) on every problem; returns
 * the variants checked. */
static long check_spec_on(const char *kernel, const kg_machine *machine, const char *const *vary,
                          const small_problem *probs, int nprobs) {
  const char *root = getenv("KGEN_ROOT");
  char path[4096];
  snprintf(path, sizeof path, "%s/specs/%s.lua", root ? root : ".", kernel);
  kg_spec *spec = NULL;
  kg_ctx ctx = {0};
  kg_spec_load_opts lo = {.machine = machine};
  if (kg_spec_load_ex(path, &lo, &spec, &ctx) != KG_OK) fail_msg("%s", ctx.msg);
  long n = 0;
  kg_compiler *cc = NULL;
  kg_compile_opts co = {0};
  assert_int_equal(kg_compiler_new(&co, &cc, &ctx), KG_OK);
  for (size_t v = 0; v < spec->npoints; v++) {
    const int32_t *pt = spec->points + v * (size_t)spec->nparams;
    if (!varies_only(spec, pt, vary)) continue;
    n++;
    char name[1024], *src = NULL;
    kg_spec_format_point(spec, pt, name, sizeof name);
    kg_module *mod = NULL;
    if (kg_template_emit(spec, pt, &src, NULL, &ctx) != KG_OK ||
        kg_compiler_compile(cc, name, src, &mod, NULL, &ctx) != KG_OK)
      fail_msg("%s[%s]: %s", kernel, name, ctx.msg);
    kg_create_fn create = (kg_create_fn)kg_module_sym(mod, "kg_create");
    kg_verify_fn verify = (kg_verify_fn)kg_module_sym(mod, "kg_verify");
    kg_destroy_fn destroy = (kg_destroy_fn)kg_module_sym(mod, "kg_destroy");
    assert_true(create && verify && destroy);
    for (int p = 0; p < nprobs; p++) {
      const char *names[MAX_DIMS];
      int64_t dims[MAX_DIMS];
      char buf[MAX_DIMS][64];
      int nd = 0;
      for (; probs[p].dims[nd]; nd++) snprintf(buf[nd], sizeof buf[nd], "%s", probs[p].dims[nd]);
      char *sorted[MAX_DIMS];
      for (int i = 0; i < nd; i++) sorted[i] = buf[i];
      qsort(sorted, (size_t)nd, sizeof *sorted, cmp_str); /* kg_problem: dimensions sorted by name */
      for (int i = 0; i < nd; i++) {
        char *eq = strchr(sorted[i], '=');
        *eq = '\0';
        names[i] = sorted[i];
        dims[i] = strtoll(eq + 1, NULL, 10);
      }
      kg_problem prob = {nd, names, dims, spec->seed, spec->rtol, spec->atol};
      void *st = create(&prob);
      if (!st) fail_msg("%s[%s] problem %d: kg_create failed", kernel, name, p);
      char msg[1024] = "";
      int rc = verify(st, msg, sizeof msg);
      destroy(st);
      if (rc != 0) fail_msg("%s[%s] problem %d: %s", kernel, name, p, msg);
    }
    kg_module_free(mod);
    free(src);
  }
  printf("# %s%s: %ld variants x %d problems verified\n", kernel, machine ? " (other machine)" : "", n, nprobs);
  kg_compiler_free(cc);
  kg_spec_free(spec);
  return n;
}

static long check_spec(const char *kernel, const small_problem *probs, int nprobs) {
  return check_spec_on(kernel, NULL, NULL, probs, nprobs);
}

static const small_problem gemm_probs[] = {
    {{"m=37", "k=53", "n=70", NULL}},
    {{"m=50", "k=400", "n=97", "beta=1", NULL}}, /* k spans several kc blocks, C accumulates */
    {{"m=1", "k=64", "n=129", NULL}},
};

/* gemm.lua's space holds ~3,000 points here (no pruning constraint left): every microkernel
 * (tile, packing, K-unroll, prefetch) at the default blocking, then every blocking and thread
 * count at the default tile (the streamed path, pack = 2, runs only there: its NC is 192 or
 * 384). */
static void test_gemm(void **state) {
  static const char *const kernels[] = {"mr", "nr", "pack", "ku", "pf", NULL};
  static const char *const blocking[] = {"mc", "kc", "nc", "pack", "threads", NULL};
  assert_true(check_spec_on("gemm", NULL, kernels, gemm_probs, 3) > 0);
  assert_true(check_spec_on("gemm", NULL, blocking, gemm_probs, 3) > 0);
}

/* The AVX2 tiles gemm.lua offers a machine without AVX-512 (tests/machines/avx2_16c.json): each
 * tile, packed and not, at the default blocking and one thread.  This machine compiles them with
 * its own ISA: the 8- and 24-wide ones take the ymm microkernel. */
static void test_gemm_avx2_tiles(void **state) {
  const char *root = getenv("KGEN_ROOT");
  char path[4096];
  snprintf(path, sizeof path, "%s/tests/machines/avx2_16c.json", root ? root : ".");
  kg_machine m;
  kg_ctx ctx = {0};
  if (kg_machine_load(path, &m, &ctx) != KG_OK) fail_msg("%s", ctx.msg);
  static const char *const vary[] = {"mr", "nr", "pack", NULL};
  assert_true(check_spec_on("gemm", &m, vary, gemm_probs, 3) >= 8);
}

static void test_qmatmul(void **state) {
  static const small_problem probs[] = {
      {{"m=1", "k=200", "n=37", "recipe=0", "g=64", NULL}},
      {{"m=3", "k=256", "n=20", "recipe=1", "g=64", NULL}},
      {{"m=1", "k=300", "n=19", "recipe=2", "g=128", NULL}},
  };
  assert_true(check_spec("qmatmul", probs, 3) > 0);
}

static void test_paired_cache(void **state) {
  static const small_problem probs[] = {
      {{"N=512", "hidden=64", "up_cols=48", "gate_cols=0", "m=128", "k=16", NULL}},
      {{"N=512", "hidden=40", "up_cols=33", "gate_cols=24", "m=128", "k=96", NULL}}, /* tau: rebuilds */
  };
  assert_true(check_spec("paired_cache", probs, 2) > 0);
}

static void test_stream(void **state) {
  static const small_problem probs[] = {
      {{"n=4096", "op=0", NULL}},
      {{"n=4000", "op=1", NULL}},
      {{"n=1000", "op=2", "passes=2", NULL}},
      {{"n=4099", "op=3", NULL}},
  };
  assert_true(check_spec("stream", probs, 4) > 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_gemm),         cmocka_unit_test(test_gemm_avx2_tiles), cmocka_unit_test(test_qmatmul),
      cmocka_unit_test(test_paired_cache), cmocka_unit_test(test_stream),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
