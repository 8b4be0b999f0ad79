/*
 * moe_step.c - the end-to-end MoE layer step over the Paired Replacement weight cache, as in the
 * Paired Replacement project's end-to-end simulation.
 *
 * Per step, on X[batch, hidden] (float32, row-major):
 *   1. gating:    logits[batch, N] = X . W_g^T, then pooled[n] = max over the batch of logits[., n]
 *   2. selection: the active set = the top-m rows of pooled (ties: the lower row index first)
 *   3. update:    the paired cache (paired_cache_core.h, the paired_cache kernel's own code) to
 *                 that mask: max(|added|, |removed|) rows written
 *   4. matmuls:   H[batch, m] = X . down_active^T, Y[batch, W] = H . concat_active
 *                 (W = gate_cols + up_cols; concat_active and down_active are the cache's packed
 *                 slots, [m, W] and [m, hidden])
 * The baseline `rebuild` is the same step (the same variant's gating, selection and matmuls) with
 * the cache rebuilt from the pools every step (paired_cache_rebuild.h): the ratio is what the
 * paired update saves end to end.
 *
 * Exactness: every variant's logits are bit for bit the same: each logit is one fused
 * multiply-add chain over k = 0..hidden-1 from 0 (the tiles only change which logits are computed
 * together), on W_g transposed into panels once at set-up (16 GNV rows of W_g per panel, stored
 * [hidden, 16 GNV]: the FMA broadcasts X[b, k] against 16 consecutive rows; a panel streams in
 * order).  Every selection method picks the same top-m set (a total order: value,
 * then lower index; -0 equals +0), so a variant's active set equals the baseline's and the
 * reference's exactly.  Y's summation order follows the cache's slot order (paired vs ascending),
 * so Y agrees within the GEMM bound: |y - y_ref| <= 2 (hidden + m) 2^-24 sum |terms|.
 *
 * Tunables: SELECT (quickselect: Hoare partition on 64-bit (value, index) keys, median of three;
 * partial_sort: a binary min-heap of the m best, as std::partial_sort; histogram: radix select on
 * the value's order-preserving 32-bit key, 11 + 11 + 10 bits, candidates narrowed each pass, then
 * the ties at the threshold by ascending index), GB x GNV (the gating tile: batch rows x column
 * vectors of MOE_VW floats: 16 with AVX-512, 8 with AVX2 + FMA), MB x YNV (the matmul tiles: H
 * takes MB batch rows x 24/MB (AVX2: 12/MB) slots per tile, Y takes MB rows x YNV column vectors;
 * or YMM = ukr: gemm's generated MR x NR microkernel from gemm_ukr.h, KU-unrolled, on H and
 * concat in place, edge tiles packed), THREADS (OpenMP: gating over column blocks, H over slot
 * blocks, Y over column blocks, the cache's pair loop), and the cache's own COPY, PREFETCH, TAU
 * (paired_cache.c).  Selection runs on one thread.
 *
 * Problem dimensions: N, hidden, up_cols, gate_cols (0: no gate pool), m, batch, rho (percent:
 * X_t = rho X_{t-1} + sqrt(1 - rho^2) noise, 0 = drawn afresh each step), steps (the length of
 * the input sequence; kg_run walks it forwards and back, one step per call).
 * Phases: kg_phases (kg_abi.h) reports the median ns per step of gating (with the pooling),
 * selection, update and matmuls over the last 512 steps.
 * Public API: kgen_moe_new/step/indices/free (see below), on the caller's pools.
 */
#include "paired_cache_core.h"
#include "paired_cache_rebuild.h"
#include "gemm_ukr.h"

#include <math.h>
#include <time.h>

#define SELECT_quickselect 0
#define SELECT_partial_sort 1
#define SELECT_histogram 2
#ifndef SELECT
#define SELECT SELECT_quickselect
#endif
#ifndef GB
#define GB 4 /* gating tile: batch rows */
#endif
#ifndef GNV
#define GNV 4 /* gating tile: 16-float column vectors */
#endif
#ifndef MB
#define MB 4 /* matmul tiles: batch rows */
#endif
#ifndef YNV
#define YNV 4 /* Y tile: 16-float column vectors */
#endif
/* Vector width of the tiles: 16 floats (AVX-512, 32 registers) or 8 (AVX2 + FMA, 16 registers);
 * GNV and YNV count vectors of this width, and the H tile holds 24 (AVX-512) or 12 accumulators. */
#if defined(__AVX512F__)
#define MOE_VW 16
#define MOE_V8 0
#elif defined(__AVX2__) && defined(__FMA__)
#define MOE_VW 8
#define MOE_V8 1
#else
#define MOE_VW 16
#define MOE_V8 0
#endif
#define HJ ((MOE_VW == 16 ? 24 : 12) / MB) /* H tile: slots */
#define YMM_blocked 0
#define YMM_ukr 1
#ifndef YMM
#define YMM YMM_blocked /* Y = H . concat: the blocked kernel below, or gemm's MR x NR microkernel */
#endif

#if THREADS > 1 && defined(_OPENMP)
#define MOE_OMP(x) _Pragma(x)
#else
#define MOE_OMP(x)
#endif

enum { MOE_GATING, MOE_SELECTION, MOE_UPDATE, MOE_MATMULS, MOE_NPHASES };
#define MOE_RING 512 /* steps whose phase times are kept (kg_phases reports their medians) */
static const char *const moe_phase_names[MOE_NPHASES] = {"gating", "selection", "update", "matmuls"};

/* The public object: the step's sizes, the prepared gating weights, the cache, the scratch. */
typedef struct kgen_moe {
  int64_t N, hidden, up_cols, gate_cols, m, batch;
  float *wg_p;        /* [ceil(N / wg_nb), hidden, wg_nb]: W_g^T in panels, made at set-up (owned) */
  int64_t wg_nb;      /* the panel width of wg_p: MOE_NB of the variant that packed it (moe_pack_wg) */
  pc_cache *cache;    /* over the caller's pools */
  float *logits;      /* [batch, N] */
  float *pooled;      /* [N] */
  uint64_t *keys;     /* [N] selection keys */
  uint8_t *mask;      /* [N] the selected set */
  float *h;           /* [batch, m] */
  float *pack;        /* YMM_ukr: per thread, an A sliver [m][MR] and a B sliver [m][NR] (edge tiles) */
  size_t pack_floats; /* its size, grown by the first step of a variant that needs more */
  float ring[MOE_RING][MOE_NPHASES]; /* ns of each phase of the last MOE_RING steps */
  int64_t nsteps;     /* steps timed into ring */
} kgen_moe;

static inline uint64_t moe_now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

#if MOE_V8
/* The first n (clamped to 0..8) of 8 lanes, as a maskload / maskstore mask. */
static inline __m256i moe_lanes8(int64_t n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(n < 0 ? 0 : n < 8 ? n : 8)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

static inline float moe_hsum8(__m256 v) {
  __m128 a = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  a = _mm_add_ps(a, _mm_movehl_ps(a, a));
  return _mm_cvtss_f32(_mm_add_ss(a, _mm_movehdup_ps(a)));
}
#endif

/* ---- 1. gating ---------------------------------------------------------------------------------- */

/* The gating weights' panels: MOE_VW * GNV columns of W_g^T each, [hidden, MOE_VW * GNV] contiguous
 * (the last zero-padded), so a tile streams one panel in order. */
#define MOE_NB (MOE_VW * GNV)

/* logits[b, n] for b in [b0, b0 + R), n in panel t (the columns below N): one FMA chain per logit. */
#if defined(__AVX512F__)
#define MOE_GATE_TILE(name, R)                                                                       \
  static inline void name(const kgen_moe *s, const float *x, int64_t b0, int64_t t) {              \
    __m512 acc[R][GNV];                                                                            \
    for (int i = 0; i < R; i++)                                                                    \
      for (int j = 0; j < GNV; j++) acc[i][j] = _mm512_setzero_ps();                               \
    const float *w = s->wg_p + t * s->hidden * MOE_NB;                                             \
    for (int64_t k = 0; k < s->hidden; k++, w += MOE_NB) {                                         \
      __m512 wv[GNV];                                                                              \
      for (int j = 0; j < GNV; j++) wv[j] = _mm512_load_ps(w + 16 * j);                            \
      for (int i = 0; i < R; i++) {                                                                \
        __m512 xb = _mm512_set1_ps(x[(b0 + i) * s->hidden + k]);                                   \
        for (int j = 0; j < GNV; j++) acc[i][j] = _mm512_fmadd_ps(xb, wv[j], acc[i][j]);           \
      }                                                                                            \
    }                                                                                              \
    const int64_t n0 = t * MOE_NB;                                                                 \
    for (int j = 0; j < GNV; j++) {                                                                \
      const int64_t left = s->N - (n0 + 16 * j);                                                   \
      const __mmask16 mk = left >= 16 ? (__mmask16)0xffff : left > 0 ? (__mmask16)((1u << left) - 1) : 0; \
      for (int i = 0; i < R; i++) _mm512_mask_storeu_ps(s->logits + (b0 + i) * s->N + n0 + 16 * j, mk, acc[i][j]); \
    }                                                                                              \
  }
MOE_GATE_TILE(moe_gate_tile, GB)
MOE_GATE_TILE(moe_gate_tile1, 1)
#elif MOE_V8
/* The same tile on 8-lane AVX2 + FMA vectors (the same FMA chain per logit). */
#define MOE_GATE_TILE(name, R)                                                                       \
  static inline void name(const kgen_moe *s, const float *x, int64_t b0, int64_t t) {              \
    __m256 acc[R][GNV];                                                                            \
    for (int i = 0; i < R; i++)                                                                    \
      for (int j = 0; j < GNV; j++) acc[i][j] = _mm256_setzero_ps();                               \
    const float *w = s->wg_p + t * s->hidden * MOE_NB;                                             \
    for (int64_t k = 0; k < s->hidden; k++, w += MOE_NB) {                                         \
      __m256 wv[GNV];                                                                              \
      for (int j = 0; j < GNV; j++) wv[j] = _mm256_load_ps(w + 8 * j);                             \
      for (int i = 0; i < R; i++) {                                                                \
        __m256 xb = _mm256_set1_ps(x[(b0 + i) * s->hidden + k]);                                   \
        for (int j = 0; j < GNV; j++) acc[i][j] = _mm256_fmadd_ps(xb, wv[j], acc[i][j]);           \
      }                                                                                            \
    }                                                                                              \
    const int64_t n0 = t * MOE_NB;                                                                 \
    for (int j = 0; j < GNV; j++) {                                                                \
      const __m256i mk = moe_lanes8(s->N - (n0 + 8 * j));                                          \
      for (int i = 0; i < R; i++) _mm256_maskstore_ps(s->logits + (b0 + i) * s->N + n0 + 8 * j, mk, acc[i][j]); \
    }                                                                                              \
  }
MOE_GATE_TILE(moe_gate_tile, GB)
MOE_GATE_TILE(moe_gate_tile1, 1)
#else
/* One logit the portable way: the same chain (fmaf rounds once, as the vector FMA). */
static inline float moe_gate_one(const kgen_moe *s, const float *x, int64_t b, int64_t n) {
  const float *w = s->wg_p + (n / MOE_NB) * s->hidden * MOE_NB + n % MOE_NB;
  float acc = 0.0f;
  for (int64_t k = 0; k < s->hidden; k++) acc = fmaf(x[b * s->hidden + k], w[k * MOE_NB], acc);
  return acc;
}
#endif

/* W_g^T's panels in this variant's width MOE_NB.  The harness runs every variant on the object one
 * variant's kg_create made (kg_abi.h: the state may not depend on tunables), so a variant whose
 * GNV differs repacks the panels on its first step (the warm-up call); a public API object is
 * always packed by its own variant.  Returns 0, or -1 when out of memory (nothing changed). */
static int moe_pack_wg(kgen_moe *s) {
  const int64_t N = s->N, hidden = s->hidden, nb0 = s->wg_nb, np = (N + MOE_NB - 1) / MOE_NB;
  float *p = kg_alloc(sizeof(float) * (size_t)(np * MOE_NB * hidden));
  if (!p) return -1;
  memset(p, 0, sizeof(float) * (size_t)(np * MOE_NB * hidden));
  for (int64_t n = 0; n < N; n++)
    for (int64_t k = 0; k < hidden; k++)
      p[((n / MOE_NB) * hidden + k) * MOE_NB + n % MOE_NB] = s->wg_p[((n / nb0) * hidden + k) * nb0 + n % nb0];
  free(s->wg_p);
  s->wg_p = p, s->wg_nb = MOE_NB;
  return 0;
}

static void moe_gating(kgen_moe *s, const float *x) {
  const int64_t N = s->N, B = s->batch;
#if defined(__AVX512F__) || MOE_V8
  const int64_t np = (N + MOE_NB - 1) / MOE_NB;
  MOE_OMP("omp parallel for schedule(static) num_threads(kg_threads(THREADS))")
  for (int64_t t = 0; t < np; t++) {
    int64_t b = 0;
    for (; b + GB <= B; b += GB) moe_gate_tile(s, x, b, t);
    for (; b < B; b++) moe_gate_tile1(s, x, b, t);
  }
#else
  MOE_OMP("omp parallel for schedule(static) num_threads(kg_threads(THREADS))")
  for (int64_t b = 0; b < B; b++)
    for (int64_t n = 0; n < N; n++) s->logits[b * N + n] = moe_gate_one(s, x, b, n);
#endif
  /* Max-pool over the batch. */
  for (int64_t n = 0; n < N; n++) s->pooled[n] = s->logits[n];
  for (int64_t b = 1; b < B; b++) {
    const float *l = s->logits + b * N;
    for (int64_t n = 0; n < N; n++) s->pooled[n] = l[n] > s->pooled[n] ? l[n] : s->pooled[n];
  }
}

/* ---- 2. selection ------------------------------------------------------------------------------- */

/* The order-preserving key of a float (-0 as +0): larger float, larger key. */
static inline uint32_t moe_fkey(float f) {
  f += 0.0f;
  uint32_t u;
  memcpy(&u, &f, 4);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

/* The total order of the selection: value, then the lower row index. */
static inline uint64_t moe_key(float f, int64_t n) {
  return ((uint64_t)moe_fkey(f) << 32) | (uint64_t)(0xffffffffu - (uint32_t)n);
}
static inline int64_t moe_key_row(uint64_t k) { return (int64_t)(0xffffffffu - (uint32_t)k); }

#if SELECT == SELECT_quickselect
/* Move the m largest keys to k[0..m) (any order): Hoare partition, median of three. */
static void moe_quickselect(uint64_t *k, int64_t n, int64_t m) {
  int64_t lo = 0, hi = n - 1;
  while (hi > lo) {
    int64_t mid = lo + (hi - lo) / 2;
    uint64_t a = k[lo], b = k[mid], c = k[hi];
    uint64_t piv = a > b ? (b > c ? b : (a > c ? c : a)) : (a > c ? a : (b > c ? c : b));
    int64_t i = lo, j = hi;
    while (i <= j) { /* descending: larger keys to the left */
      while (k[i] > piv) i++;
      while (k[j] < piv) j--;
      if (i <= j) {
        uint64_t t = k[i];
        k[i] = k[j], k[j] = t;
        i++, j--;
      }
    }
    /* [lo, j] >= piv >= [i, hi] */
    if (m - 1 <= j) hi = j;
    else if (m - 1 >= i) lo = i;
    else break;
  }
}
#elif SELECT == SELECT_partial_sort
static inline void moe_sift_down(uint64_t *h, int64_t n, int64_t i) {
  for (;;) {
    int64_t l = 2 * i + 1, r = l + 1, s = i;
    if (l < n && h[l] < h[s]) s = l;
    if (r < n && h[r] < h[s]) s = r;
    if (s == i) return;
    uint64_t t = h[i];
    h[i] = h[s], h[s] = t;
    i = s;
  }
}
/* The m largest keys into k[0..m) (a min-heap): each later key replaces the heap's minimum when
 * larger. */
static void moe_partial_sort(uint64_t *k, int64_t n, int64_t m) {
  for (int64_t i = m / 2 - 1; i >= 0; i--) moe_sift_down(k, m, i);
  for (int64_t i = m; i < n; i++)
    if (k[i] > k[0]) {
      k[0] = k[i];
      moe_sift_down(k, m, 0);
    }
}
#endif

/* mask[N] = the top-m rows of pooled. */
static void moe_select(kgen_moe *s) {
  const int64_t N = s->N, m = s->m;
  uint8_t *mask = s->mask;
#if SELECT == SELECT_histogram
  /* Radix select on the 32-bit keys: bits 31..21, 20..10, 9..0; `above` keys lie above the
   * current bucket; candidates (keys sharing the prefix found so far) go to s->keys. */
  uint32_t *cand = (uint32_t *)s->keys, hist[2048];
  int64_t nc = 0, need = m;
  uint32_t prefix = 0;
  static const int shift[3] = {21, 10, 0}, width[3] = {11, 11, 10};
  for (int pass = 0; pass < 3; pass++) {
    const int sh = shift[pass], nb = 1 << width[pass];
    memset(hist, 0, sizeof hist);
    if (pass == 0) {
      for (int64_t n = 0; n < N; n++) {
        cand[n] = moe_fkey(s->pooled[n]);
        hist[cand[n] >> sh]++;
      }
      nc = N;
    } else {
      for (int64_t i = 0; i < nc; i++) hist[(cand[i] >> sh) & (uint32_t)(nb - 1)]++;
    }
    int64_t acc = 0;
    int bucket = nb - 1;
    for (; bucket > 0 && acc + hist[bucket] < need; bucket--) acc += hist[bucket];
    need -= acc;
    prefix |= (uint32_t)bucket << sh;
    int64_t w = 0;
    for (int64_t i = 0; i < nc; i++)
      if (((cand[i] >> sh) & (uint32_t)(nb - 1)) == (uint32_t)bucket) cand[w++] = cand[i];
    nc = w;
  }
  /* prefix is now the threshold key T: every key above it is in, then `need` rows at T,
   * ascending. */
  const uint32_t T = prefix;
  for (int64_t n = 0; n < N; n++) {
    uint32_t kk = moe_fkey(s->pooled[n]);
    uint8_t on = kk > T || (kk == T && need > 0);
    need -= kk == T && need > 0;
    mask[n] = on;
  }
#else
  uint64_t *k = s->keys;
  for (int64_t n = 0; n < N; n++) k[n] = moe_key(s->pooled[n], n);
#if SELECT == SELECT_quickselect
  moe_quickselect(k, N, m);
#else
  moe_partial_sort(k, N, m);
#endif
  memset(mask, 0, (size_t)N);
  for (int64_t i = 0; i < m; i++) mask[moe_key_row(k[i])] = 1;
#endif
}

/* ---- 4. matmuls ----------------------------------------------------------------------------------- */

/* H[b, j] = X[b, :] . down[j, :] for the m slots. */
static void moe_h(kgen_moe *s, const float *x) {
  const pc_cache *c = s->cache;
  const int64_t K = s->hidden, m = s->m, B = s->batch;
  const float *down = c->down;
#if defined(__AVX512F__)
  const int64_t kfull = K / 16 * 16;
  const __mmask16 tail = (__mmask16)((1u << (K - kfull)) - 1);
  const int64_t jt = (m + HJ - 1) / HJ;
  MOE_OMP("omp parallel for schedule(static) num_threads(kg_threads(THREADS))")
  for (int64_t t = 0; t < jt; t++) {
    const int64_t j0 = t * HJ, nj = m - j0 < HJ ? m - j0 : HJ;
    for (int64_t b0 = 0; b0 < B; b0 += MB) {
      const int64_t nbr = B - b0 < MB ? B - b0 : MB;
      __m512 acc[MB][HJ];
      for (int i = 0; i < MB; i++)
        for (int j = 0; j < HJ; j++) acc[i][j] = _mm512_setzero_ps();
      if (nbr == MB && nj == HJ) {
        for (int64_t k = 0; k < K; k += 16) {
          const __mmask16 mk = k < kfull ? (__mmask16)0xffff : tail;
          __m512 dv[HJ];
          for (int j = 0; j < HJ; j++) dv[j] = _mm512_maskz_loadu_ps(mk, down + (j0 + j) * K + k);
          for (int i = 0; i < MB; i++) {
            __m512 xv = _mm512_maskz_loadu_ps(mk, x + (b0 + i) * K + k);
            for (int j = 0; j < HJ; j++) acc[i][j] = _mm512_fmadd_ps(xv, dv[j], acc[i][j]);
          }
        }
      } else { /* edge tile */
        for (int64_t k = 0; k < K; k += 16) {
          const __mmask16 mk = k < kfull ? (__mmask16)0xffff : tail;
          for (int i = 0; i < nbr; i++) {
            __m512 xv = _mm512_maskz_loadu_ps(mk, x + (b0 + i) * K + k);
            for (int j = 0; j < nj; j++)
              acc[i][j] = _mm512_fmadd_ps(xv, _mm512_maskz_loadu_ps(mk, down + (j0 + j) * K + k), acc[i][j]);
          }
        }
      }
      for (int i = 0; i < nbr; i++)
        for (int j = 0; j < nj; j++) s->h[(b0 + i) * m + j0 + j] = _mm512_reduce_add_ps(acc[i][j]);
    }
  }
#elif MOE_V8
  const int64_t kfull = K / 8 * 8;
  const __m256i tail = moe_lanes8(K - kfull), all = moe_lanes8(8);
  const int64_t jt = (m + HJ - 1) / HJ;
  MOE_OMP("omp parallel for schedule(static) num_threads(kg_threads(THREADS))")
  for (int64_t t = 0; t < jt; t++) {
    const int64_t j0 = t * HJ, nj = m - j0 < HJ ? m - j0 : HJ;
    for (int64_t b0 = 0; b0 < B; b0 += MB) {
      const int64_t nbr = B - b0 < MB ? B - b0 : MB;
      __m256 acc[MB][HJ];
      for (int i = 0; i < MB; i++)
        for (int j = 0; j < HJ; j++) acc[i][j] = _mm256_setzero_ps();
      if (nbr == MB && nj == HJ) {
        for (int64_t k = 0; k < K; k += 8) {
          const __m256i mk = k < kfull ? all : tail;
          __m256 dv[HJ];
          for (int j = 0; j < HJ; j++) dv[j] = _mm256_maskload_ps(down + (j0 + j) * K + k, mk);
          for (int i = 0; i < MB; i++) {
            const __m256 xv = _mm256_maskload_ps(x + (b0 + i) * K + k, mk);
            for (int j = 0; j < HJ; j++) acc[i][j] = _mm256_fmadd_ps(xv, dv[j], acc[i][j]);
          }
        }
      } else { /* edge tile */
        for (int64_t k = 0; k < K; k += 8) {
          const __m256i mk = k < kfull ? all : tail;
          for (int i = 0; i < nbr; i++) {
            const __m256 xv = _mm256_maskload_ps(x + (b0 + i) * K + k, mk);
            for (int j = 0; j < nj; j++)
              acc[i][j] = _mm256_fmadd_ps(xv, _mm256_maskload_ps(down + (j0 + j) * K + k, mk), acc[i][j]);
          }
        }
      }
      for (int i = 0; i < nbr; i++)
        for (int j = 0; j < nj; j++) s->h[(b0 + i) * m + j0 + j] = moe_hsum8(acc[i][j]);
    }
  }
#else
  MOE_OMP("omp parallel for schedule(static) num_threads(kg_threads(THREADS))")
  for (int64_t j = 0; j < m; j++)
    for (int64_t b = 0; b < B; b++) {
      float acc = 0.0f;
      for (int64_t k = 0; k < K; k++) acc += x[b * K + k] * down[j * K + k];
      s->h[b * m + j] = acc;
    }
#endif
}

#if YMM == YMM_ukr
/* Y = H . concat with gemm's microkernel (gemm_ukr.h): full MR x NR tiles straight from H
 * [batch, m] and concat [m, W] (gemm_ukr_direct, k = m unblocked), edge tiles through packed
 * slivers (gemm_tile). */
static void moe_y(kgen_moe *s, float *y) {
  const int64_t W = s->gate_cols + s->up_cols, m = s->m, B = s->batch;
  const float *gu = s->cache->gu, *h = s->h;
  const int64_t tn = (W + NR - 1) / NR, tm = (B + MR - 1) / MR;
  /* s->pack holds kg_threads(THREADS) * m * (MR + NR) floats: moe_step_impl grew it */
  MOE_OMP("omp parallel for schedule(static) num_threads(kg_threads(THREADS))")
  for (int64_t t = 0; t < tn * tm; t++) {
    const int64_t j0 = (t / tm) * NR, i0 = (t % tm) * MR;
    const int64_t mr = B - i0 < MR ? B - i0 : MR, nr = W - j0 < NR ? W - j0 : NR;
    if (mr == MR && nr == NR) {
      gemm_ukr_direct(m, h + i0 * m, m, gu + j0, W, y + i0 * W + j0, W, 1.0f, 0.0f);
    } else {
#ifdef _OPENMP
      float *ap = s->pack + (int64_t)omp_get_thread_num() * m * (MR + NR);
#else
      float *ap = s->pack;
#endif
      float *bp = ap + m * MR;
      gemm_pack_a(mr, m, h + i0 * m, m, ap);
      gemm_pack_b(m, nr, gu + j0, W, bp);
      gemm_tile(m, mr, nr, ap, bp, y + i0 * W + j0, W, 1.0f, 0.0f);
    }
  }
}
#else
/* Y[b, :] = sum_j H[b, j] concat[j, :]. */
static void moe_y(kgen_moe *s, float *y) {
  const pc_cache *c = s->cache;
  const int64_t W = s->gate_cols + s->up_cols, m = s->m, B = s->batch;
  const float *gu = c->gu, *h = s->h;
#if defined(__AVX512F__)
  const int64_t cb = 16 * YNV, ct = (W + cb - 1) / cb;
  MOE_OMP("omp parallel for schedule(static) num_threads(kg_threads(THREADS))")
  for (int64_t t = 0; t < ct; t++) {
    const int64_t c0 = t * cb;
    __mmask16 mk[YNV];
    int nv = 0;
    for (int v = 0; v < YNV; v++) {
      int64_t left = W - (c0 + 16 * v);
      mk[v] = left >= 16 ? (__mmask16)0xffff : left > 0 ? (__mmask16)((1u << left) - 1) : 0;
      if (left > 0) nv = v + 1;
    }
    for (int64_t b0 = 0; b0 < B; b0 += MB) {
      const int64_t nbr = B - b0 < MB ? B - b0 : MB;
      __m512 acc[MB][YNV];
      for (int i = 0; i < MB; i++)
        for (int v = 0; v < YNV; v++) acc[i][v] = _mm512_setzero_ps();
      if (nbr == MB && nv == YNV && mk[YNV - 1] == 0xffff) {
        for (int64_t j = 0; j < m; j++) {
          __m512 cv[YNV];
          for (int v = 0; v < YNV; v++) cv[v] = _mm512_loadu_ps(gu + j * W + c0 + 16 * v);
          for (int i = 0; i < MB; i++) {
            __m512 hb = _mm512_set1_ps(h[(b0 + i) * m + j]);
            for (int v = 0; v < YNV; v++) acc[i][v] = _mm512_fmadd_ps(hb, cv[v], acc[i][v]);
          }
        }
      } else { /* edge tile */
        for (int64_t j = 0; j < m; j++)
          for (int i = 0; i < nbr; i++) {
            __m512 hb = _mm512_set1_ps(h[(b0 + i) * m + j]);
            for (int v = 0; v < nv; v++)
              acc[i][v] = _mm512_fmadd_ps(hb, _mm512_maskz_loadu_ps(mk[v], gu + j * W + c0 + 16 * v), acc[i][v]);
          }
      }
      for (int i = 0; i < nbr; i++)
        for (int v = 0; v < nv; v++) _mm512_mask_storeu_ps(y + (b0 + i) * W + c0 + 16 * v, mk[v], acc[i][v]);
    }
  }
#elif MOE_V8
  const int64_t cb = 8 * YNV, ct = (W + cb - 1) / cb;
  MOE_OMP("omp parallel for schedule(static) num_threads(kg_threads(THREADS))")
  for (int64_t t = 0; t < ct; t++) {
    const int64_t c0 = t * cb;
    __m256i mk[YNV];
    int nv = 0, full = 1;
    for (int v = 0; v < YNV; v++) {
      const int64_t left = W - (c0 + 8 * v);
      mk[v] = moe_lanes8(left);
      if (left > 0) nv = v + 1;
      if (left < 8) full = 0;
    }
    for (int64_t b0 = 0; b0 < B; b0 += MB) {
      const int64_t nbr = B - b0 < MB ? B - b0 : MB;
      __m256 acc[MB][YNV];
      for (int i = 0; i < MB; i++)
        for (int v = 0; v < YNV; v++) acc[i][v] = _mm256_setzero_ps();
      if (nbr == MB && full) {
        for (int64_t j = 0; j < m; j++) {
          __m256 cv[YNV];
          for (int v = 0; v < YNV; v++) cv[v] = _mm256_loadu_ps(gu + j * W + c0 + 8 * v);
          for (int i = 0; i < MB; i++) {
            const __m256 hb = _mm256_set1_ps(h[(b0 + i) * m + j]);
            for (int v = 0; v < YNV; v++) acc[i][v] = _mm256_fmadd_ps(hb, cv[v], acc[i][v]);
          }
        }
      } else { /* edge tile */
        for (int64_t j = 0; j < m; j++)
          for (int i = 0; i < nbr; i++) {
            const __m256 hb = _mm256_set1_ps(h[(b0 + i) * m + j]);
            for (int v = 0; v < nv; v++)
              acc[i][v] = _mm256_fmadd_ps(hb, _mm256_maskload_ps(gu + j * W + c0 + 8 * v, mk[v]), acc[i][v]);
          }
      }
      for (int i = 0; i < nbr; i++)
        for (int v = 0; v < nv; v++) _mm256_maskstore_ps(y + (b0 + i) * W + c0 + 8 * v, mk[v], acc[i][v]);
    }
  }
#else
  MOE_OMP("omp parallel for schedule(static) num_threads(kg_threads(THREADS))")
  for (int64_t b = 0; b < B; b++) {
    float *yr = y + b * W;
    for (int64_t col = 0; col < W; col++) yr[col] = 0.0f;
    for (int64_t j = 0; j < m; j++) {
      const float hv = h[b * m + j], *row = gu + j * W;
      for (int64_t col = 0; col < W; col++) yr[col] += hv * row[col];
    }
  }
#endif
}
#endif /* YMM */

/* ---- the step ------------------------------------------------------------------------------------- */

/* One step; rebuild: the baseline's full rebuild instead of the paired update.  Returns
 * KG_API_OK or KG_API_ENOMEM (the cache could not grow: only on its first fill; or, on a variant's
 * first step over another variant's object, repacking W_g or growing the Y scratch failed). */
static int moe_step_impl(kgen_moe *s, const float *x, float *y, int rebuild) {
  if (s->wg_nb != MOE_NB && moe_pack_wg(s)) return KG_API_ENOMEM;
#if YMM == YMM_ukr
  const size_t need = (size_t)(kg_threads(THREADS) * s->m * (MR + NR));
  if (s->pack_floats < need) {
    float *p = kg_alloc(sizeof(float) * need);
    if (!p) return KG_API_ENOMEM;
    free(s->pack);
    s->pack = p, s->pack_floats = need;
  }
#endif
  uint64_t t0 = moe_now_ns();
  moe_gating(s, x);
  uint64_t t1 = moe_now_ns();
  moe_select(s);
  uint64_t t2 = moe_now_ns();
  if (rebuild) {
    if (pc_reserve(s->cache, s->m)) return KG_API_ENOMEM;
    pc_rebuild(s->cache, s->mask);
  } else if (pc_update(s->cache, s->mask)) {
    return KG_API_ENOMEM;
  }
  uint64_t t3 = moe_now_ns();
  moe_h(s, x);
  moe_y(s, y);
  uint64_t t4 = moe_now_ns();
  float *r = s->ring[s->nsteps % MOE_RING];
  r[MOE_GATING] = (float)(t1 - t0), r[MOE_SELECTION] = (float)(t2 - t1);
  r[MOE_UPDATE] = (float)(t3 - t2), r[MOE_MATMULS] = (float)(t4 - t3);
  s->nsteps++;
  return KG_API_OK;
}

/* ---- the public API --------------------------------------------------------------------------------- */

/** Free a step object (NULL: nothing); the pools stay the caller's. */
void KG_NAME(kgen_moe_free)(kgen_moe *s) {
  if (!s) return;
  KG_NAME(kgen_paired_cache_free)(s->cache);
  free(s->wg_p), free(s->logits), free(s->pooled), free(s->keys), free(s->mask), free(s->h), free(s->pack);
  free(s);
}

/**
 * A MoE step over N rows: gating weights w_g[N, hidden] (copied, transposed, at once: the caller
 * may free them), pools up[N, up_cols], down_t[N, hidden] and gate[N, gate_cols] (NULL when
 * gate_cols == 0; borrowed for the object's lifetime), m active rows, batch rows of input per
 * step.  The cache starts empty: the first step fills it.  NULL on a bad size (N, hidden,
 * up_cols, m or batch < 1, gate_cols < 0, m > N, N > 2^31 - 1), a NULL pointer, or no memory.
 */
kgen_moe *KG_NAME(kgen_moe_new)(int64_t N, int64_t hidden, int64_t up_cols, int64_t gate_cols, int64_t m,
                                int64_t batch, const float *w_g, const float *up, const float *down_t,
                                const float *gate) {
  if (N < 1 || N > INT32_MAX || hidden < 1 || up_cols < 1 || gate_cols < 0 || m < 1 || m > N || batch < 1 ||
      !w_g || !up || !down_t || (gate_cols > 0 && !gate))
    return NULL;
  kgen_moe *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->N = N, s->hidden = hidden, s->up_cols = up_cols, s->gate_cols = gate_cols, s->m = m, s->batch = batch;
  s->cache = KG_NAME(kgen_paired_cache_new)(N, hidden, up_cols, gate_cols, up, down_t, gate);
  const int64_t np = (N + MOE_NB - 1) / MOE_NB;
  s->wg_p = kg_alloc(sizeof(float) * (size_t)(np * MOE_NB * hidden));
  s->logits = kg_alloc(sizeof(float) * (size_t)(batch * N));
  s->pooled = kg_alloc(sizeof(float) * (size_t)N);
  s->keys = kg_alloc(sizeof(uint64_t) * (size_t)N);
  s->mask = kg_alloc((size_t)N);
  s->h = kg_alloc(sizeof(float) * (size_t)(batch * m));
  if (!s->cache || !s->wg_p || !s->logits || !s->pooled || !s->keys || !s->mask || !s->h ||
      pc_reserve(s->cache, m)) {
    KG_NAME(kgen_moe_free)(s);
    return NULL;
  }
  for (int64_t n = 0; n < N; n++)
    for (int64_t k = 0; k < hidden; k++) s->wg_p[((n / MOE_NB) * hidden + k) * MOE_NB + n % MOE_NB] = w_g[n * hidden + k];
  s->wg_nb = MOE_NB;
  return s;
}

/**
 * One step on x[batch, hidden]: gating, top-m selection, the paired cache update, then
 * y[batch, gate_cols + up_cols] = (x . down_active^T) . concat_active.  Returns KG_API_OK,
 * KG_API_EINVAL (NULL), KG_API_ENOMEM.
 */
int KG_NAME(kgen_moe_step)(kgen_moe *s, const float *x, float *y) {
  if (!s || !x || !y) return KG_API_EINVAL;
  return moe_step_impl(s, x, y, 0);
}

/** [*m]: the pool row held by each slot of the cache after the last step (the active set, in the
 *  cache's slot order); *m = 0 and NULL before the first step or for NULL.  Valid until the next
 *  step. */
const int32_t *KG_NAME(kgen_moe_indices)(const kgen_moe *s, int64_t *m) {
  if (m) *m = s ? s->cache->m : 0;
  return s && s->cache->m ? s->cache->indices : NULL;
}

#ifndef KG_PUBLIC_ONLY
/* ---- the harness ABI ------------------------------------------------------------------------------- */

#define MOE_VERIFY_STEPS 6 /* steps kg_verify checks (kg_prepare computes their reference) */

typedef struct moe_state {
  int64_t N, hidden, up_cols, gate_cols, m, batch, rho, steps, W;
  float *wg;                 /* [N, hidden] */
  float *up, *down_T, *gate; /* pools */
  float *xs;                 /* [steps, batch, hidden] */
  float *y;                  /* [batch, W] */
  kgen_moe *moe;             /* what kg_run steps */
  int64_t pos, dir;
  int nref;                  /* steps with a reference (kg_prepare) */
  uint8_t *ref_mask;         /* [nref, N] */
  double *ref_y, *ref_abs;   /* [nref, batch, W]: Y and sum |terms| in double */
} moe_state;

void kg_destroy(void *st);

void *kg_create(const kg_problem *p) {
  moe_state *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->N = kg_dim(p, "N", 8192);
  s->hidden = kg_dim(p, "hidden", 1024);
  s->up_cols = kg_dim(p, "up_cols", 1024);
  s->gate_cols = kg_dim(p, "gate_cols", 0);
  s->m = kg_dim(p, "m", 1024);
  s->batch = kg_dim(p, "batch", 16);
  s->rho = kg_dim(p, "rho", 0);
  s->steps = kg_dim(p, "steps", 50);
  s->W = s->gate_cols + s->up_cols;
  if (s->N < 1 || s->N > INT32_MAX || s->hidden < 1 || s->up_cols < 1 || s->gate_cols < 0 || s->m < 1 ||
      s->m > s->N || s->batch < 1 || s->rho < 0 || s->rho > 100 || s->steps < 2) {
    free(s);
    return NULL;
  }
  uint64_t rng = p->seed;
  s->wg = kg_alloc(sizeof(float) * (size_t)(s->N * s->hidden));
  s->up = kg_alloc(sizeof(float) * (size_t)(s->N * s->up_cols));
  s->down_T = kg_alloc(sizeof(float) * (size_t)(s->N * s->hidden));
  if (s->gate_cols) s->gate = kg_alloc(sizeof(float) * (size_t)(s->N * s->gate_cols));
  s->xs = kg_alloc(sizeof(float) * (size_t)(s->steps * s->batch * s->hidden));
  s->y = kg_alloc(sizeof(float) * (size_t)(s->batch * s->W));
  if (!s->wg || !s->up || !s->down_T || (s->gate_cols && !s->gate) || !s->xs || !s->y) goto fail;
  kg_fill_float(s->wg, (size_t)(s->N * s->hidden), &rng);
  kg_fill_float(s->up, (size_t)(s->N * s->up_cols), &rng);
  kg_fill_float(s->down_T, (size_t)(s->N * s->hidden), &rng);
  if (s->gate) kg_fill_float(s->gate, (size_t)(s->N * s->gate_cols), &rng);
  /* X_0 noise; X_t = rho X_{t-1} + sqrt(1 - rho^2) noise. */
  const size_t bx = (size_t)(s->batch * s->hidden);
  const float r = (float)s->rho / 100.0f, q = sqrtf(1.0f - r * r);
  kg_fill_float(s->xs, bx, &rng);
  for (int64_t t = 1; t < s->steps; t++)
    for (size_t i = 0; i < bx; i++) s->xs[t * bx + i] = r * s->xs[(t - 1) * bx + i] + q * kg_rand_float(&rng);
  s->moe = KG_NAME(kgen_moe_new)(s->N, s->hidden, s->up_cols, s->gate_cols, s->m, s->batch, s->wg, s->up,
                                 s->down_T, s->gate);
  if (!s->moe || moe_step_impl(s->moe, s->xs, s->y, 1)) goto fail; /* the cache at step 0 */
  s->moe->nsteps = 0;
  s->pos = 0, s->dir = 1;
  return s;
fail:
  kg_destroy(s);
  return NULL;
}

void kg_destroy(void *st) {
  moe_state *s = st;
  if (!s) return;
  KG_NAME(kgen_moe_free)(s->moe);
  free(s->wg), free(s->up), free(s->down_T), free(s->gate), free(s->xs), free(s->y);
  free(s->ref_mask), free(s->ref_y), free(s->ref_abs);
  free(s);
}

/* The next input of the sequence, walking forwards then back. */
static const float *moe_next_x(moe_state *s) {
  if (s->pos + s->dir < 0 || s->pos + s->dir >= s->steps) s->dir = -s->dir;
  s->pos += s->dir;
  return s->xs + s->pos * s->batch * s->hidden;
}

void kg_run(void *st) {
  moe_state *s = st;
  if (moe_step_impl(s->moe, moe_next_x(s), s->y, 0)) abort(); /* out of memory (the harness records it) */
}

void kg_baseline_rebuild(void *st) {
  moe_state *s = st;
  if (moe_step_impl(s->moe, moe_next_x(s), s->y, 1)) abort();
}

static int moe_cmp_float(const void *a, const void *b) {
  float x = *(const float *)a, y = *(const float *)b;
  return x < y ? -1 : x > y;
}

/** Phases (kg_abi.h): the median ns of gating (with the pooling), selection, update and matmuls
 *  over the last MOE_RING steps (medians: the first steps of a measuring child pay its
 *  copy-on-write page faults). */
int kg_phases(void *st, const char **names, double *ns, int cap) {
  const moe_state *s = st;
  const int64_t n = s->moe->nsteps < MOE_RING ? s->moe->nsteps : MOE_RING;
  float v[MOE_RING];
  for (int i = 0; i < MOE_NPHASES && i < cap; i++) {
    names[i] = moe_phase_names[i];
    for (int64_t t = 0; t < n; t++) v[t] = s->moe->ring[t][i];
    qsort(v, (size_t)n, sizeof *v, moe_cmp_float);
    ns[i] = n ? (double)v[n / 2] : 0.0;
  }
  return MOE_NPHASES;
}

static int moe_cmp_desc(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? 1 : x > y ? -1 : 0;
}

/*
 * The reference of the first steps: logits by the same FMA chains from the untransposed W_g, the
 * top-m by a full sort of the (value, index) keys, Y in double over the active rows (ascending)
 * with sum |terms| for the error bound.
 */
void kg_prepare(void *st) {
  moe_state *s = st;
  const int64_t N = s->N, K = s->hidden, B = s->batch, W = s->W, m = s->m;
  int n = s->steps < MOE_VERIFY_STEPS ? (int)s->steps : MOE_VERIFY_STEPS;
  free(s->ref_mask), free(s->ref_y), free(s->ref_abs);
  s->nref = 0;
  float *logit = kg_alloc(sizeof(float) * (size_t)N);
  float *pooled = kg_alloc(sizeof(float) * (size_t)N);
  uint64_t *keys = kg_alloc(sizeof(uint64_t) * (size_t)N);
  double *h = kg_alloc(sizeof(double) * (size_t)m), *ha = kg_alloc(sizeof(double) * (size_t)m);
  int64_t *rows = kg_alloc(sizeof(int64_t) * (size_t)m);
  s->ref_mask = kg_alloc((size_t)(n * N));
  s->ref_y = kg_alloc(sizeof(double) * (size_t)(n * B * W));
  s->ref_abs = kg_alloc(sizeof(double) * (size_t)(n * B * W));
  if (!logit || !pooled || !keys || !h || !ha || !rows || !s->ref_mask || !s->ref_y || !s->ref_abs) goto done;
  for (int t = 0; t < n; t++) {
    const float *x = s->xs + (int64_t)t * B * K;
    for (int64_t b = 0; b < B; b++) {
      for (int64_t r = 0; r < N; r++) {
        float acc = 0.0f;
        for (int64_t k = 0; k < K; k++) acc = fmaf(x[b * K + k], s->wg[r * K + k], acc);
        logit[r] = acc;
      }
      for (int64_t r = 0; r < N; r++) pooled[r] = b == 0 || logit[r] > pooled[r] ? logit[r] : pooled[r];
    }
    for (int64_t r = 0; r < N; r++) keys[r] = moe_key(pooled[r], r);
    qsort(keys, (size_t)N, sizeof *keys, moe_cmp_desc);
    uint8_t *mk = s->ref_mask + (int64_t)t * N;
    for (int64_t i = 0; i < m; i++) mk[moe_key_row(keys[i])] = 1;
    int64_t na = 0;
    for (int64_t r = 0; r < N; r++)
      if (mk[r]) rows[na++] = r;
    for (int64_t b = 0; b < B; b++) {
      for (int64_t j = 0; j < m; j++) {
        double a = 0, aa = 0;
        for (int64_t k = 0; k < K; k++) {
          double p = (double)x[b * K + k] * (double)s->down_T[rows[j] * K + k];
          a += p, aa += fabs(p);
        }
        h[j] = a, ha[j] = aa;
      }
      double *yr = s->ref_y + ((int64_t)t * B + b) * W, *ya = s->ref_abs + ((int64_t)t * B + b) * W;
      for (int64_t j = 0; j < m; j++) {
        const float *g = s->gate ? s->gate + rows[j] * s->gate_cols : NULL, *u = s->up + rows[j] * s->up_cols;
        for (int64_t c = 0; c < W; c++) {
          double v = c < s->gate_cols ? (double)g[c] : (double)u[c - s->gate_cols];
          yr[c] += h[j] * v;
          ya[c] += ha[j] * fabs(v);
        }
      }
    }
  }
  s->nref = n;
done:
  free(logit), free(pooled), free(keys), free(h), free(ha), free(rows);
}

/* Y against the reference: |y - ref| <= 2 (hidden + m) 2^-24 sum |terms| + 1e-30. */
static int moe_check_y(const moe_state *s, const float *y, int t, const char *who, char *msg, size_t cap) {
  const double *r = s->ref_y + (int64_t)t * s->batch * s->W, *a = s->ref_abs + (int64_t)t * s->batch * s->W;
  const double u = 2.0 * (double)(s->hidden + s->m) * ldexp(1.0, -24);
  for (int64_t i = 0; i < s->batch * s->W; i++) {
    double d = fabs((double)y[i] - r[i]);
    if (!(d <= u * a[i] + 1e-30)) {
      snprintf(msg, cap, "step %d: %s Y[%lld, %lld] = %.9g, reference %.9g (|diff| %.3g > bound %.3g)", t, who,
               (long long)(i / s->W), (long long)(i % s->W), (double)y[i], r[i], d, u * a[i]);
      return 1;
    }
  }
  return 0;
}

/* The cache's invariants: its slots hold exactly the mask's rows, each equal to its pool rows. */
static int moe_check_cache(const moe_state *s, const pc_cache *c, const uint8_t *want, int t, const char *who,
                           char *msg, size_t cap) {
  if (memcmp(c->mask, want, (size_t)s->N)) {
    int64_t at = 0;
    while (c->mask[at] == want[at]) at++;
    snprintf(msg, cap, "step %d: %s active set differs from the reference at row %lld (%s there)", t, who,
             (long long)at, c->mask[at] ? "active" : "inactive");
    return 1;
  }
  if (c->m != s->m) {
    snprintf(msg, cap, "step %d: %s cache holds %lld rows, expected %lld", t, who, (long long)c->m, (long long)s->m);
    return 1;
  }
  for (int64_t j = 0; j < c->m; j++) {
    int32_t r = c->indices[j];
    if (r < 0 || r >= s->N || !want[r] || c->slot_of[r] != j ||
        memcmp(c->gu + j * s->W + s->gate_cols, s->up + r * s->up_cols, sizeof(float) * (size_t)s->up_cols) ||
        (s->gate && memcmp(c->gu + j * s->W, s->gate + r * s->gate_cols, sizeof(float) * (size_t)s->gate_cols)) ||
        memcmp(c->down + j * s->hidden, s->down_T + r * s->hidden, sizeof(float) * (size_t)s->hidden)) {
      snprintf(msg, cap, "step %d: %s slot %lld does not hold pool row %d", t, who, (long long)j, r);
      return 1;
    }
  }
  return 0;
}

/*
 * From empty caches, the variant's step (paired update) and the baseline's (rebuild) through the
 * first steps of the input sequence: each step's active set must equal the reference's exactly
 * (and so each other's), each cache must hold exactly its rows, and both Y within the GEMM bound.
 */
int kg_verify(void *st, char *msg, size_t cap) {
  moe_state *s = st;
  int rc = 1;
  if (!s->nref) kg_prepare(s);
  kgen_moe *v = KG_NAME(kgen_moe_new)(s->N, s->hidden, s->up_cols, s->gate_cols, s->m, s->batch, s->wg, s->up,
                                      s->down_T, s->gate);
  kgen_moe *r = KG_NAME(kgen_moe_new)(s->N, s->hidden, s->up_cols, s->gate_cols, s->m, s->batch, s->wg, s->up,
                                      s->down_T, s->gate);
  float *yv = kg_alloc(sizeof(float) * (size_t)(s->batch * s->W));
  float *yr = kg_alloc(sizeof(float) * (size_t)(s->batch * s->W));
  if (!s->nref || !v || !r || !yv || !yr) {
    snprintf(msg, cap, "out of memory");
    goto done;
  }
  for (int t = 0; t < s->nref; t++) {
    const float *x = s->xs + (int64_t)t * s->batch * s->hidden;
    const uint8_t *want = s->ref_mask + (int64_t)t * s->N;
    if (KG_NAME(kgen_moe_step)(v, x, yv) || moe_step_impl(r, x, yr, 1)) {
      snprintf(msg, cap, "step %d: out of memory", t);
      goto done;
    }
    if (moe_check_cache(s, v->cache, want, t, "variant", msg, cap) ||
        moe_check_cache(s, r->cache, want, t, "rebuild baseline", msg, cap) ||
        moe_check_y(s, yv, t, "variant", msg, cap) || moe_check_y(s, yr, t, "rebuild baseline", msg, cap))
      goto done;
  }
  rc = 0;
done:
  KG_NAME(kgen_moe_free)(v);
  KG_NAME(kgen_moe_free)(r);
  free(yv), free(yr);
  return rc;
}
#endif /* KG_PUBLIC_ONLY */
