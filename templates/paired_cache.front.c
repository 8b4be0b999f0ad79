/*
 * paired_cache.front.c - the shipped library's kgen_paired_cache_*: the cache's layout depends
 * on no tunable, so creation and the readers run in the first variant, and each update in the
 * variant the dispatch runtime (kgen_rt.h) picks for the update's k and the gate pool's
 * presence (every variant gives the same slot order).  `kgen ship` prepends KGV_LIST(X) and
 * KGV_TABLE.
 */
#include <kgen/kgen.h>

#include "kgen_rt.h"

#define KGV_DECL(i, p)                                                                             \
  kgen_paired_cache *p##kgen_paired_cache_new(int64_t, int64_t, int64_t, int64_t, const float *,   \
                                              const float *, const float *);                      \
  int64_t p##kg_pc_update_k(const kgen_paired_cache *, const uint8_t *);                          \
  int p##kg_pc_update_checked(kgen_paired_cache *, const uint8_t *);                              \
  int64_t p##kgen_paired_cache_size(const kgen_paired_cache *);                                   \
  const float *p##kgen_paired_cache_concat(const kgen_paired_cache *);                            \
  const float *p##kgen_paired_cache_down_t(const kgen_paired_cache *);                            \
  const int32_t *p##kgen_paired_cache_indices(const kgen_paired_cache *);                         \
  void p##kgen_paired_cache_free(kgen_paired_cache *);
KGV_LIST(KGV_DECL)

/* The first variant's entry points (creation, readers, the mask check). */
#define KGV_UPD(i, p) p##kg_pc_update_checked,
static int (*const pc_update_fns[])(kgen_paired_cache *, const uint8_t *) = {KGV_LIST(KGV_UPD)};
#define KGV_NEW(i, p) p##kgen_paired_cache_new,
static kgen_paired_cache *(*const pc_new[])(int64_t, int64_t, int64_t, int64_t, const float *, const float *,
                                            const float *) = {KGV_LIST(KGV_NEW)};
#define KGV_K(i, p) p##kg_pc_update_k,
static int64_t (*const pc_k[])(const kgen_paired_cache *, const uint8_t *) = {KGV_LIST(KGV_K)};
#define KGV_SIZE(i, p) p##kgen_paired_cache_size,
static int64_t (*const pc_size[])(const kgen_paired_cache *) = {KGV_LIST(KGV_SIZE)};
#define KGV_CONCAT(i, p) p##kgen_paired_cache_concat,
static const float *(*const pc_concat[])(const kgen_paired_cache *) = {KGV_LIST(KGV_CONCAT)};
#define KGV_DOWN(i, p) p##kgen_paired_cache_down_t,
static const float *(*const pc_down[])(const kgen_paired_cache *) = {KGV_LIST(KGV_DOWN)};
#define KGV_IDX(i, p) p##kgen_paired_cache_indices,
static const int32_t *(*const pc_idx[])(const kgen_paired_cache *) = {KGV_LIST(KGV_IDX)};
#define KGV_FREE(i, p) p##kgen_paired_cache_free,
static void (*const pc_free[])(kgen_paired_cache *) = {KGV_LIST(KGV_FREE)};

/* The cache's leading fields, as every variant lays them out (templates/paired_cache.c). */
struct kgen_paired_cache {
  int64_t N, hidden, up_cols, gate_cols;
};

static int64_t pc_regime(const int64_t *key) { return key[1] > 0; }
static const char *const pc_key[] = {"k", "gate_cols"};
static const unsigned char pc_log2[] = {1, 0};
static const kgr_front pc_front = {2, pc_key, pc_log2, pc_regime};

kgen_paired_cache *kgen_paired_cache_new(int64_t N, int64_t hidden, int64_t up_cols, int64_t gate_cols,
                                         const float *up, const float *down_t, const float *gate) {
  if (N < 1 || N > INT32_MAX || hidden < 1 || up_cols < 1 || gate_cols < 0) {
    kgr_fail(KGEN_EINVAL, "kgen_paired_cache_new: bad size (N %lld, hidden %lld, up_cols %lld, gate_cols %lld)",
             (long long)N, (long long)hidden, (long long)up_cols, (long long)gate_cols);
    return NULL;
  }
  if (!up || !down_t || (gate_cols > 0 && !gate)) {
    kgr_fail(KGEN_EINVAL, "kgen_paired_cache_new: NULL %s pool", !up ? "up" : !down_t ? "down_t" : "gate");
    return NULL;
  }
  kgen_paired_cache *c = pc_new[0](N, hidden, up_cols, gate_cols, up, down_t, gate);
  if (!c) kgr_fail(KGEN_ENOMEM, "kgen_paired_cache_new: out of memory (N %lld)", (long long)N);
  return c;
}

int kgen_paired_cache_update(kgen_paired_cache *c, const uint8_t *mask) {
  if (!c || !mask) return kgr_fail(KGEN_EINVAL, "kgen_paired_cache_update: NULL %s", !c ? "cache" : "mask");
  const int64_t k = pc_k[0](c, mask);
  if (k < 0) return kgr_fail(KGEN_EINVAL, "kgen_paired_cache_update: a mask value is neither 0 nor 1");
  /* The key: the update's k, rounded to a power of two so the choice cache stays small. */
  int64_t kk = 1;
  while (kk < k) kk <<= 1;
  const int64_t key[2] = {kk, c->gate_cols};
  const int v = kgr_choose(&KGV_TABLE, &pc_front, key);
  if (v < 0) return KGEN_ENOVARIANT;
  const int rc = pc_update_fns[v](c, mask);
  return rc ? kgr_fail(rc, "kgen_paired_cache_update: %s", kgen_strerror(rc)) : KGEN_OK;
}

int64_t kgen_paired_cache_size(const kgen_paired_cache *c) { return pc_size[0](c); }
const float *kgen_paired_cache_concat(const kgen_paired_cache *c) { return pc_concat[0](c); }
const float *kgen_paired_cache_down_t(const kgen_paired_cache *c) { return pc_down[0](c); }
const int32_t *kgen_paired_cache_indices(const kgen_paired_cache *c) { return pc_idx[0](c); }
void kgen_paired_cache_free(kgen_paired_cache *c) { pc_free[0](c); }
