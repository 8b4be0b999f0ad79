/*
 * qmatmul.front.c - the shipped library's kgen_qweight_* and kgen_qmatmul: quantization runs
 * in the first variant (it is the same in all: the weight's layout depends on no tunable), the
 * product in the variant the dispatch runtime (kgen_rt.h) picks for (m, n, k, recipe, g).
 * `kgen ship` prepends KGV_LIST(X) and KGV_TABLE.  Regimes: recipe and group size must match;
 * m == 1 (decode) and m > 1 are never matched with each other.
 */
#include <stdio.h>
#include <string.h>

#include <kgen/kgen.h>

#include "kgen_rt.h"

/* The weight's leading fields, as every variant lays them out (templates/qmatmul.c). */
struct kgen_qweight {
  int64_t n, k, recipe, g;
};

#define KGV_DECL(i, p)                                                                             \
  kgen_qweight *p##kgen_qweight_new(const float *, int64_t, int64_t, const char *);               \
  int p##kgen_qmatmul(const kgen_qweight *, int64_t, const float *, float *);                     \
  void p##kgen_qweight_free(kgen_qweight *);
KGV_LIST(KGV_DECL)

typedef int (*qm_fn)(const kgen_qweight *, int64_t, const float *, float *);
#define KGV_FN(i, p) p##kgen_qmatmul,
static const qm_fn qm_fns[] = {KGV_LIST(KGV_FN)};
#define KGV_NEW(i, p) p##kgen_qweight_new,
static kgen_qweight *(*const qm_new[])(const float *, int64_t, int64_t, const char *) = {KGV_LIST(KGV_NEW)};
#define KGV_FREE(i, p) p##kgen_qweight_free,
static void (*const qm_free[])(kgen_qweight *) = {KGV_LIST(KGV_FREE)};

static int64_t qm_regime(const int64_t *key) { return (key[0] == 1 ? 0 : 1) + 2 * key[3] + 16 * key[4]; }
static const char *const qm_key[] = {"m", "n", "k", "recipe", "g"};
static const unsigned char qm_log2[] = {1, 1, 1, 0, 0};
static const kgr_front qm_front = {5, qm_key, qm_log2, qm_regime};

static int qm_recipe_ok(const char *r) {
  static const char *const ok[] = {"int8wo", "int4wo-32", "int4wo-64", "int4wo-128", "int4wo-256",
                                   "int4wo-32-hqq", "int4wo-64-hqq", "int4wo-128-hqq", "int4wo-256-hqq"};
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
    if (!strcmp(r, ok[i])) return 1;
  return 0;
}

kgen_qweight *kgen_qweight_new(const float *W, int64_t n, int64_t k, const char *recipe) {
  if (!recipe || !qm_recipe_ok(recipe)) {
    kgr_fail(KGEN_ERECIPE, "kgen_qweight_new: unknown recipe '%s' (int8wo, int4wo-<g>, int4wo-<g>-hqq; g = 32, 64, 128, 256)",
             recipe ? recipe : "(null)");
    return NULL;
  }
  if (!W || n < 1 || k < 1 || n > (INT64_C(1) << 31) || k > (INT64_C(1) << 31)) {
    kgr_fail(KGEN_EINVAL, "kgen_qweight_new: %s (n %lld, k %lld)", !W ? "W is NULL" : "bad shape", (long long)n,
             (long long)k);
    return NULL;
  }
  kgen_qweight *w = qm_new[0](W, n, k, recipe);
  if (!w) kgr_fail(KGEN_ENOMEM, "kgen_qweight_new: out of memory for %lld x %lld weights", (long long)n, (long long)k);
  return w;
}

void kgen_qweight_free(kgen_qweight *w) { qm_free[0](w); }

int kgen_qmatmul(const kgen_qweight *w, int64_t m, const float *x, float *y) {
  if (!w || m < 0 || (m > 0 && (!x || !y)))
    return kgr_fail(KGEN_EINVAL, "kgen_qmatmul: %s", !w ? "w is NULL" : m < 0 ? "m < 0" : "x or y is NULL");
  if (m == 0) return KGEN_OK;
  const int64_t key[5] = {m, w->n, w->k, w->recipe, w->g};
  const int v = kgr_choose(&KGV_TABLE, &qm_front, key);
  if (v < 0) return KGEN_ENOVARIANT;
  const int rc = qm_fns[v](w, m, x, y);
  return rc ? kgr_fail(rc, "kgen_qmatmul: %s (variant %s)", kgen_strerror(rc), KGV_TABLE.variants[v].prefix) : KGEN_OK;
}
