/* qmatmul: the public API of templates/qmatmul.c (part of kgen/kgen.h). */
#ifdef __cplusplus
extern "C" {
#endif

/** A weight quantized once (opaque). */
typedef struct kgen_qweight kgen_qweight;

/** Weight-only quantized linear layer: quantize W[n,k] (PyTorch's Linear layout; read during
 *  the call only).  recipe: "int8wo", "int4wo-<g>", "int4wo-<g>-hqq" (g = 32, 64, 128, 256).
 *  NULL on a bad recipe or shape or no memory, with the reason in kgen_last_error(). */
kgen_qweight *kgen_qweight_new(const float *W, int64_t n, int64_t k, const char *recipe);

/** y[m,n] = x[m,k] * W^T.  KGEN_EINVAL on NULL or m < 0. */
int kgen_qmatmul(const kgen_qweight *w, int64_t m, const float *x, float *y);

/** Free w (NULL: nothing). */
void kgen_qweight_free(kgen_qweight *w);

#ifdef __cplusplus
}
#endif
