/*
 * qmatmul.c - weight-only quantized matmul y[M, n] = x[M, k] * W^T, fp32 activations, weights
 * W[n, k] stored quantized (kg_quant.h): recipe 0 int8 per channel, 1 int4 min-max per group
 * of g, 2 int4 HQQ per group of g.  Problem dimensions: m (M), k, n, recipe, g (int4 only).
 *
 * Kernels dequantize on the fly, one output channel row at a time (NB rows per iteration share
 * the activation loads), threads split the output channels:
 *   PATH fma   codes -> fp32, FMA with x; int4 groups fold the zero point as
 *              s * (sum x q - z * sum x), with the group sums of x computed once per call.
 *   PATH vnni  x is quantized per row to int8 (symmetric, absmax / 127) once per call, and the
 *              dot products run on AVX-512 VNNI vpdpbusd: int4 codes (u8) x int8 activations,
 *              128 codes (a 64-byte load, two nibble masks) per step, the activations reordered
 *              to match once per call, the zero points' share once per row; int8 weights (s8) x
 *              (x + 128) (u8) with the 128 * sum(q) correction precomputed per row at create time.
 *   PATH maddubs   the vnni path's int8 activations on AVX2 (no VNNI): vpdpbusd emulated by
 *              vpmaddubsw + vpmaddwd (llama.cpp's ggml AVX2 dot products); int8 weights move
 *              their sign onto the activations (vpsignb) so the unsigned operand is |q|.
 * Without AVX-512 the fma path runs on AVX2 + FMA (8 lanes); builds with neither (and PATH vnni
 * without VNNI) use the portable loops.
 *
 * Verification: reference y in double from the dequantized weights (the exact quantized op);
 * tolerance 5e-5 relative to sum |x| |w| plus, for vnni and maddubs, the activation rounding bound
 * 0.5 * sx * sum |w| per output.  Accuracy against fp32 weights is the quantizer's business:
 * tests/test_quant.c.  The state (weights, quantized copies, workspace for the quantized
 * activations) is sized by the problem only: every variant runs on one state.
 * Baselines: OpenBLAS sgemv (M = 1) or sgemm on the dequantized fp32 weights, default
 * dispatch and SkylakeX instance, 1 and 2 threads (kg_blas.h).
 */
#ifndef KG_PUBLIC_ONLY
#include "kg_blas.h"
#endif
#include "kg_quant.h"
#include "kg_util.h"

#include <pthread.h>

#include <stdint.h>
#include <string.h>
#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif
#ifdef _OPENMP
#include <omp.h>
#endif

#ifndef PATH /* the expander defines PATH and PATH_<value> from the spec's enum */
#define PATH_vnni 0
#define PATH_fma 1
#define PATH PATH_fma
#endif
#ifndef NB
#define NB 1
#endif
#ifndef THREADS
#define THREADS 1
#endif
#ifndef PF
#define PF 1
#endif

#if PATH == PATH_vnni && defined(__AVX512VNNI__) && defined(__AVX512VL__) && defined(__AVX512BW__)
#define QM_VNNI 1
#else
#define QM_VNNI 0
#endif
#if defined(PATH_maddubs) && PATH == PATH_maddubs && !QM_VNNI && defined(__AVX2__) && defined(__FMA__)
#define QM_MADDUBS 1
#else
#define QM_MADDUBS 0
#endif
/* int8-quantized activations: the VNNI path and its AVX2 emulation */
#define QM_XQ (QM_VNNI || QM_MADDUBS)

/* The public quantized weight (kgen/kgen.h's opaque kgen_qweight); its layout depends on no
 * tunable, so any variant multiplies any weight. */
typedef struct kgen_qweight {
  int64_t n, k, recipe, g, kpad, ng; /* recipe 0 int8 (g = 64: row padding), 1 int4, 2 int4 HQQ */
  int8_t *q8;     /* [n, kpad] int8 codes (recipe 0) */
  int32_t *q8sum; /* [n] sum of codes per row (recipe 0) */
  uint8_t *q4;    /* [n, kpad / 2] int4 codes (recipes 1, 2) */
  float *scale;   /* [n] (int8) or [n, ng] (int4) */
  float *zero;    /* [n, ng] (int4) */
} kgen_qweight;

/* Per-call workspace, grown to the call's M (never shrunk). */
typedef struct qm_ws {
  int64_t M;      /* rows it holds */
  float *x;       /* [M, kpad] zero-padded activations (when k < kpad) */
  int8_t *xq;     /* [M, kpad] quantized activations (vnni) */
  uint8_t *xu;    /* [M, kpad] xq + 128 (vnni, int8 weights) */
  float *xs;      /* [M] activation scale (vnni) */
  float *xg;      /* [M, ng] sum of x per group (fma), [M, ng, 8] lane sums of xq (maddubs; vnni
                   * when kpad % 128 != 0), or sums of xq per group in [i, 0..ng) of it (vnni) */
  int64_t kpad, ng;
} qm_ws;

/* One call: what the kernels read (the weight's fields, the activations, the workspace). */
typedef struct qm_call {
  int64_t M, k, n, recipe, g, kpad, ng;
  const float *x; /* [M, kpad] */
  const int8_t *q8;
  const int32_t *q8sum;
  const uint8_t *q4;
  const float *scale, *zero;
  float *y;       /* [M, n] */
  int8_t *xq;
  uint8_t *xu;
  float *xs, *xg;
} qm_call;

/* ---- per-call activation preparation ------------------------------------------------------ */

static void qm_prepare(const qm_call *s) {
  const int64_t kpad = s->kpad, ng = s->ng, g = s->g;
  for (int64_t i = 0; i < s->M; i++) {
    const float *x = s->x + i * kpad;
#if QM_XQ
    /* (kpad is a multiple of 32: int8 rows pad to 64, int4 groups are >= 32) */
    __m256 vmx = _mm256_setzero_ps();
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (int64_t t = 0; t < kpad; t += 8) vmx = _mm256_max_ps(vmx, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + t)));
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(vmx), _mm256_extractf128_ps(vmx, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    const float mx = _mm_cvtss_f32(_mm_max_ss(h, _mm_movehdup_ps(h)));
    const float sx = mx > 0.0f ? mx / 127.0f : 1.0f, inv = 1.0f / sx;
    s->xs[i] = sx;
    int8_t *xq = s->xq + i * kpad;
    /* round to nearest even (cvtps under the default rounding, as nearbyintf), pack to bytes:
     * the packs interleave 128-bit lanes, the permute restores the order */
    const __m256 vinv = _mm256_set1_ps(inv);
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7), bias = _mm256_set1_epi8((char)0x80);
    for (int64_t t = 0; t < kpad; t += 32) {
      __m256i q[4];
      for (int u = 0; u < 4; u++) q[u] = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + t + 8 * u), vinv));
      const __m256i b = _mm256_permutevar8x32_epi32(
          _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3])), order);
      _mm256_storeu_si256((__m256i *)(xq + t), b);
      _mm256_storeu_si256((__m256i *)(s->xu + i * kpad + t), _mm256_xor_si256(b, bias));
    }
#if QM_MADDUBS
    if (s->recipe != 0 && g % 64 == 0) /* the int4 loop's 64-code order: bytes 16..31 and 32..47 swap */
      for (int64_t t = 0; t < kpad; t += 64) {
        const __m128i a = _mm_loadu_si128((const __m128i *)(xq + t + 16)), b = _mm_loadu_si128((const __m128i *)(xq + t + 32));
        _mm_storeu_si128((__m128i *)(xq + t + 16), b);
        _mm_storeu_si128((__m128i *)(xq + t + 32), a);
      }
#endif
#if QM_VNNI
    if (s->recipe != 0 && kpad % 128 == 0) {
      /* group totals of xq, [ng] at the start of the row's [ng, 8] (before the reorder below,
       * which crosses groups of 32 and 64) */
      for (int64_t gi = 0; gi < ng; gi++) {
        __m512i v = _mm512_setzero_si512();
        for (int64_t c = gi * g; c < gi * g + g; c += 16)
          v = _mm512_add_epi32(v, _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(xq + c))));
        s->xg[i * ng * 8 + gi] = (float)_mm512_reduce_add_epi32(v);
      }
      /* the int4 zmm loop's order: per 128 codes, the low nibbles' codes (32 b + j at 16 b + j,
       * b < 4, j < 16), then the high nibbles' (32 b + 16 + j): 16-byte chunks 0 2 4 6 1 3 5 7 */
      for (int64_t t = 0; t < kpad; t += 128) {
        __m128i c[8];
        for (int u = 0; u < 8; u++) c[u] = _mm_loadu_si128((const __m128i *)(xq + t + 16 * u));
        for (int u = 0; u < 4; u++) {
          _mm_storeu_si128((__m128i *)(xq + t + 16 * u), c[2 * u]);
          _mm_storeu_si128((__m128i *)(xq + t + 64 + 16 * u), c[2 * u + 1]);
        }
      }
    } else
#endif
    if (s->recipe != 0) /* per group and lane (any order within the group: only the sum counts) */
      for (int64_t gi = 0; gi < ng; gi++)
        for (int l = 0; l < 8; l++) {
          int32_t sum = 0;
          for (int64_t c = gi * g; c < gi * g + g; c += 32)
            for (int b = 0; b < 4; b++) sum += xq[c + l * 4 + b];
          s->xg[(i * ng + gi) * 8 + l] = (float)sum;
        }
#else
    if (s->recipe != 0)
      for (int64_t gi = 0; gi < ng; gi++) {
        float sum = 0.0f;
        for (int64_t t = gi * g; t < gi * g + g; t++) sum += x[t];
        s->xg[i * ng + gi] = sum;
      }
#endif
  }
}

#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
static inline float qm_hsum8(__m256 v) {
  __m128 a = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  a = _mm_add_ps(a, _mm_movehl_ps(a, a));
  a = _mm_add_ss(a, _mm_movehdup_ps(a));
  return _mm_cvtss_f32(a);
}
#endif

/* ---- kernels: rows r0, r0 + rs, ... (nb of them) of W against activation row i ---------- */

/* Rows shorter than a 4 KB page share pages: adjacent rows of one block would read a page as two
 * streams at once, which the L2 streamer (one stream per page) follows poorly.  Instead the S =
 * qm_page_rows() blocks of a super-block of NB * S rows take rows S apart, one phase after the
 * other, so each page is read in ascending order (its first row, then the next).  Measured on int4
 * k = 4096 (2 KB rows), 8 MB cold, 2 threads, the same loop alone: 17.2 GB/s row-adjacent with
 * prefetch, 21.6 in page order, against 20.9 for a plain read.  The weight layout is unchanged. */
#define QM_PAGE 4096
static int64_t qm_page_rows(const qm_call *s) {
  const int64_t rbytes = s->recipe == 0 ? s->kpad : s->kpad / 2;
  return rbytes < QM_PAGE && QM_PAGE % rbytes == 0 ? QM_PAGE / rbytes : 1;
}

/* Rows r0, r0 + rs, ..., nb of them (QR(r)); with PF, the block rn, rn + rs, ... (rn < 0: none)
 * is prefetched into L2 a slice at a time.  (Always inlined: a full block's nb = NB is a constant
 * there, and the r < nb tests vanish.) */
static inline __attribute__((always_inline)) void qm_rows(const qm_call *s, int64_t i, int64_t r0, int64_t rs, int64_t rn,
                                                          int nb) {
#define QR(r) (r0 + (int64_t)(r) * rs)
#define QM_PF_ROWS(base, stride, lo, hi) /* bytes [lo, hi) of the next block's rows */            \
  if (PF && rn >= 0)                                                                        \
    for (int r = 0; r < NB && rn + r * rs < s->n; r++)                                      \
      for (int64_t o = (lo); o < (hi); o += 64) _mm_prefetch((const char *)(base) + (rn + r * rs) * (stride) + o, _MM_HINT_T1)
  /* int4: the next block's scales and zero points, whole rows of them: NB short streams the
   * hardware prefetcher finds late */
#define QM_PF_GROUPS()                                                                             \
  do {                                                                                             \
    QM_PF_ROWS(s->scale, ng * 4, 0, ng * 4);                                                       \
    QM_PF_ROWS(s->zero, ng * 4, 0, ng * 4);                                                        \
  } while (0)
  (void)rn; /* unused by some paths */
  const int64_t kpad = s->kpad, ng = s->ng, g = s->g;
  const float *x = s->x + i * kpad;
  float *y = s->y + i * s->n;
  (void)x, (void)g; /* unused by some paths */
  if (s->recipe == 0) {
#if QM_VNNI
    const uint8_t *xu = s->xu + i * kpad;
    __m512i acc[NB];
    for (int r = 0; r < NB; r++) acc[r] = _mm512_setzero_si512();
    for (int64_t t = 0; t < kpad; t += 64) {
      QM_PF_ROWS(s->q8, kpad, t, t + 64); /* the next block's rows into L2, as the int4 path */
      __m512i xv = _mm512_loadu_si512(xu + t);
      for (int r = 0; r < NB; r++)
        if (r < nb) acc[r] = _mm512_dpbusd_epi32(acc[r], xv, _mm512_loadu_si512(s->q8 + QR(r) * kpad + t));
    }
    for (int r = 0; r < nb; r++) {
      int32_t d = _mm512_reduce_add_epi32(acc[r]) - 128 * s->q8sum[QR(r)];
      y[QR(r)] = (float)d * s->xs[i] * s->scale[QR(r)];
    }
#elif QM_MADDUBS
    /* llama.cpp's AVX2 int8 dot product: vpmaddubsw takes an unsigned operand, so the weight's
     * sign moves onto the activation: |q| (u8) x sign(q) xq (s8), pairs <= 2 * 127 * 128 < 2^15 */
    const int8_t *xq = s->xq + i * kpad;
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i acc[NB];
    for (int r = 0; r < NB; r++) acc[r] = _mm256_setzero_si256();
    for (int64_t t = 0; t < kpad; t += 32) {
      if (t % 64 == 0) /* the next block's rows into L2, as the int4 path below */
        QM_PF_ROWS(s->q8, kpad, t, t + 64);
      const __m256i xv = _mm256_loadu_si256((const __m256i *)(xq + t));
      for (int r = 0; r < NB; r++)
        if (r < nb) {
          const __m256i q = _mm256_loadu_si256((const __m256i *)(s->q8 + QR(r) * kpad + t));
          const __m256i p = _mm256_maddubs_epi16(_mm256_abs_epi8(q), _mm256_sign_epi8(xv, q));
          acc[r] = _mm256_add_epi32(acc[r], _mm256_madd_epi16(p, ones));
        }
    }
    for (int r = 0; r < nb; r++) {
      __m128i h = _mm_add_epi32(_mm256_castsi256_si128(acc[r]), _mm256_extracti128_si256(acc[r], 1));
      h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0x4e));
      h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0xb1));
      y[QR(r)] = (float)_mm_cvtsi128_si32(h) * s->xs[i] * s->scale[QR(r)];
    }
#elif defined(__AVX512F__)
    __m512 acc[NB];
    for (int r = 0; r < NB; r++) acc[r] = _mm512_setzero_ps();
    for (int64_t t = 0; t < kpad; t += 16) {
      __m512 xv = _mm512_loadu_ps(x + t);
      for (int r = 0; r < NB; r++)
        if (r < nb) {
          __m128i q = _mm_loadu_si128((const __m128i *)(s->q8 + QR(r) * kpad + t));
          acc[r] = _mm512_fmadd_ps(xv, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q)), acc[r]);
        }
    }
    for (int r = 0; r < nb; r++) y[QR(r)] = _mm512_reduce_add_ps(acc[r]) * s->scale[QR(r)];
#elif defined(__AVX2__) && defined(__FMA__)
    __m256 acc[NB];
    for (int r = 0; r < NB; r++) acc[r] = _mm256_setzero_ps();
    for (int64_t t = 0; t < kpad; t += 8) {
      __m256 xv = _mm256_loadu_ps(x + t);
      for (int r = 0; r < NB; r++)
        if (r < nb) {
          __m128i q = _mm_loadl_epi64((const __m128i *)(s->q8 + QR(r) * kpad + t));
          acc[r] = _mm256_fmadd_ps(xv, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q)), acc[r]);
        }
    }
    for (int r = 0; r < nb; r++) y[QR(r)] = qm_hsum8(acc[r]) * s->scale[QR(r)];
#else
    for (int r = 0; r < nb; r++) {
      float acc = 0.0f;
      for (int64_t t = 0; t < kpad; t++) acc += x[t] * (float)s->q8[QR(r) * kpad + t];
      y[QR(r)] = acc * s->scale[QR(r)];
    }
#endif
    return;
  }
  /* int4 */
  const int64_t rb = kpad / 2;
#if QM_XQ
  /* 32 codes per step: byte j holds codes j (low nibble) and 16 + j (high), against xq[t..t+32);
   * the products of 4 adjacent bytes sum into one int32 lane (vpdpbusd).  On AVX2 vpmaddubsw sums
   * pairs into int16 lanes (codes <= 15, |xq| <= 127: a pair <= 3810), which add up over the
   * group (g <= 256: 8 steps, <= 30480 < 2^15) before one vpmaddwd by ones per group. */
  const int8_t *xq = s->xq + i * kpad;
#if QM_VNNI
  if (kpad % 128 == 0) {
    /* 128 codes per step: 64 bytes of a row, low nibbles against xq[t..t+64), high nibbles against
     * xq[t+64..t+128) (qm_prepare's order), so lanes 4 b..4 b+3 hold codes 32 b..32 b+31 of the
     * step.  A unit of max(g, 128) codes sums in int32, then one convert and one FMA by the scale
     * of each lane's group (a broadcast for g >= 128; g = 32 and 64 spread 4 or 2 groups' scales
     * over the lanes); the zero point's share, sum over groups of scale * zero * sum xq, once per
     * row at the end. */
    const float *xt = s->xg + i * ng * 8;
    const __m512i m4 = _mm512_set1_epi8(15);
    const int64_t unit = g > 128 ? g : 128, gpu = 128 / g; /* groups per unit when g < 128 */
    const __m512i spread = _mm512_srli_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                             g == 32 ? 2 : 3); /* lane -> group within the unit */
    __m512 facc[NB];
    for (int r = 0; r < NB; r++) facc[r] = _mm512_setzero_ps();
    QM_PF_GROUPS();
    for (int64_t u0 = 0, ui = 0; u0 < kpad; u0 += unit, ui++) {
      QM_PF_ROWS(s->q4, rb, u0 / 2, (u0 + unit) / 2);
      __m512i acc[NB];
      for (int r = 0; r < NB; r++) acc[r] = _mm512_setzero_si512();
      for (int64_t t = u0; t < u0 + unit; t += 128) {
        const __m512i xlo = _mm512_loadu_si512(xq + t), xhi = _mm512_loadu_si512(xq + t + 64);
        for (int r = 0; r < NB; r++)
          if (r < nb) {
            const __m512i w = _mm512_loadu_si512(s->q4 + QR(r) * rb + t / 2);
            acc[r] = _mm512_dpbusd_epi32(acc[r], _mm512_and_si512(w, m4), xlo);
            acc[r] = _mm512_dpbusd_epi32(acc[r], _mm512_and_si512(_mm512_srli_epi16(w, 4), m4), xhi);
          }
      }
      for (int r = 0; r < NB; r++)
        if (r < nb) {
          const float *sc = s->scale + QR(r) * ng;
          const __m512 sv = g >= 128 ? _mm512_set1_ps(sc[ui]) /* unit == g: unit ui is group ui */
                                     : _mm512_permutexvar_ps(spread, _mm512_maskz_loadu_ps((__mmask16)((1u << gpu) - 1), sc + ui * gpu));
          facc[r] = _mm512_fmadd_ps(sv, _mm512_cvtepi32_ps(acc[r]), facc[r]);
        }
    }
    for (int r = 0; r < nb; r++) {
      const float *sc = s->scale + QR(r) * ng, *zp = s->zero + QR(r) * ng;
      __m512 cv = _mm512_setzero_ps();
      int64_t gi = 0;
      for (; gi + 16 <= ng; gi += 16)
        cv = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_loadu_ps(sc + gi), _mm512_loadu_ps(zp + gi)), _mm512_loadu_ps(xt + gi), cv);
      float corr = _mm512_reduce_add_ps(cv);
      for (; gi < ng; gi++) corr += sc[gi] * zp[gi] * xt[gi];
      y[QR(r)] = (_mm512_reduce_add_ps(facc[r]) - corr) * s->xs[i];
    }
    return;
  }
#endif
#if QM_MADDUBS
  const __m256i ones = _mm256_set1_epi16(1);
#define QM_DPBUSD(acc, u, v) _mm256_add_epi16((acc), _mm256_maddubs_epi16((u), (v)))
#define QM_DOT32(acc) _mm256_madd_epi16((acc), ones)
#else
#define QM_DPBUSD(acc, u, v) _mm256_dpbusd_epi32((acc), (u), (v))
#define QM_DOT32(acc) (acc)
#endif
  const float *xg = s->xg + i * ng * 8;
  const __m256i m4 = _mm256_set1_epi8(15);
  __m256 facc[NB];
  for (int r = 0; r < NB; r++) facc[r] = _mm256_setzero_ps();
  /* PF: the next block's rows prefetched into L2, a group's slice at a time: the rows of a block
   * are NB short streams the hardware prefetcher picks up late */
  QM_PF_GROUPS();
  for (int64_t gi = 0; gi < ng; gi++) {
    QM_PF_ROWS(s->q4, rb, gi * g / 2, (gi + 1) * g / 2);
    __m256i acc[NB];
    for (int r = 0; r < NB; r++) acc[r] = _mm256_setzero_si256();
#if QM_MADDUBS
    /* 64 codes per step when groups allow: 32 bytes hold codes j (low nibbles of bytes 0..15),
     * 32 + j (low, 16..31), 16 + j and 48 + j (the high nibbles), against xq in that order
     * (qm_prepare): a load, two masks and a shift per 64 codes instead of two inserts */
    if (g % 64 == 0) {
      for (int64_t t = gi * g; t < gi * g + g; t += 64) {
        const __m256i x0 = _mm256_loadu_si256((const __m256i *)(xq + t)), x1 = _mm256_loadu_si256((const __m256i *)(xq + t + 32));
        for (int r = 0; r < NB; r++)
          if (r < nb) {
            const __m256i w = _mm256_loadu_si256((const __m256i *)(s->q4 + QR(r) * rb + t / 2));
            const __m256i lo = _mm256_and_si256(w, m4), hi = _mm256_and_si256(_mm256_srli_epi16(w, 4), m4);
            acc[r] = _mm256_add_epi16(acc[r], _mm256_add_epi16(_mm256_maddubs_epi16(lo, x0), _mm256_maddubs_epi16(hi, x1)));
          }
      }
    } else
#endif
    for (int64_t t = gi * g; t < gi * g + g; t += 32) {
      __m256i xv = _mm256_loadu_si256((const __m256i *)(xq + t));
      for (int r = 0; r < NB; r++)
        if (r < nb) {
          __m128i b = _mm_loadu_si128((const __m128i *)(s->q4 + QR(r) * rb + t / 2));
          __m256i bb = _mm256_inserti128_si256(_mm256_castsi128_si256(b), _mm_srli_epi16(b, 4), 1);
          acc[r] = QM_DPBUSD(acc[r], _mm256_and_si256(bb, m4), xv);
        }
    }
    __m256 xgv = _mm256_loadu_ps(xg + gi * 8);
    for (int r = 0; r < NB; r++)
      if (r < nb) {
        __m256 d = _mm256_fnmadd_ps(_mm256_set1_ps(s->zero[QR(r) * ng + gi]), xgv, _mm256_cvtepi32_ps(QM_DOT32(acc[r])));
        facc[r] = _mm256_fmadd_ps(_mm256_set1_ps(s->scale[QR(r) * ng + gi]), d, facc[r]);
      }
  }
  for (int r = 0; r < nb; r++) y[QR(r)] = qm_hsum8(facc[r]) * s->xs[i];
#undef QM_DPBUSD
#undef QM_DOT32
#elif defined(__AVX512F__)
  const float *xg = s->xg + i * ng;
  const __m512i m4 = _mm512_set1_epi32(15);
  __m512 facc[NB];
  float corr[NB];
  for (int r = 0; r < NB; r++) facc[r] = _mm512_setzero_ps(), corr[r] = 0.0f;
  for (int64_t gi = 0; gi < ng; gi++) {
    __m512 acc[NB];
    for (int r = 0; r < NB; r++) acc[r] = _mm512_setzero_ps();
    for (int64_t t = gi * g; t < gi * g + g; t += 32) {
      __m512 x0 = _mm512_loadu_ps(x + t), x1 = _mm512_loadu_ps(x + t + 16);
      for (int r = 0; r < NB; r++)
        if (r < nb) {
          __m512i b = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(s->q4 + QR(r) * rb + t / 2)));
          acc[r] = _mm512_fmadd_ps(x0, _mm512_cvtepi32_ps(_mm512_and_si512(b, m4)), acc[r]);
          acc[r] = _mm512_fmadd_ps(x1, _mm512_cvtepi32_ps(_mm512_srli_epi32(b, 4)), acc[r]);
        }
    }
    for (int r = 0; r < NB; r++)
      if (r < nb) {
        const float sc = s->scale[QR(r) * ng + gi];
        facc[r] = _mm512_fmadd_ps(_mm512_set1_ps(sc), acc[r], facc[r]);
        corr[r] += sc * s->zero[QR(r) * ng + gi] * xg[gi];
      }
  }
  for (int r = 0; r < nb; r++) y[QR(r)] = _mm512_reduce_add_ps(facc[r]) - corr[r];
#elif defined(__AVX2__) && defined(__FMA__)
  /* As the AVX-512 path, 8 lanes: byte j of a 32-code block holds code j (low nibble) and code
   * 16 + j (high nibble); bytes 0..7 and 8..15 are widened separately. */
  const float *xg = s->xg + i * ng;
  const __m256i m4 = _mm256_set1_epi32(15);
  __m256 facc[NB];
  float corr[NB];
  for (int r = 0; r < NB; r++) facc[r] = _mm256_setzero_ps(), corr[r] = 0.0f;
  for (int64_t gi = 0; gi < ng; gi++) {
    __m256 acc[NB];
    for (int r = 0; r < NB; r++) acc[r] = _mm256_setzero_ps();
    for (int64_t t = gi * g; t < gi * g + g; t += 32) {
      const __m256 x0 = _mm256_loadu_ps(x + t), x1 = _mm256_loadu_ps(x + t + 8);
      const __m256 x2 = _mm256_loadu_ps(x + t + 16), x3 = _mm256_loadu_ps(x + t + 24);
      for (int r = 0; r < NB; r++)
        if (r < nb) {
          const uint8_t *qb = s->q4 + QR(r) * rb + t / 2;
          __m256i b0 = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)qb));
          __m256i b1 = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(qb + 8)));
          acc[r] = _mm256_fmadd_ps(x0, _mm256_cvtepi32_ps(_mm256_and_si256(b0, m4)), acc[r]);
          acc[r] = _mm256_fmadd_ps(x1, _mm256_cvtepi32_ps(_mm256_and_si256(b1, m4)), acc[r]);
          acc[r] = _mm256_fmadd_ps(x2, _mm256_cvtepi32_ps(_mm256_srli_epi32(b0, 4)), acc[r]);
          acc[r] = _mm256_fmadd_ps(x3, _mm256_cvtepi32_ps(_mm256_srli_epi32(b1, 4)), acc[r]);
        }
    }
    for (int r = 0; r < NB; r++)
      if (r < nb) {
        const float sc = s->scale[QR(r) * ng + gi];
        facc[r] = _mm256_fmadd_ps(_mm256_set1_ps(sc), acc[r], facc[r]);
        corr[r] += sc * s->zero[QR(r) * ng + gi] * xg[gi];
      }
  }
  for (int r = 0; r < nb; r++) y[QR(r)] = qm_hsum8(facc[r]) - corr[r];
#else
  for (int r = 0; r < nb; r++) {
    float acc = 0.0f;
    for (int64_t gi = 0; gi < ng; gi++) {
      float d = 0.0f;
      for (int64_t t = gi * g; t < gi * g + g; t++) d += x[t] * (float)kgq_int4_get(s->q4 + QR(r) * rb, t);
      acc += s->scale[QR(r) * ng + gi] * (d - s->zero[QR(r) * ng + gi] * s->xg[i * ng + gi]);
    }
    y[QR(r)] = acc;
  }
#endif
}
#undef QR
#undef QM_PF_ROWS
#undef QM_PF_GROUPS

static void qm_variant(const qm_call *s) {
  qm_prepare(s);
  /* blocks b = S * j + h: super-block j (NB * S rows), phase h, rows S apart (qm_page_rows) */
  const int64_t n = s->n, S = qm_page_rows(s), sb = NB * S, nblk = (n + sb - 1) / sb * S;
  for (int64_t i = 0; i < s->M; i++) {
#if THREADS > 1 && defined(_OPENMP)
#pragma omp parallel for num_threads(kg_threads(THREADS)) schedule(static)
#endif
    for (int64_t b = 0; b < nblk; b++) {
      const int64_t r0 = b / S * sb + b % S, rows = (n - r0 + S - 1) / S, rn = r0 + sb < n ? r0 + sb : -1;
      if (rows >= NB)
        qm_rows(s, i, r0, S, rn, NB);
      else if (rows > 0)
        qm_rows(s, i, r0, S, rn, (int)rows);
    }
  }
}

static void qm_ws_free(qm_ws *ws) {
  free(ws->x), free(ws->xq), free(ws->xu), free(ws->xs), free(ws->xg);
  memset(ws, 0, sizeof *ws);
}

/* Grow ws to M rows of w's padded length.  0, or -1 when out of memory (ws then empty). */
static int qm_ws_reserve(qm_ws *ws, const kgen_qweight *w, int64_t M) {
  if (ws->M >= M && ws->kpad == w->kpad && ws->ng >= w->ng && (w->kpad == w->k || ws->x)) return 0;
  qm_ws_free(ws);
  const size_t mk = (size_t)(M * w->kpad);
  ws->x = w->kpad > w->k ? kg_alloc(mk * sizeof(float)) : NULL;
  ws->xq = kg_alloc(mk);
  ws->xu = kg_alloc(mk);
  ws->xs = kg_alloc((size_t)M * sizeof(float));
  ws->xg = kg_alloc((size_t)(M * w->ng * 8) * sizeof(float));
  if ((w->kpad > w->k && !ws->x) || !ws->xq || !ws->xu || !ws->xs || !ws->xg) {
    qm_ws_free(ws);
    return -1;
  }
  ws->M = M, ws->kpad = w->kpad, ws->ng = w->ng;
  return 0;
}

/* y[M, n] = x[M, k] * W^T on workspace ws. */
static int qm_run(qm_ws *ws, const kgen_qweight *w, int64_t M, const float *x, float *y) {
  if (!w || M < 0 || (M > 0 && (!x || !y))) return KG_API_EINVAL;
  if (M == 0) return KG_API_OK;
  if (qm_ws_reserve(ws, w, M)) return KG_API_ENOMEM;
  const float *xp = x;
  if (w->kpad > w->k) { /* zero-padded copy: the kernels read whole groups */
    for (int64_t i = 0; i < M; i++) {
      memcpy(ws->x + i * w->kpad, x + i * w->k, (size_t)w->k * sizeof(float));
      memset(ws->x + i * w->kpad + w->k, 0, (size_t)(w->kpad - w->k) * sizeof(float));
    }
    xp = ws->x;
  }
  const qm_call c = {.M = M, .k = w->k, .n = w->n, .recipe = w->recipe, .g = w->g, .kpad = w->kpad,
                     .ng = w->ng, .x = xp, .q8 = w->q8, .q8sum = w->q8sum, .q4 = w->q4,
                     .scale = w->scale, .zero = w->zero, .y = y, .xq = ws->xq, .xu = ws->xu,
                     .xs = ws->xs, .xg = ws->xg};
  qm_variant(&c);
  return KG_API_OK;
}

/* ---- the public API (kgen/kgen.h) ---------------------------------------------------------- */

/* Parse a recipe name: "int8wo" (0), "int4wo-<g>" (1), "int4wo-<g>-hqq" (2), g in 32, 64,
 * 128, 256.  Returns 0, or -1 for an unknown name. */
static int qm_recipe(const char *name, int64_t *recipe, int64_t *g) {
  if (!name) return -1;
  if (!strcmp(name, "int8wo")) {
    *recipe = 0, *g = 64;
    return 0;
  }
  static const int64_t gs[] = {32, 64, 128, 256};
  for (int i = 0; i < 4; i++) {
    char buf[32];
    snprintf(buf, sizeof buf, "int4wo-%d", (int)gs[i]);
    if (!strcmp(name, buf)) {
      *recipe = 1, *g = gs[i];
      return 0;
    }
    snprintf(buf, sizeof buf, "int4wo-%d-hqq", (int)gs[i]);
    if (!strcmp(name, buf)) {
      *recipe = 2, *g = gs[i];
      return 0;
    }
  }
  return -1;
}

/** Free a quantized weight (NULL: nothing). */
void KG_NAME(kgen_qweight_free)(kgen_qweight *w) {
  if (!w) return;
  free(w->q8), free(w->q8sum), free(w->q4), free(w->scale), free(w->zero);
  free(w);
}

/**
 * Quantize W[n, k] (row-major, PyTorch's Linear weight layout) by `recipe` (kg_quant.h):
 * "int8wo", "int4wo-<g>", "int4wo-<g>-hqq" (g = 32, 64, 128, 256).  W is read only during the
 * call.  NULL on an unknown recipe, n or k < 1, a NULL W, or no memory.
 */
kgen_qweight *KG_NAME(kgen_qweight_new)(const float *W, int64_t n, int64_t k, const char *recipe) {
  int64_t r, g;
  if (!W || n < 1 || k < 1 || n > (INT64_C(1) << 31) || k > (INT64_C(1) << 31) || qm_recipe(recipe, &r, &g))
    return NULL;
  kgen_qweight *w = calloc(1, sizeof *w);
  if (!w) return NULL;
  w->n = n, w->k = k, w->recipe = r, w->g = g;
  w->kpad = kgq_kpad(k, g);
  w->ng = w->kpad / g;
  if (r == 0) {
    w->q8 = kg_alloc((size_t)(n * w->kpad));
    w->q8sum = kg_alloc((size_t)n * sizeof(int32_t));
    w->scale = kg_alloc((size_t)n * sizeof(float));
    if (!w->q8 || !w->q8sum || !w->scale) goto fail;
    kgq_int8(W, n, k, w->q8, w->scale);
    for (int64_t row = 0; row < n; row++) {
      int32_t sum = 0;
      for (int64_t t = 0; t < w->kpad; t++) sum += w->q8[row * w->kpad + t];
      w->q8sum[row] = sum;
    }
  } else {
    w->q4 = kg_alloc((size_t)(n * w->kpad / 2));
    w->scale = kg_alloc((size_t)(n * w->ng) * sizeof(float));
    w->zero = kg_alloc((size_t)(n * w->ng) * sizeof(float));
    if (!w->q4 || !w->scale || !w->zero) goto fail;
    kgq_int4(W, n, k, g, r == 2, w->q4, w->scale, w->zero);
  }
  return w;
fail:
  KG_NAME(kgen_qweight_free)(w);
  return NULL;
}

/* The public API's workspace: one per variant and process, held by one caller at a time; a
 * caller that finds it taken uses a private one for the call. */
static pthread_mutex_t qm_pub_mu = PTHREAD_MUTEX_INITIALIZER;
static qm_ws qm_pub;

/**
 * y[m, n] = x[m, k] * W^T (fp32 activations, row-major; n and k those of w).  Returns
 * KG_API_OK, KG_API_EINVAL (NULL w, x or y, m < 0) or KG_API_ENOMEM.  Thread-safe.
 */
int KG_NAME(kgen_qmatmul)(const kgen_qweight *w, int64_t m, const float *x, float *y) {
  if (pthread_mutex_trylock(&qm_pub_mu) == 0) {
    int rc = qm_run(&qm_pub, w, m, x, y);
    pthread_mutex_unlock(&qm_pub_mu);
    return rc;
  }
  qm_ws ws = {0};
  int rc = qm_run(&ws, w, m, x, y);
  qm_ws_free(&ws);
  return rc;
}

#ifndef KG_PUBLIC_ONLY
/* ---- the harness ABI (kg_abi.h): inputs, reference, baselines ------------------------------- */

typedef struct qm_state {
  int64_t M, k, n, recipe, g;
  float *x;          /* [M, k] */
  float *w;          /* [n, k] fp32 weights */
  float *wd;         /* [n, k] dequantized weights (baselines, reference) */
  kgen_qweight *qw;  /* the quantized weights */
  float *y;          /* [M, n] */
  qm_ws ws;          /* the variants' workspace, sized by the problem at kg_create */
  double *ref;       /* [M, n], computed at the first kg_verify */
  double *tol;       /* [2, M, n]: the fp32 accumulation bound, then the extra bound of int8
                        activations (vnni paths only); both cached by the first kg_verify, so
                        the cache must not depend on which variant's kg_verify filled it */
  double *ref32;     /* [M, n] x W^T on the fp32 weights (accuracy), at the first kg_verify */
  double w_rmse, w_max, w_rel; /* quantization error of the weights (accuracy) */
  kg_blas def, skx;
} qm_state;

void kg_destroy(void *state) {
  qm_state *s = state;
  if (!s) return;
  KG_NAME(kgen_qweight_free)(s->qw);
  qm_ws_free(&s->ws);
  free(s->x), free(s->w), free(s->wd), free(s->y), free(s->ref), free(s->ref32), free(s->tol), free(s);
}

void *kg_create(const kg_problem *p) {
  int64_t M = kg_dim(p, "m", 1), k = kg_dim(p, "k", -1), n = kg_dim(p, "n", -1);
  int64_t recipe = kg_dim(p, "recipe", 0), g = kg_dim(p, "g", 128);
  if (M < 1 || k < 1 || n < 1 || recipe < 0 || recipe > 2) return NULL;
  char name[32];
  if (recipe == 0) snprintf(name, sizeof name, "int8wo");
  else snprintf(name, sizeof name, "int4wo-%d%s", (int)g, recipe == 2 ? "-hqq" : "");
  qm_state *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->M = M, s->k = k, s->n = n, s->recipe = recipe, s->g = g;
  const size_t nk = (size_t)(n * k);
  s->x = kg_alloc((size_t)(M * k) * sizeof(float));
  s->w = kg_alloc(nk * sizeof(float));
  s->wd = kg_alloc(nk * sizeof(float));
  s->y = kg_alloc((size_t)(M * n) * sizeof(float));
  if (!s->x || !s->w || !s->wd || !s->y) goto fail;
  uint64_t seed = p->seed;
  kg_fill_float(s->x, (size_t)(M * k), &seed);
  kg_fill_float(s->w, nk, &seed);
  if (!(s->qw = KG_NAME(kgen_qweight_new)(s->w, n, k, name))) goto fail; /* unknown g: NULL */
  if (qm_ws_reserve(&s->ws, s->qw, M)) goto fail;
  if (recipe == 0) kgq_dequant_int8(s->qw->q8, s->qw->scale, n, k, s->wd);
  else kgq_dequant_int4(s->qw->q4, s->qw->scale, s->qw->zero, n, k, s->qw->g, s->wd);
  return s;
fail:
  kg_destroy(s);
  return NULL;
}

void kg_run(void *state) {
  qm_state *s = state;
  if (qm_run(&s->ws, s->qw, s->M, s->x, s->y)) abort();
}

/* Error of approx[count] against the exact values (exact_f or, when NULL, exact_d): RMSE, max
 * abs, and relative (the error's L2 norm over the exact values'). */
static void qm_error(const float *approx, const float *exact_f, const double *exact_d, int64_t count, double *rmse,
                     double *max_abs, double *rel) {
  double se = 0.0, sx = 0.0, mx = 0.0;
  for (int64_t j = 0; j < count; j++) {
    const double x = exact_f ? (double)exact_f[j] : exact_d[j], d = (double)approx[j] - x;
    se += d * d;
    sx += x * x;
    mx = fmax(mx, fabs(d));
  }
  *rmse = count > 0 ? sqrt(se / (double)count) : 0.0;
  *max_abs = mx;
  *rel = sx > 0 ? sqrt(se / sx) : 0.0;
}

/* The reference, its tolerances and the weights' error, computed once per state: 0, or 1 when
 * out of memory. */
static int qm_reference(qm_state *s) {
  if (s->ref && s->tol && s->ref32) return 0;
  free(s->ref), free(s->tol), free(s->ref32);
  const int64_t M = s->M, n = s->n, k = s->k;
  s->ref = malloc((size_t)(M * n) * sizeof(double));
  s->tol = malloc((size_t)(2 * M * n) * sizeof(double));
  s->ref32 = malloc((size_t)(M * n) * sizeof(double));
  if (!s->ref || !s->tol || !s->ref32) return 1;
  for (int64_t i = 0; i < M; i++) {
    const float *x = s->x + i * k;
    float mx = 0.0f;
    for (int64_t t = 0; t < k; t++) mx = fmaxf(mx, fabsf(x[t]));
    for (int64_t r = 0; r < n; r++) {
      double acc = 0.0, mag = 0.0, wabs = 0.0;
      for (int64_t t = 0; t < k; t++) {
        acc += (double)x[t] * s->wd[r * k + t];
        mag += fabs((double)x[t] * s->wd[r * k + t]);
        wabs += fabs((double)s->wd[r * k + t]);
      }
      s->ref[i * n + r] = acc;
      double acc32 = 0.0;
      for (int64_t t = 0; t < k; t++) acc32 += (double)x[t] * s->w[r * k + t];
      s->ref32[i * n + r] = acc32;
      /* fp32 accumulation, plus the rounding of int8 activations (vnni): |dx| <= sx / 2 */
      s->tol[i * n + r] = 5e-5 * mag + 1e-6;
      s->tol[M * n + i * n + r] = 0.5 * (mx / 127.0) * wabs * 1.001;
    }
  }
  qm_error(s->wd, s->w, NULL, n * k, &s->w_rmse, &s->w_max, &s->w_rel); /* the weights' quantization */
  return 0;
}

/* Once, on the pristine state (kg_abi.h): isolated variants then share the reference. */
void kg_prepare(void *state) { (void)qm_reference(state); }

int kg_verify(void *state, char *msg, size_t cap) {
  qm_state *s = state;
  const int64_t M = s->M, n = s->n;
  if (qm_reference(s)) {
    snprintf(msg, cap, "out of memory for the reference");
    return 1;
  }
  memset(s->y, 0, (size_t)(M * n) * sizeof(float));
  if (KG_NAME(kgen_qmatmul)(s->qw, M, s->x, s->y)) {
    snprintf(msg, cap, "kgen_qmatmul failed (out of memory)");
    return 1;
  }
  for (int64_t j = 0; j < M * n; j++) {
    double d = fabs((double)s->y[j] - s->ref[j]), tol = s->tol[j] + (QM_XQ ? s->tol[M * n + j] : 0.0);
    if (!(d <= tol)) {
      snprintf(msg, cap, "y[%lld, %lld] = %.9g, expected %.9g (|diff| %.3g > tolerance %.3g)",
               (long long)(j / n), (long long)(j % n), (double)s->y[j], s->ref[j], d, tol);
      return 1;
    }
  }
  /* Accuracy against fp32 on the same weights: of the weights, and of this variant's output
   * (quantized weights, and for vnni the int8 activations too). */
  double y_rmse, y_max, y_rel;
  qm_error(s->y, NULL, s->ref32, M * n, &y_rmse, &y_max, &y_rel);
  snprintf(msg, cap,
           "{\"weight_rmse\": %.4g, \"weight_max_abs\": %.4g, \"weight_rel_err\": %.4g, "
           "\"output_rel_err\": %.4g, \"output_max_abs\": %.4g}",
           s->w_rmse, s->w_max, s->w_rel, y_rel, y_max);
  return 0;
}

/* ---- baselines: OpenBLAS on the dequantized fp32 weights (kg_blas.h) ---------------------- */

static void qm_openblas(qm_state *s, kg_blas *bl, int skx, int threads) {
  if (skx) kg_blas_skylakex(bl);
  else kg_blas_default(bl);
  bl->set_threads(threads);
  const int M = (int)s->M, n = (int)s->n, k = (int)s->k;
  if (M == 1)
    bl->sgemv(KG_BLAS_ROW_MAJOR, KG_BLAS_NO_TRANS, n, k, 1.0f, s->wd, k, s->x, 1, 0.0f, s->y, 1);
  else
    bl->sgemm(KG_BLAS_ROW_MAJOR, KG_BLAS_NO_TRANS, KG_BLAS_TRANS, M, n, k, 1.0f, s->x, k, s->wd, k,
              0.0f, s->y, n);
}

void kg_baseline_openblas(void *state) { qm_openblas(state, &((qm_state *)state)->def, 0, 1); }
void kg_baseline_openblas_2t(void *state) { qm_openblas(state, &((qm_state *)state)->def, 0, 2); }
void kg_baseline_openblas_skx(void *state) { qm_openblas(state, &((qm_state *)state)->skx, 1, 1); }
void kg_baseline_openblas_skx_2t(void *state) { qm_openblas(state, &((qm_state *)state)->skx, 1, 2); }
#endif /* KG_PUBLIC_ONLY */
