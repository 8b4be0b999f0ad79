/*
 * kg_quant.h - weight-only quantization of float32 weights (the library API).
 *
 * Weights W are [n, k] row-major float32, one row per output channel; a matmul with them is
 * y[M, n] = x[M, k] * W^T.  One implementation, shared with the kernel templates: this module
 * wraps the header-only templates/kg_quant.h (kgq_*), which documents the storage layouts:
 *   int8   q int8 [n, kpad] (kpad = kg_quant_kpad(k, 64)), scale [n]:      W ~ q * scale
 *   int4   q uint8 [n, kpad / 2] (kpad = kg_quant_kpad(k, g)), two codes per byte in blocks
 *          of 32 (byte i: weight i low nibble, weight i + 16 high nibble),
 *          scale, zero [n, kpad / g]:                                         W ~ (q - zero) * scale
 * Padded weights have code 0; callers pad activations with zeros to kpad.
 */
#ifndef KG_QUANT_RT_H
#define KG_QUANT_RT_H

#include <stddef.h>
#include <stdint.h>

#include "kg_status.h"

/** k rounded up to a multiple of mult: the padded row length of a storage. */
int64_t kg_quant_kpad(int64_t k, int64_t mult);

/**
 * Symmetric int8 with one scale per output channel (absmax / 127).  w [n, k]; q [n, kpad],
 * kpad = kg_quant_kpad(k, 64); scale [n].  Errors: KG_EINVAL (n or k < 1, NULL buffers).
 */
kg_status kg_quant_int8(const float *w, int64_t n, int64_t k, int8_t *q, float *scale);

/**
 * Asymmetric int4 per group of g weights along k, min-max scale and zero point.  g a multiple of
 * 32 (32, 64, 128, 256 are the usual ones); k need not be a multiple of g (the last group is
 * partial).  w [n, k]; q [n, kpad / 2], kpad = kg_quant_kpad(k, g); scale, zero [n, kpad / g].
 * Errors: KG_EINVAL.
 */
kg_status kg_quant_int4(const float *w, int64_t n, int64_t k, int64_t g, uint8_t *q, float *scale,
                        float *zero);

/**
 * As kg_quant_int4, with each group's zero point from HQQ (Badri & Shaji 2023, "Half-Quadratic
 * Quantization of Large Machine Learning Models"; lp shrinkage p = 0.7, beta from 10 growing by
 * kappa = 1.01, up to 20 iterations with early stop).  The best iterate in squared error is
 * kept, the min-max start included: the RMSE is never above kg_quant_int4's.  Errors: KG_EINVAL.
 */
kg_status kg_quant_int4_hqq(const float *w, int64_t n, int64_t k, int64_t g, uint8_t *q,
                            float *scale, float *zero);

/** Dequantize int8 storage into out [n, k]. */
void kg_dequant_int8(const int8_t *q, const float *scale, int64_t n, int64_t k, float *out);

/** Dequantize int4 storage (group size g) into out [n, k]. */
void kg_dequant_int4(const uint8_t *q, const float *scale, const float *zero, int64_t n, int64_t k,
                     int64_t g, float *out);

/**
 * Error of approx against exact over n values: *rmse (root mean square), *maxabs (largest
 * |approx - exact|), *rel (||approx - exact||_2 / ||exact||_2, 0 for an all-zero exact).
 * Any output pointer may be NULL.
 */
void kg_quant_error(const float *exact, const float *approx, size_t n, double *rmse, double *maxabs,
                    double *rel);

#endif
