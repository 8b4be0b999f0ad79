/*
 * fusion_attention.c - scaled dot-product attention, fused (tiled online softmax) against the
 * unfused three-step form.  fp32, row-major, one head per batch entry:
 *   Q, K, V [b, s, d];  scores T = Q K^T / sqrt(d) [b, s, s];  P = softmax_rows(T);  O = P V [b, s, d].
 *
 * pattern (a problem dimension): 0 "qk"          the scaled scores T [b, s, s]
 *                                1 "qk_softmax"  P = softmax(T) [b, s, s]
 *                                2 "attention"   O = softmax(T) V [b, s, d]
 * causal (a problem dimension, 0/1): key j > query i is masked (T = -inf, P = 0).
 *
 * The fused kernel (pattern 2) is FlashAttention's forward pass (Dao, Fu, Ermon, Rudra, Re,
 * "FlashAttention: Fast and Memory-Efficient Exact Attention with IO-Awareness", NeurIPS 2022;
 * the loop order of FlashAttention-2, Dao 2023: query blocks outermost, one pass over the keys):
 * for each (batch, block of BQ queries) the BQ x BK score tile of each block of BK keys is
 * computed in a cache-resident workspace, the running row maximum m and normaliser l are updated
 * (online softmax, Milakov & Gimelshein 2018), the accumulator O_acc [BQ, d] is rescaled by
 * exp(m_old - m_new) and the tile's P V added; O = O_acc / l at the end.  The s x s matrix is
 * never materialised: the working set per thread is BQ (2 d + BK) floats.  Patterns 0 and 1 must
 * write s x s (it is their output): the fused form computes a block of BQ rows over all keys in
 * the workspace and applies the softmax there (one write of s x s instead of write, read, write).
 * Exponentials are base 2 on scores pre-scaled by log2(e) (Q is scaled once per block).
 *
 * Tile products: gemm's MR x NR microkernel (templates/gemm_ukr.h, gemm_ukr_direct), for the
 * scores over MR rows of Q and a panel of K^T (K is packed once per call into K^T panels of NR
 * keys, [d][NR] each, contiguous), for P V over MR rows of P and NR columns of V.  The row
 * operations (max, base-2 exponentials, sums) are AVX-512 where the machine has it.
 *
 * Tunables: BQ (queries per block), BK (keys per block), MR x NR (the microkernel's tile), KU
 * (its K-unroll), THREADS (OpenMP over (batch, query block) units, dynamic schedule: causal
 * blocks differ in work).
 *
 * Baselines (kg_baseline_<name>), each with 1 thread and with 2 (_2t):
 *   unfused           kgen's own kernels in three steps: T = Q K^T / sqrt(d) materialised
 *                     [b, s, s] (the same gemm_ukr.h microkernel as the variant, so the ratio
 *                     isolates the fusion), a softmax pass over it in place, then O = P V;
 *   openblas_unfused  OpenBLAS sgemm Q K^T, the same softmax pass, sgemm P V (on AVX-512 machines
 *                     a private OpenBLAS forced to its SkylakeX kernels, kg_blas.h: the default
 *                     dispatch picks Prescott (SSE3) kernels on the Emerald Rapids VM, 4x slower);
 *   onednn            oneDNN (kg_dnnl.h): a batched matmul primitive for Q K^T (K as a strided
 *                     transposed view, the 1/sqrt(d) scale as an output scale), the softmax
 *                     primitive over the last axis, a batched matmul for P V.
 * The unfused forms compute the full s x s product also when causal (the mask is applied by the
 * softmax pass; oneDNN: a masking pass before its softmax, see fa_dnnl), as a framework's unfused graph
 * does.
 *
 * Reference: double precision, computed once (kg_prepare); see kg_verify for the bounds.
 * Shapes refused by kg_create: b, s or d < 1, b * s * s beyond 2^31 elements for patterns 0/1
 * (2^28 for 2: the unfused baselines materialise it too), d > 1024, pattern not 0..2, causal
 * not 0/1.
 */
#ifndef KG_PUBLIC_ONLY
#include "kg_blas.h"
#include "kg_dnnl.h"
#endif
#include "kg_util.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__AVX2__) || defined(__AVX512F__)
#include <immintrin.h>
#endif
#ifdef _OPENMP
#include <omp.h>
#endif

#ifndef BQ
#define BQ 96
#endif
#ifndef BK
#define BK 128
#endif
#ifndef MR
#define MR 6
#endif
#ifndef NR
#define NR 32
#endif
#ifndef KU
#define KU 4
#endif
#ifndef THREADS
#define THREADS 1
#endif

#define FA_MIN(a, b) ((a) < (b) ? (a) : (b))
#define FA_MAX(a, b) ((a) > (b) ? (a) : (b))
#define FA_ROUND(x, r) (((x) + (r)-1) / (r) * (r))
#define FA_LOG2E 1.4426950408889634
#define FA_PAD 64 /* key padding of K^T and of the unfused score rows (a multiple of every NR) */

#if (BQ % MR) != 0 || (BK % NR) != 0 || (NR % 16) != 0 || (FA_PAD % NR) != 0
#error "fusion_attention: BQ must be a multiple of MR, BK of NR, NR of 16 and 64 of NR"
#endif

#include "gemm_ukr.h"

#if defined(__AVX512F__)
#define FA_VEC 1 /* the AVX-512 row operations (max, exponentials) */
#define FA_VEC8 0
#else
#define FA_VEC 0
#if defined(__AVX2__) && defined(__FMA__)
#define FA_VEC8 1 /* their AVX2 + FMA form, 8 lanes */
#else
#define FA_VEC8 0
#endif
#endif

/* ---- tile products (gemm_ukr.h: the variant's MR x NR microkernel) ------------------------------
 * Scores: gemm_ukr_direct over MR rows of the pre-scaled Q (row stride d) and one K^T panel
 * [d][NR] (row stride NR): an MR x NR score tile.  P V: gemm_ukr_direct over MR rows of P (row
 * stride ldp) and V (row stride d), NR output columns at a time; the columns past the last
 * multiple of NR (d % NR != 0) go through fa_pv_port.  Rows past the last multiple of MR (the
 * unfused baselines' last tile) too. */

/* o[i, c] = beta * o[i, c] + sum_k p[i * ldp + k] v[k * ldv + c], i < mr, c0 <= c < c1 (any sizes). */
static inline void fa_pv_port(int64_t mr, int64_t nk, const float *restrict p, int64_t ldp, const float *restrict v,
                              int64_t ldv, float *restrict o, int64_t ldo, int64_t c0, int64_t c1, float beta) {
  for (int64_t i = 0; i < mr; i++) {
    float *oi = o + i * ldo;
    for (int64_t c = c0; c < c1; c++) oi[c] = beta == 0.0f ? 0.0f : beta * oi[c];
    for (int64_t k = 0; k < nk; k++) {
      const float pik = p[i * ldp + k];
      for (int64_t c = c0; c < c1; c++) oi[c] += pik * v[k * ldv + c];
    }
  }
}

/* o [mr, d] (row stride d) = beta * o + p [mr, nk] (row stride ldp) v [nk, d] (row stride d). */
static inline void fa_pv_rows(int64_t mr, int64_t nk, const float *p, int64_t ldp, const float *v, int64_t d,
                              float *o, float beta) {
  const int64_t dfull = mr == MR ? d / NR * NR : 0;
  for (int64_t c0 = 0; c0 < dfull; c0 += NR) gemm_ukr_direct(nk, p, ldp, v + c0, d, o + c0, d, 1.0f, beta);
  if (dfull < d) fa_pv_port(mr, nk, p, ldp, v, d, o, d, dfull, d, beta);
}

/* ---- row operations: max, base-2 exponentials, sums --------------------------------------- */

#if FA_VEC
/* 2^x for x <= 0: x = n + f, n = round(x), |f| <= 1/2; 2^f by its degree-7 Taylor polynomial
 * (truncation below 1e-8 relative), scaled by 2^n (vscalefps).  x below -126 (masked -inf
 * scores among them) gives exactly 0 through a zero-masked scalef: letting the scaling underflow
 * instead costs a microcode assist per instruction (causal blocks ran slower than full ones). */
static inline __m512 fa_exp2_16(__m512 x) {
  const __mmask16 live = _mm512_cmp_ps_mask(x, _mm512_set1_ps(-126.0f), _CMP_GE_OQ);
  x = _mm512_max_ps(x, _mm512_set1_ps(-126.0f));
  const __m512 n = _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m512 f = _mm512_sub_ps(x, n);
  __m512 y = _mm512_set1_ps(1.5252734e-5f);
  y = _mm512_fmadd_ps(y, f, _mm512_set1_ps(1.5403530e-4f));
  y = _mm512_fmadd_ps(y, f, _mm512_set1_ps(1.3333558e-3f));
  y = _mm512_fmadd_ps(y, f, _mm512_set1_ps(9.6181291e-3f));
  y = _mm512_fmadd_ps(y, f, _mm512_set1_ps(5.5504109e-2f));
  y = _mm512_fmadd_ps(y, f, _mm512_set1_ps(2.4022651e-1f));
  y = _mm512_fmadd_ps(y, f, _mm512_set1_ps(6.9314718e-1f));
  y = _mm512_fmadd_ps(y, f, _mm512_set1_ps(1.0f));
  return _mm512_maskz_scalef_ps(live, y, n);
}
#endif
#if FA_VEC8
/* fa_exp2_16 on 8 lanes: the same polynomial; 2^n (n in [-126, 0]) built in the exponent field,
 * and x below -126 gives exactly 0 by a mask (no subnormal arithmetic). */
static inline __m256 fa_exp2_8(__m256 x) {
  const __m256 live = _mm256_cmp_ps(x, _mm256_set1_ps(-126.0f), _CMP_GE_OQ);
  x = _mm256_max_ps(x, _mm256_set1_ps(-126.0f));
  const __m256 n = _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m256 f = _mm256_sub_ps(x, n);
  __m256 y = _mm256_set1_ps(1.5252734e-5f);
  y = _mm256_fmadd_ps(y, f, _mm256_set1_ps(1.5403530e-4f));
  y = _mm256_fmadd_ps(y, f, _mm256_set1_ps(1.3333558e-3f));
  y = _mm256_fmadd_ps(y, f, _mm256_set1_ps(9.6181291e-3f));
  y = _mm256_fmadd_ps(y, f, _mm256_set1_ps(5.5504109e-2f));
  y = _mm256_fmadd_ps(y, f, _mm256_set1_ps(2.4022651e-1f));
  y = _mm256_fmadd_ps(y, f, _mm256_set1_ps(6.9314718e-1f));
  y = _mm256_fmadd_ps(y, f, _mm256_set1_ps(1.0f));
  const __m256 p2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23));
  return _mm256_and_ps(live, _mm256_mul_ps(y, p2));
}

static inline float fa_hmax8(__m256 v) {
  __m128 h = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  h = _mm_max_ps(h, _mm_movehl_ps(h, h));
  return _mm_cvtss_f32(_mm_max_ss(h, _mm_movehdup_ps(h)));
}

static inline float fa_hsum8(__m256 v) {
  __m128 h = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  h = _mm_add_ps(h, _mm_movehl_ps(h, h));
  return _mm_cvtss_f32(_mm_add_ss(h, _mm_movehdup_ps(h)));
}
#endif

/* max of x[0..n) (n a multiple of 16 on the vector path when vec). */
static inline float fa_row_max(const float *x, int64_t n) {
  int64_t j = 0;
  float m = -INFINITY;
#if FA_VEC
  __m512 vm = _mm512_set1_ps(-INFINITY);
  for (; j + 16 <= n; j += 16) vm = _mm512_max_ps(vm, _mm512_loadu_ps(x + j));
  m = _mm512_reduce_max_ps(vm);
#elif FA_VEC8
  __m256 vm = _mm256_set1_ps(-INFINITY);
  for (; j + 8 <= n; j += 8) vm = _mm256_max_ps(vm, _mm256_loadu_ps(x + j));
  m = fa_hmax8(vm);
#endif
  for (; j < n; j++) m = x[j] > m ? x[j] : m;
  return m;
}

/* x[j] = 2^(x[j] - m) for j < n; returns the sum (m finite). */
static inline float fa_row_exp2(float *x, int64_t n, float m) {
  int64_t j = 0;
  float s = 0.0f;
#if FA_VEC
  const __m512 vm = _mm512_set1_ps(m);
  __m512 vs = _mm512_setzero_ps();
  for (; j + 16 <= n; j += 16) {
    const __m512 e = fa_exp2_16(_mm512_sub_ps(_mm512_loadu_ps(x + j), vm));
    _mm512_storeu_ps(x + j, e);
    vs = _mm512_add_ps(vs, e);
  }
  s = _mm512_reduce_add_ps(vs);
#elif FA_VEC8
  const __m256 vm = _mm256_set1_ps(m);
  __m256 vs = _mm256_setzero_ps();
  for (; j + 8 <= n; j += 8) {
    const __m256 e = fa_exp2_8(_mm256_sub_ps(_mm256_loadu_ps(x + j), vm));
    _mm256_storeu_ps(x + j, e);
    vs = _mm256_add_ps(vs, e);
  }
  s = fa_hsum8(vs);
#endif
  for (; j < n; j++) {
    x[j] = exp2f(x[j] - m);
    s += x[j];
  }
  return s;
}

/* x[j] *= c for j < n. */
static inline void fa_row_scale(float *x, int64_t n, float c) {
  for (int64_t j = 0; j < n; j++) x[j] *= c;
}

/* ---- the problem and its workspace ------------------------------------------------------------ */

enum { FA_QK_ONLY = 0, FA_QK_SOFTMAX = 1, FA_ATTENTION = 2 };

/* One call: inputs, output, shape; the workspace is per state, grown by the first call. */
typedef struct fa_args {
  int64_t b, s, d;
  int pattern, causal;
  const float *q, *k, *v;
  float *out; /* [b, s, s] (patterns 0, 1) or [b, s, d] (2) */
} fa_args;

typedef struct fa_ws {
  float *buf;
  size_t floats;
} fa_ws;

static int fa_reserve(fa_ws *w, size_t floats) {
  if (w->floats >= floats) return 0;
  free(w->buf);
  w->buf = kg_alloc(floats * sizeof(float));
  w->floats = w->buf ? floats : 0;
  return w->buf ? 0 : -1;
}

static inline int64_t fa_spad(int64_t s) { return FA_ROUND(s, FA_PAD); }

/* K^T of every batch in panels of nr keys: kt [b][spad / nr][d][nr] (keys s..spad zero), so a
 * score tile reads one contiguous panel (a plain [d][spad] K^T strides rows 4 KB apart at
 * s = 1024: every row in the same L1 set).  In parallel over (batch, panel). */
static void fa_pack_kt(const fa_args *a, float *kt, int64_t nr, int threads) {
  const int64_t s = a->s, d = a->d, np = fa_spad(s) / nr;
  (void)threads;
#if defined(_OPENMP)
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
#endif
  for (int64_t u = 0; u < a->b * np; u++) {
    const int64_t bi = u / np, j0 = u % np * nr;
    const float *kb = a->k + (bi * s + j0) * d;
    float *panel = kt + u * d * nr;
    const int64_t nj = FA_MIN(nr, s - j0);
    for (int64_t j = 0; j < nj; j++)
      for (int64_t p = 0; p < d; p++) panel[p * nr + j] = kb[j * d + p];
    for (int64_t j = nj; j < nr; j++)
      for (int64_t p = 0; p < d; p++) panel[p * nr + j] = 0.0f;
  }
}

/* The panel of K^T holding key j (a multiple of nr) of batch bi. */
static inline const float *fa_panel(const float *kt, int64_t bi, int64_t j, int64_t s, int64_t d, int64_t nr) {
  return kt + (bi * (fa_spad(s) / nr) + j / nr) * d * nr;
}

static inline int fa_omp_thread(void) {
#ifdef _OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}

/* ---- the fused kernel ------------------------------------------------------------------------ */

/* Per-thread workspace of the fused kernel, in floats: Qs [BQ, d], O_acc [BQ, d], m, l, alpha
 * [BQ] each, the score tile [BQ, W] (W = BK for attention, spad for patterns 0 and 1). */
static inline int64_t fa_fused_ws(int64_t d, int64_t w) { return FA_ROUND(BQ * (2 * d + 3 + w), 16); }

/* One unit: batch bi, queries q0 .. q0 + nq. */
static void fa_fused_unit(const fa_args *a, const float *kt, float *ws, int64_t bi, int64_t q0) {
  const int64_t s = a->s, d = a->d, sp = fa_spad(s), nq = FA_MIN(BQ, s - q0);
  const int pattern = a->pattern, causal = a->causal;
  const int64_t w = pattern == FA_ATTENTION ? BK : sp;
  float *qs = ws, *oacc = qs + BQ * d, *mrow = oacc + BQ * d, *lrow = mrow + BQ, *al = lrow + BQ;
  float *sc = al + BQ;
  /* Q block, scaled by 1/sqrt(d) (and log2(e) for the exponentials); rows past s are zero */
  const float qscale = (float)((pattern == FA_QK_ONLY ? 1.0 : FA_LOG2E) / sqrt((double)d));
  const float *qb = a->q + (bi * s + q0) * d;
  for (int64_t i = 0; i < BQ; i++)
    for (int64_t p = 0; p < d; p++) qs[i * d + p] = i < nq ? qscale * qb[i * d + p] : 0.0f;
  const int64_t kend = causal ? FA_MIN(s, q0 + nq) : s; /* keys any of these queries sees */

  if (pattern != FA_ATTENTION) {
    /* all keys at once: the scores of BQ rows [BQ, kend rounded to NR] */
    const int64_t kr = FA_ROUND(kend, NR);
    for (int64_t i = 0; i < BQ; i += MR)
      for (int64_t j = 0; j < kr; j += NR) gemm_ukr_direct(d, qs + i * d, d, fa_panel(kt, bi, j, s, d, NR), NR, sc + i * w + j, w, 1.0f, 0.0f);
    float *ob = a->out + (bi * s + q0) * s;
    for (int64_t i = 0; i < nq; i++) {
      float *row = sc + i * w, *orow = ob + i * s;
      const int64_t nvis = causal ? q0 + i + 1 : s; /* visible keys of this row */
      if (pattern == FA_QK_ONLY) {
        memcpy(orow, row, (size_t)nvis * sizeof(float));
      } else {
        const float m = fa_row_max(row, nvis);
        const float l = fa_row_exp2(row, nvis, m);
        const float inv = 1.0f / l;
        for (int64_t j = 0; j < nvis; j++) orow[j] = row[j] * inv;
      }
      const float fill = pattern == FA_QK_ONLY ? -INFINITY : 0.0f;
      for (int64_t j = nvis; j < s; j++) orow[j] = fill;
    }
    return;
  }

  for (int64_t i = 0; i < BQ; i++) mrow[i] = -INFINITY, lrow[i] = 0.0f;
  for (int64_t k0 = 0; k0 < kend; k0 += BK) {
    const int64_t nk = FA_MIN(BK, kend - k0), nkr = FA_ROUND(nk, NR);
    for (int64_t i = 0; i < BQ; i += MR)
      for (int64_t j = 0; j < nkr; j += NR) gemm_ukr_direct(d, qs + i * d, d, fa_panel(kt, bi, k0 + j, s, d, NR), NR, sc + i * w + j, w, 1.0f, 0.0f);
    const int diag = causal && k0 + nk > q0; /* the block reaches past some query's position */
    for (int64_t i = 0; i < BQ; i++) {
      float *row = sc + i * w;
      /* the row's visible keys in this block: all nk, or up to the query's own position */
      int64_t nv = nk;
      if (diag) nv = FA_MAX(0, FA_MIN(nk, q0 + i + 1 - k0));
      for (int64_t j = nv; j < nkr; j++) row[j] = -INFINITY;
      const float mb = fa_row_max(row, nkr);
      const float mnew = FA_MAX(mrow[i], mb);
      if (mnew == -INFINITY) { /* nothing visible yet (a padding row): keep O_acc, l at 0 */
        al[i] = 1.0f;
        for (int64_t j = 0; j < nkr; j++) row[j] = 0.0f;
        continue;
      }
      al[i] = exp2f(mrow[i] - mnew); /* 0 on the first block (m = -inf) */
      lrow[i] = lrow[i] * al[i] + fa_row_exp2(row, nkr, mnew);
      mrow[i] = mnew;
    }
    if (k0 > 0) /* rescale the accumulator to the new maxima */
      for (int64_t i = 0; i < BQ; i++)
        if (al[i] != 1.0f) fa_row_scale(oacc + i * d, d, al[i]); /* (a maximum that did not move: 1) */
    for (int64_t i = 0; i < BQ; i += MR)
      fa_pv_rows(MR, nk, sc + i * w, w, a->v + (bi * s + k0) * d, d, oacc + i * d, k0 == 0 ? 0.0f : 1.0f);
  }
  float *ob = a->out + (bi * s + q0) * d;
  for (int64_t i = 0; i < nq; i++) {
    const float inv = 1.0f / lrow[i];
    for (int64_t c = 0; c < d; c++) ob[i * d + c] = oacc[i * d + c] * inv;
  }
}

/* The fused variant; 0, or -1 when the workspace cannot be had. */
static int fa_fused(const fa_args *a, fa_ws *wsp) {
  const int threads = kg_threads(THREADS);
  const int64_t sp = fa_spad(a->s), nqb = (a->s + BQ - 1) / BQ;
  const int64_t per = fa_fused_ws(a->d, a->pattern == FA_ATTENTION ? BK : sp);
  const int64_t ktf = FA_ROUND(a->b * a->d * sp, 16);
  if (fa_reserve(wsp, (size_t)(ktf + per * threads))) return -1;
  float *kt = wsp->buf, *ws = wsp->buf + ktf;
  fa_pack_kt(a, kt, NR, threads);
#if defined(_OPENMP)
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1) if (threads > 1)
#endif
  for (int64_t u = 0; u < a->b * nqb; u++) {
    /* causal: the longest units (last query blocks) first */
    const int64_t bi = u % a->b, qb = a->causal ? nqb - 1 - u / a->b : u / a->b;
    fa_fused_unit(a, kt, ws + per * fa_omp_thread(), bi, qb * BQ);
  }
  return 0;
}

#ifndef KG_PUBLIC_ONLY
/* ---- the harness ABI (kg_abi.h): inputs, reference, baselines -------------------------------- */

typedef struct fa_state {
  fa_args a;
  float *q, *k, *v, *out;
  double *ref;   /* [b, s, s] or [b, s, d]: the double-precision result (kg_prepare) */
  double *bound; /* [b, s, s] or [b, s, d]: its error bound for a float computation */
  fa_ws ws;      /* the fused kernel's workspace (grown by its first call) */
  float *tfull;  /* the unfused baselines' materialised scores [b, s, spad] (first call) */
  float *ktb;    /* the unfused baselines' K^T [b, d, spad] */
  kg_dnnl dnnl;  /* oneDNN and its primitives (first oneDNN baseline call) */
  kg_dnnl_prim mm_qk[2], softmax[2], mm_pv[2]; /* [0]: 1 thread, [1]: 2 (made with their threads) */
} fa_state;

/* Size of the output in floats. */
static size_t fa_out_len(const fa_args *a) {
  return (size_t)(a->pattern == FA_ATTENTION ? a->b * a->s * a->d : a->b * a->s * a->s);
}

void *kg_create(const kg_problem *p) {
  const int64_t b = kg_dim(p, "b", -1), s = kg_dim(p, "s", -1), d = kg_dim(p, "d", -1);
  const int64_t pattern = kg_dim(p, "pattern", FA_ATTENTION), causal = kg_dim(p, "causal", 0);
  if (b < 1 || s < 1 || d < 1) {
    fprintf(stderr, "fusion_attention: b, s and d must be >= 1 (b %lld, s %lld, d %lld)\n", (long long)b,
            (long long)s, (long long)d);
    return NULL;
  }
  if (pattern < 0 || pattern > 2 || (causal != 0 && causal != 1)) {
    fprintf(stderr, "fusion_attention: pattern must be 0 (qk), 1 (qk_softmax) or 2 (attention), causal 0 or 1 "
                    "(pattern %lld, causal %lld)\n", (long long)pattern, (long long)causal);
    return NULL;
  }
  if (d > 1024 || s > (1 << 20) || b > (1 << 20) || b * s * fa_spad(s) > ((int64_t)1 << 30)) {
    fprintf(stderr, "fusion_attention: shape too large (b %lld, s %lld, d %lld: b * s * s at most 2^30, d at most 1024)\n",
            (long long)b, (long long)s, (long long)d);
    return NULL;
  }
  fa_state *st = calloc(1, sizeof *st);
  if (!st) return NULL;
  const size_t n = (size_t)(b * s * d);
  st->a = (fa_args){.b = b, .s = s, .d = d, .pattern = (int)pattern, .causal = (int)causal};
  st->q = kg_alloc(n * sizeof(float));
  st->k = kg_alloc(n * sizeof(float));
  st->v = kg_alloc(n * sizeof(float));
  st->out = kg_alloc(fa_out_len(&st->a) * sizeof(float));
  if (!st->q || !st->k || !st->v || !st->out) {
    free(st->q), free(st->k), free(st->v), free(st->out), free(st);
    return NULL;
  }
  uint64_t seed = p->seed;
  kg_fill_float(st->q, n, &seed);
  kg_fill_float(st->k, n, &seed);
  kg_fill_float(st->v, n, &seed);
  st->a.q = st->q, st->a.k = st->k, st->a.v = st->v, st->a.out = st->out;
  return st;
}

void kg_run(void *state) {
  fa_state *st = state;
  if (fa_fused(&st->a, &st->ws)) abort(); /* out of memory: the harness records the failure */
}

/*
 * The reference, in double: T_ij = q_i . k_j / sqrt(d) (masked: -inf), P = softmax rows, O = P V.
 * Error bounds of a float computation (u = 2^-24, first order; |.| elementwise):
 *   scores: the d-term dot product and the scaling of q: |dT_ij| <= (d + 4) u sum_p |q_ip k_jp|
 *     / sqrt(d) <= e_ij := (d + 4) u ||q_i|| ||k_j|| / sqrt(d) (Cauchy-Schwarz), plus 2 u |T_ij|.
 *   softmax (base-2 exponentials of scores pre-scaled by log2 e, any blocking): each
 *     unnormalised weight p_ij = 2^(t_ij - m_i) is off relatively by at most
 *     delta_i = ln 2 (2 E_i + R_i u) + (s / 16 + 8) 4 u, where E_i bounds the error of the
 *     row's scaled scores (log2 e * max_j e_ij + 2u |t|max), R_i = the row's range of t (the
 *     rounding of t - m), 4 u each exponential and each online rescaling (at most s / 16 of
 *     them); the normaliser l_i, a float sum of s terms, adds s u; so
 *     |dP_ij| <= P_ij (2 delta_i + (s + 2) u).
 *   attention: |dO_ic| <= (2 delta_i + (2 s + 4) u) sum_j P_ij |V_jc|  (the s-term float sum of
 *     P V adds s u of sum_j P_ij |V_jc|).
 * Every bound gets an absolute floor of 1e-30 (underflow of weights below 2^-126).
 */
static void fa_reference(fa_state *st) {
  const fa_args *a = &st->a;
  const int64_t s = a->s, d = a->d;
  const double u = ldexp(1.0, -24), scale = 1.0 / sqrt((double)d);
  double *t = malloc((size_t)s * sizeof(double)), *kn = malloc((size_t)s * sizeof(double));
  if (!t || !kn) {
    free(t), free(kn);
    return;
  }
  for (int64_t bi = 0; bi < a->b; bi++) {
    const float *qb = a->q + bi * s * d, *kb = a->k + bi * s * d, *vb = a->v + bi * s * d;
    for (int64_t j = 0; j < s; j++) {
      double n2 = 0.0;
      for (int64_t p = 0; p < d; p++) n2 += (double)kb[j * d + p] * kb[j * d + p];
      kn[j] = sqrt(n2);
    }
    for (int64_t i = 0; i < s; i++) {
      const int64_t nvis = a->causal ? i + 1 : s;
      double qn = 0.0, tmax = -INFINITY, tmin = INFINITY, knmax = 0.0;
      for (int64_t p = 0; p < d; p++) qn += (double)qb[i * d + p] * qb[i * d + p];
      qn = sqrt(qn);
      for (int64_t j = 0; j < nvis; j++) {
        double acc = 0.0;
        for (int64_t p = 0; p < d; p++) acc += (double)qb[i * d + p] * kb[j * d + p];
        t[j] = acc * scale;
        tmax = fmax(tmax, t[j]), tmin = fmin(tmin, t[j]), knmax = fmax(knmax, kn[j]);
      }
      if (a->pattern == FA_QK_ONLY) {
        double *r = st->ref + (bi * s + i) * s, *e = st->bound + (bi * s + i) * s;
        for (int64_t j = 0; j < s; j++) {
          r[j] = j < nvis ? t[j] : -INFINITY;
          e[j] = j < nvis ? (double)(d + 4) * u * qn * kn[j] * scale + 2 * u * fabs(t[j]) + 1e-30 : 0.0;
        }
        continue;
      }
      const double big_t = FA_LOG2E * (fmax(fabs(tmax), fabs(tmin)));
      const double e_i = FA_LOG2E * (double)(d + 4) * u * qn * knmax * scale + 2 * u * big_t;
      const double range = FA_LOG2E * (tmax - tmin);
      const double delta = M_LN2 * (2 * e_i + range * u) + ((double)s / 16 + 8) * 4 * u;
      double l = 0.0;
      for (int64_t j = 0; j < nvis; j++) l += exp(t[j] - tmax);
      for (int64_t j = 0; j < nvis; j++) t[j] = exp(t[j] - tmax) / l;
      if (a->pattern == FA_QK_SOFTMAX) {
        double *r = st->ref + (bi * s + i) * s, *e = st->bound + (bi * s + i) * s;
        for (int64_t j = 0; j < s; j++) {
          r[j] = j < nvis ? t[j] : 0.0;
          e[j] = (j < nvis ? t[j] * (2 * delta + (double)(s + 2) * u) : 0.0) + 1e-30;
        }
        continue;
      }
      double *r = st->ref + (bi * s + i) * d, *e = st->bound + (bi * s + i) * d;
      for (int64_t c = 0; c < d; c++) r[c] = 0.0, e[c] = 0.0;
      for (int64_t j = 0; j < nvis; j++)
        for (int64_t c = 0; c < d; c++) {
          r[c] += t[j] * vb[j * d + c];
          e[c] += t[j] * fabs((double)vb[j * d + c]);
        }
      for (int64_t c = 0; c < d; c++) e[c] = e[c] * (2 * delta + (double)(2 * s + 4) * u) + 1e-30;
    }
  }
  free(t), free(kn);
}

/* Once, on the pristine state: the reference and its bounds (isolated variants share them). */
void kg_prepare(void *state) {
  fa_state *st = state;
  if (st->ref) return;
  const size_t n = fa_out_len(&st->a);
  st->ref = malloc(n * sizeof(double));
  st->bound = malloc(n * sizeof(double));
  if (!st->ref || !st->bound) {
    free(st->ref), free(st->bound);
    st->ref = st->bound = NULL;
    return;
  }
  fa_reference(st);
}

/**
 * Compare the state's current output with the reference (computed here if kg_prepare was not
 * called); 0 when every element is within its bound, else 1 with the first offender in msg.  On
 * success msg gets {"max_abs_err": e, "max_err_over_bound": r}.  The harness calls it through
 * kg_verify; tests call it after a baseline to check the baselines too.
 */
int fusion_attention_check(void *state, char *msg, size_t cap);
int fusion_attention_check(void *state, char *msg, size_t cap) {
  fa_state *st = state;
  kg_prepare(st);
  if (!st->ref) {
    snprintf(msg, cap, "out of memory for the reference");
    return 1;
  }
  const size_t n = fa_out_len(&st->a);
  const int64_t w = st->a.pattern == FA_ATTENTION ? st->a.d : st->a.s;
  double worst = 0.0, maxerr = 0.0;
  for (size_t i = 0; i < n; i++) {
    const double got = st->out[i], want = st->ref[i];
    const double diff = got == want ? 0.0 : fabs(got - want); /* -inf == -inf: exact */
    if (!(diff <= st->bound[i])) {
      static const char *const names[] = {"T", "P", "O"};
      snprintf(msg, cap, "%s[%zu, %zu, %zu] = %.9g, expected %.9g (|diff| %.3g > bound %.3g; s %lld, d %lld, causal %d)",
               names[st->a.pattern], i / (size_t)(st->a.s * w), i / (size_t)w % (size_t)st->a.s, i % (size_t)w,
               got, want, diff, st->bound[i], (long long)st->a.s, (long long)st->a.d, st->a.causal);
      return 1;
    }
    maxerr = fmax(maxerr, diff);
    worst = fmax(worst, diff / st->bound[i]);
  }
  snprintf(msg, cap, "{\"max_abs_err\": %.3g, \"max_err_over_bound\": %.3g}", maxerr, worst);
  return 0;
}

int kg_verify(void *state, char *msg, size_t cap) {
  fa_state *st = state;
  memset(st->out, 0xff, fa_out_len(&st->a) * sizeof(float)); /* NaN: an unwritten element fails */
  if (fa_fused(&st->a, &st->ws)) {
    snprintf(msg, cap, "out of memory for the workspace");
    return 1;
  }
  return fusion_attention_check(st, msg, cap);
}

void kg_destroy(void *state) {
  fa_state *st = state;
  if (!st) return;
  free(st->q), free(st->k), free(st->v), free(st->out), free(st->ref), free(st->bound);
  free(st->ws.buf), free(st->tfull), free(st->ktb);
  if (st->dnnl.stream) {
    for (int i = 0; i < 2; i++) {
      kg_dnnl_prim_free(&st->dnnl, &st->mm_qk[i]);
      kg_dnnl_prim_free(&st->dnnl, &st->softmax[i]);
      kg_dnnl_prim_free(&st->dnnl, &st->mm_pv[i]);
    }
    kg_dnnl_fini(&st->dnnl);
  }
  free(st);
}

/* ---- the unfused baselines: T materialised, a softmax pass, P V ---------------------------- */

/* The materialised score buffer [b, s, spad] and (own kernels) K^T; aborts without memory. */
static void fa_unfused_alloc(fa_state *st, int own) {
  const int64_t b = st->a.b, s = st->a.s, d = st->a.d, sp = fa_spad(s);
  if (!st->tfull) st->tfull = kg_alloc((size_t)(b * s * sp) * sizeof(float));
  if (own && !st->ktb) st->ktb = kg_alloc((size_t)(b * d * sp) * sizeof(float));
  if (!st->tfull || (own && !st->ktb)) {
    fprintf(stderr, "fusion_attention: out of memory for the unfused baseline\n");
    abort();
  }
}

/* Step 2: the softmax pass over the materialised scores, row by row (in place: P over T); the
 * causal mask is applied here; pattern 0 only masks.  Scores are natural-log scaled (T). */
static void fa_softmax_pass(fa_state *st, int threads) {
  const fa_args *a = &st->a;
  const int64_t s = a->s, sp = fa_spad(s);
  (void)threads;
#if defined(_OPENMP)
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
#endif
  for (int64_t r = 0; r < a->b * s; r++) {
    float *row = st->tfull + r * sp;
    const int64_t i = r % s, nvis = a->causal ? i + 1 : s;
    if (a->pattern == FA_QK_ONLY) {
      for (int64_t j = nvis; j < s; j++) row[j] = -INFINITY;
      continue;
    }
    fa_row_scale(row, nvis, (float)FA_LOG2E);
    const float m = fa_row_max(row, nvis);
    const float inv = 1.0f / fa_row_exp2(row, nvis, m);
    fa_row_scale(row, nvis, inv);
    for (int64_t j = nvis; j < s; j++) row[j] = 0.0f;
  }
}

/* The OpenBLAS instance of this variant, shared by all its states (each private SkylakeX instance
 * is a new link-map namespace with its own libc: one per state exhausts the static TLS). */
static kg_blas fa_blas;

/* Step 3 (attention): O = P V, or (patterns 0, 1) the rows copied out as the result. */
static void fa_unfused_finish(fa_state *st, int threads, int blas) {
  const fa_args *a = &st->a;
  const int64_t s = a->s, d = a->d, sp = fa_spad(s);
  (void)threads;
  if (a->pattern != FA_ATTENTION) {
    for (int64_t r = 0; r < a->b * s; r++) memcpy(st->out + r * s, st->tfull + r * sp, (size_t)s * sizeof(float));
    return;
  }
  if (blas) {
    for (int64_t bi = 0; bi < a->b; bi++)
      fa_blas.sgemm(KG_BLAS_ROW_MAJOR, KG_BLAS_NO_TRANS, KG_BLAS_NO_TRANS, (int)s, (int)d, (int)s, 1.0f,
                   st->tfull + bi * s * sp, (int)sp, a->v + bi * s * d, (int)d, 0.0f, st->out + bi * s * d, (int)d);
    return;
  }
  const int64_t nrb = (s + MR - 1) / MR;
#if defined(_OPENMP)
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
#endif
  for (int64_t u = 0; u < a->b * nrb; u++) {
    const int64_t bi = u / nrb, i0 = u % nrb * MR;
    fa_pv_rows(FA_MIN(MR, s - i0), s, st->tfull + (bi * s + i0) * sp, sp, a->v + bi * s * d, d,
               st->out + (bi * s + i0) * d, 0.0f);
  }
}

/* kgen's own kernels: T = Q K^T / sqrt(d) with the baseline tile, the pass, P V. */
static void fa_unfused_own(fa_state *st, int threads) {
  const fa_args *a = &st->a;
  const int64_t s = a->s, d = a->d, sp = fa_spad(s);
  fa_unfused_alloc(st, 1);
  fa_pack_kt(a, st->ktb, NR, threads);
  const int64_t nrb = (s + MR - 1) / MR;
  const float scale = (float)(1.0 / sqrt((double)d));
#if defined(_OPENMP)
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
#endif
  for (int64_t u = 0; u < a->b * nrb; u++) {
    const int64_t bi = u / nrb, i0 = u % nrb * MR, nr = FA_MIN(MR, s - i0);
    float qt[MR * 1024], tt[MR * NR];
    for (int64_t i = 0; i < MR; i++)
      for (int64_t p = 0; p < d; p++) qt[i * d + p] = i < nr ? scale * a->q[(bi * s + i0 + i) * d + p] : 0.0f;
    float *t = st->tfull + (bi * s + i0) * sp;
    for (int64_t j = 0; j < sp; j += NR) {
      const float *kt = fa_panel(st->ktb, bi, j, s, d, NR);
      if (nr == MR) {
        gemm_ukr_direct(d, qt, d, kt, NR, t + j, sp, 1.0f, 0.0f);
      } else { /* the last rows: through a tile buffer */
        gemm_ukr_direct(d, qt, d, kt, NR, tt, NR, 1.0f, 0.0f);
        for (int64_t i = 0; i < nr; i++) memcpy(t + i * sp + j, tt + i * NR, NR * sizeof(float));
      }
    }
  }
  fa_softmax_pass(st, threads);
  fa_unfused_finish(st, threads, 0);
}

/* OpenBLAS: T = Q K^T / sqrt(d) by sgemm (NoTrans, Trans), the pass, P V by sgemm. */
static void fa_unfused_blas(fa_state *st, int threads) {
  const fa_args *a = &st->a;
  const int64_t s = a->s, d = a->d, sp = fa_spad(s);
  fa_unfused_alloc(st, 0);
#if defined(__AVX512F__) /* the default dispatch runs Prescott (SSE3) kernels on this VM */
  kg_blas_skylakex(&fa_blas);
#else
  kg_blas_default(&fa_blas);
#endif
  fa_blas.set_threads(threads);
  for (int64_t bi = 0; bi < a->b; bi++)
    fa_blas.sgemm(KG_BLAS_ROW_MAJOR, KG_BLAS_NO_TRANS, KG_BLAS_TRANS, (int)s, (int)s, (int)d, (float)(1.0 / sqrt((double)d)),
                 a->q + bi * s * d, (int)d, a->k + bi * s * d, (int)d, 0.0f, st->tfull + bi * s * sp, (int)sp);
  fa_softmax_pass(st, threads);
  fa_unfused_finish(st, threads, 1);
}

/*
 * oneDNN: T = Q K^T / sqrt(d) by a batched matmul primitive (K read as its transpose through
 * strides, the scale an eltwise linear post-op), the causal mask by a pass of ours (-inf above
 * the diagonal: the matmul with a broadcast binary-add post-op of a 0 / -inf mask took 9.5 s
 * instead of 10 ms at b = 4, s = 1024 with Debian's oneDNN 2.6 here), the softmax primitive over the last axis in
 * place, then O = P V by a second batched matmul.  Patterns 0 and 1 write T / P straight
 * into the output; attention keeps them in the [b, s, spad] buffer.  Primitives are made on the
 * first (warm-up) call of each thread count, with that count set.
 */
static void fa_dnnl(fa_state *st, int threads) {
  const fa_args *a = &st->a;
  const int64_t b = a->b, s = a->s, d = a->d, sp = fa_spad(s);
  kg_dnnl *dn = &st->dnnl;
  const int att = a->pattern == FA_ATTENTION;
  if (att) fa_unfused_alloc(st, 0);
  float *t = att ? st->tfull : st->out;
  const int64_t ldt = att ? sp : s;
  const int ti = threads > 1;
  kg_dnnl_prim *mm_qk = &st->mm_qk[ti], *softmax = &st->softmax[ti], *mm_pv = &st->mm_pv[ti];
  kg_dnnl_init(dn);
  kg_dnnl_set_threads(threads);
  if (!mm_qk->p) {
    dnnl_memory_desc_t q_md, kt_md, t_md, v_md, o_md;
    KG_DNNL(dn, memory_desc_init_by_tag, &q_md, 3, (dnnl_dims_t){b, s, d}, dnnl_f32, dnnl_abc);
    KG_DNNL(dn, memory_desc_init_by_strides, &kt_md, 3, (dnnl_dims_t){b, d, s}, dnnl_f32, (dnnl_dims_t){s * d, 1, d});
    KG_DNNL(dn, memory_desc_init_by_strides, &t_md, 3, (dnnl_dims_t){b, s, s}, dnnl_f32, (dnnl_dims_t){s * ldt, ldt, 1});
    dnnl_primitive_attr_t attr;
    dnnl_post_ops_t po;
    KG_DNNL(dn, primitive_attr_create, &attr);
    KG_DNNL(dn, post_ops_create, &po);
    KG_DNNL(dn, post_ops_append_eltwise, po, 1.0f, dnnl_eltwise_linear, (float)(1.0 / sqrt((double)d)), 0.0f);
    KG_DNNL(dn, primitive_attr_set_post_ops, attr, po);
    KG_DNNL(dn, post_ops_destroy, po);
    dnnl_matmul_desc_t mm;
    KG_DNNL(dn, matmul_desc_init, &mm, &q_md, &kt_md, NULL, &t_md);
    kg_dnnl_prim_make(dn, mm_qk, &mm, attr);
    if (a->pattern != FA_QK_ONLY) {
      dnnl_softmax_desc_t sm;
      KG_DNNL(dn, softmax_forward_desc_init, &sm, dnnl_forward_inference, &t_md, 2);
      kg_dnnl_prim_make(dn, softmax, &sm, NULL);
    }
    if (att) {
      KG_DNNL(dn, memory_desc_init_by_tag, &v_md, 3, (dnnl_dims_t){b, s, d}, dnnl_f32, dnnl_abc);
      KG_DNNL(dn, memory_desc_init_by_tag, &o_md, 3, (dnnl_dims_t){b, s, d}, dnnl_f32, dnnl_abc);
      dnnl_matmul_desc_t mm2;
      KG_DNNL(dn, matmul_desc_init, &mm2, &t_md, &v_md, NULL, &o_md);
      kg_dnnl_prim_make(dn, mm_pv, &mm2, NULL);
    }
  }
  kg_dnnl_prim_run(dn, mm_qk, 3, (int[]){DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST},
                   (void *[]){(void *)a->q, (void *)a->k, t});
  if (a->causal) /* the mask: a pass of ours (see above) */
    for (int64_t r = 0; r < b * s; r++)
      for (int64_t j = r % s + 1; j < s; j++) t[r * ldt + j] = -INFINITY;
  if (a->pattern != FA_QK_ONLY)
    kg_dnnl_prim_run(dn, softmax, 2, (int[]){DNNL_ARG_SRC, DNNL_ARG_DST}, (void *[]){t, t});
  if (att)
    kg_dnnl_prim_run(dn, mm_pv, 3, (int[]){DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST},
                     (void *[]){t, (void *)a->v, st->out});
}

void kg_baseline_unfused(void *state) { fa_unfused_own(state, 1); }
void kg_baseline_unfused_2t(void *state) { fa_unfused_own(state, 2); }
void kg_baseline_openblas_unfused(void *state) { fa_unfused_blas(state, 1); }
void kg_baseline_openblas_unfused_2t(void *state) { fa_unfused_blas(state, 2); }
void kg_baseline_onednn(void *state) { fa_dnnl(state, 1); }
void kg_baseline_onednn_2t(void *state) { fa_dnnl(state, 2); }
#endif /* KG_PUBLIC_ONLY */
