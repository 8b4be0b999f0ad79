/*
 * kg_quant.h - weight-only quantization of float32 weights W[n, k] (row-major, one row per
 * output channel), header-only: templates include it (the expander inlines it, so variants
 * stay standalone) and runtime/kg_quant.c exports it as the library API (runtime/kg_quant.h: kg_quant_* over these kgq_* helpers).
 *
 * Recipes and storage (k is padded to `kpad` columns per row; padded weights are 0 codes):
 *   int8      symmetric, one scale per row: W ~ q * scale[row], q in [-127, 127];
 *             q: int8 [n, kpad], kpad = kgq_kpad(k, 64).
 *   int4      asymmetric per group of g weights along k (g a multiple of 32), one scale and one
 *             (float) zero point per group: W ~ (q - zero) * scale, q in [0, 15];
 *             q: uint8 [n, kpad / 2], kpad = kgq_kpad(k, g); scale, zero: [n, kpad / g].
 *             Two weights per byte in blocks of 32 weights (16 bytes): byte i of a block holds
 *             weight i in its low nibble and weight i + 16 in its high nibble (llama.cpp's Q4_0
 *             order), so one 16-byte load unpacks to weights 0..15 and 16..31 in order.
 *   int4 HQQ  same storage; the zero point of each group comes from Half-Quadratic Quantization
 *             (Badri & Shaji 2023, "Half-Quadratic Quantization of Large Machine Learning
 *             Models"): alternate a proximal lp shrinkage (p < 1) of the error
 *             e = shrink(W - dequant(q)) and the closed-form zero update
 *             zero = mean(q - (W - e) / scale), with beta growing by kappa; the scale stays the
 *             min-max one.  The iterate with the lowest squared reconstruction error is kept
 *             (the min-max start included), so HQQ never does worse than min-max in RMSE.
 */
#ifndef KG_QUANT_H
#define KG_QUANT_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/** k rounded up to a multiple of `mult` (the padded row length of the quantized storage). */
static inline int64_t kgq_kpad(int64_t k, int64_t mult) { return (k + mult - 1) / mult * mult; }

/** Symmetric int8 per output channel.  w [n, k]; q [n, kpad] (kpad = kgq_kpad(k, 64)),
 *  scale [n].  An all-zero row gets scale 1. */
static inline void kgq_int8(const float *w, int64_t n, int64_t k, int8_t *q, float *scale) {
  const int64_t kpad = kgq_kpad(k, 64);
  for (int64_t r = 0; r < n; r++) {
    const float *wr = w + r * k;
    float mx = 0.0f;
    for (int64_t t = 0; t < k; t++) mx = fmaxf(mx, fabsf(wr[t]));
    const float s = mx > 0.0f ? mx / 127.0f : 1.0f;
    scale[r] = s;
    for (int64_t t = 0; t < kpad; t++) {
      float v = t < k ? nearbyintf(wr[t] / s) : 0.0f;
      q[r * kpad + t] = (int8_t)fminf(127.0f, fmaxf(-127.0f, v));
    }
  }
}

/* Byte index and shift of weight t of a row in the block-32 nibble order. */
static inline int64_t kgq_nib_byte(int64_t t) { return (t / 32) * 16 + (t % 16); }
static inline int kgq_nib_shift(int64_t t) { return (t % 32) >= 16 ? 4 : 0; }

/** Code of weight t of packed row qr (int4 storage). */
static inline int kgq_int4_get(const uint8_t *qr, int64_t t) {
  return (qr[kgq_nib_byte(t)] >> kgq_nib_shift(t)) & 15;
}

static inline void kgq_int4_set(uint8_t *qr, int64_t t, int v) {
  uint8_t *b = &qr[kgq_nib_byte(t)];
  int sh = kgq_nib_shift(t);
  *b = (uint8_t)((*b & ~(15 << sh)) | ((v & 15) << sh));
}

/* Codes of group [t0, t1) of row wr under (s, z); returns the squared error. */
static inline double kgq_int4_group(const float *wr, int64_t t0, int64_t t1, float s, float z,
                                         uint8_t *qr) {
  double err = 0.0;
  for (int64_t t = t0; t < t1; t++) {
    float v = fminf(15.0f, fmaxf(0.0f, nearbyintf(wr[t] / s + z)));
    if (qr) kgq_int4_set(qr, t, (int)v);
    double d = (double)wr[t] - ((double)v - z) * s;
    err += d * d;
  }
  return err;
}

/* The HQQ proximal operator of |x|^p: sign(x) * max(|x| - |x|^(p-1) / beta, 0). */
static inline float kgq_shrink_lp(float x, float beta, float p) {
  float a = fabsf(x);
  if (a == 0.0f) return 0.0f;
  float r = a - powf(a, p - 1.0f) / beta;
  return r > 0.0f ? copysignf(r, x) : 0.0f;
}

/* HQQ zero-point search for one group (see the header comment); returns the best zero. */
static inline float kgq_hqq_zero(const float *wr, int64_t t0, int64_t t1, float s, float z0) {
  const float p = 0.7f, kappa = 1.01f;
  float beta = 10.0f, z = z0, best_z = z0;
  double best = kgq_int4_group(wr, t0, t1, s, z0, NULL);
  for (int it = 0; it < 20; it++) {
    double acc = 0.0;
    for (int64_t t = t0; t < t1; t++) {
      float qv = fminf(15.0f, fmaxf(0.0f, nearbyintf(wr[t] / s + z)));
      float e = kgq_shrink_lp(wr[t] - (qv - z) * s, beta, p);
      acc += (double)qv - (double)(wr[t] - e) / s;
    }
    z = (float)(acc / (double)(t1 - t0));
    beta *= kappa;
    double err = kgq_int4_group(wr, t0, t1, s, z, NULL);
    if (err < best) {
      best = err;
      best_z = z;
    } else if (it > 2) {
      break; /* early stop: no improvement */
    }
  }
  return best_z;
}

/**
 * Asymmetric int4 per group of g weights (g a multiple of 32), min-max scale and zero, or HQQ's
 * zero when hqq is non-zero.  w [n, k]; q [n, kpad / 2] with kpad = kgq_kpad(k, g);
 * scale, zero [n, kpad / g].  A group with max == min gets scale 1 (its codes are exact).
 */
static inline void kgq_int4(const float *w, int64_t n, int64_t k, int64_t g, int hqq, uint8_t *q,
                                 float *scale, float *zero) {
  const int64_t kpad = kgq_kpad(k, g), ng = kpad / g;
  for (int64_t r = 0; r < n; r++) {
    const float *wr = w + r * k;
    uint8_t *qr = q + r * (kpad / 2);
    memset(qr, 0, (size_t)(kpad / 2));
    for (int64_t gi = 0; gi < ng; gi++) {
      const int64_t t0 = gi * g, t1 = t0 + g < k ? t0 + g : k;
      float s = 1.0f, z = 0.0f;
      if (t0 < t1) {
        float lo = wr[t0], hi = wr[t0];
        for (int64_t t = t0; t < t1; t++) lo = fminf(lo, wr[t]), hi = fmaxf(hi, wr[t]);
        if (hi > lo) {
          s = (hi - lo) / 15.0f;
          z = -lo / s;
        } else {
          s = lo != 0.0f ? fabsf(lo) : 1.0f; /* constant group: code round(lo/s + z) = z + 1 */
          z = lo < 0.0f ? 1.0f : 0.0f;       /* lo < 0 -> code 0 means -s, else code 1 means +s */
          if (lo == 0.0f) z = 0.0f;
        }
        if (hqq && hi > lo) z = kgq_hqq_zero(wr, t0, t1, s, z);
        kgq_int4_group(wr, t0, t1, s, z, qr);
      }
      scale[r * ng + gi] = s;
      zero[r * ng + gi] = z;
    }
  }
}

/** Dequantize int8 storage into out [n, k]. */
static inline void kgq_dequant_int8(const int8_t *q, const float *scale, int64_t n, int64_t k, float *out) {
  const int64_t kpad = kgq_kpad(k, 64);
  for (int64_t r = 0; r < n; r++)
    for (int64_t t = 0; t < k; t++) out[r * k + t] = (float)q[r * kpad + t] * scale[r];
}

/** Dequantize int4 storage (group size g) into out [n, k]. */
static inline void kgq_dequant_int4(const uint8_t *q, const float *scale, const float *zero, int64_t n,
                                   int64_t k, int64_t g, float *out) {
  const int64_t kpad = kgq_kpad(k, g), ng = kpad / g;
  for (int64_t r = 0; r < n; r++)
    for (int64_t t = 0; t < k; t++) {
      const float s = scale[r * ng + t / g], z = zero[r * ng + t / g];
      out[r * k + t] = ((float)kgq_int4_get(q + r * (kpad / 2), t) - z) * s;
    }
}

/** Error of approx against exact over n values: root mean square, max abs, and relative
 *  (||approx - exact||_2 / ||exact||_2; 0 when exact is all zero). */
static inline void kgq_error(const float *exact, const float *approx, size_t n, double *rmse,
                                  double *maxabs, double *rel) {
  double se = 0.0, sx = 0.0, mx = 0.0;
  for (size_t i = 0; i < n; i++) {
    double d = (double)approx[i] - (double)exact[i];
    se += d * d;
    sx += (double)exact[i] * (double)exact[i];
    if (fabs(d) > mx) mx = fabs(d);
  }
  if (rmse) *rmse = n ? sqrt(se / (double)n) : 0.0;
  if (maxabs) *maxabs = mx;
  if (rel) *rel = sx > 0.0 ? sqrt(se / sx) : 0.0;
}

#endif
