/*
 * gemm.front.c - the shipped library's kgen_sgemm: checks the call, asks the dispatch runtime
 * (kgen_rt.h) for a variant keyed by (m, n, k) and calls it.  `kgen ship` prepends KGV_LIST(X)
 * (X(index, prefix) per shipped variant) and KGV_TABLE (this kernel's generated tables).
 * Regimes: m == 1 (a matrix-vector product) and m > 1 are never matched with each other.
 */
#include <kgen/kgen.h>

#include "kgen_rt.h"

#define KGV_DECL(i, p)                                                                             \
  int p##kgen_sgemm(int64_t, int64_t, int64_t, float, const float *, int64_t, const float *,       \
                    int64_t, float, float *, int64_t);
KGV_LIST(KGV_DECL)

typedef int (*gemm_fn)(int64_t, int64_t, int64_t, float, const float *, int64_t, const float *, int64_t,
                       float, float *, int64_t);
#define KGV_FN(i, p) p##kgen_sgemm,
static const gemm_fn gemm_fns[] = {KGV_LIST(KGV_FN)};

static int64_t gemm_regime(const int64_t *key) { return key[0] == 1 ? 0 : 1; }
static const char *const gemm_key[] = {"m", "n", "k"};
static const unsigned char gemm_log2[] = {1, 1, 1};
static const kgr_front gemm_front = {3, gemm_key, gemm_log2, gemm_regime};

int kgen_sgemm(int64_t m, int64_t n, int64_t k, float alpha, const float *A, int64_t lda,
               const float *B, int64_t ldb, float beta, float *C, int64_t ldc) {
  if (m < 0 || n < 0 || k < 0)
    return kgr_fail(KGEN_EINVAL, "kgen_sgemm: negative size (m %lld, n %lld, k %lld)", (long long)m,
                    (long long)n, (long long)k);
  if (m == 0 || n == 0) return KGEN_OK;
  if (!C || (k > 0 && (!A || !B)))
    return kgr_fail(KGEN_EINVAL, "kgen_sgemm: NULL %s", !C ? "C" : !A ? "A" : "B");
  if (ldc < n || (k > 0 && (lda < k || ldb < n)))
    return kgr_fail(KGEN_EINVAL, "kgen_sgemm: leading dimension too small (lda %lld < k %lld, ldb %lld or ldc %lld < n %lld)",
                    (long long)lda, (long long)k, (long long)ldb, (long long)ldc, (long long)n);
  const int64_t key[3] = {m, n, k};
  const int v = kgr_choose(&KGV_TABLE, &gemm_front, key);
  if (v < 0) return KGEN_ENOVARIANT;
  const int rc = gemm_fns[v](m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
  return rc ? kgr_fail(rc, "kgen_sgemm: %s (variant %s)", kgen_strerror(rc), KGV_TABLE.variants[v].prefix) : KGEN_OK;
}
