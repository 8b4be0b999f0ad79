/* gemm: the public API of templates/gemm.c (part of kgen/kgen.h). */
#ifdef __cplusplus
extern "C" {
#endif

/** fp32 GEMM, row-major: C[m,n] = alpha * A[m,k] * B[k,n] + beta * C[m,n]; leading dimensions in
 *  elements (lda >= k, ldb >= n, ldc >= n); beta == 0 never reads C.  Any m, n, k >= 0.
 *  KGEN_EINVAL on a negative size, NULL pointer or too small leading dimension. */
int kgen_sgemm(int64_t m, int64_t n, int64_t k, float alpha, const float *A, int64_t lda,
               const float *B, int64_t ldb, float beta, float *C, int64_t ldc);

#ifdef __cplusplus
}
#endif
