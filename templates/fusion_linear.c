/*
 * fusion_linear.c - fused linear layers, fp32, row-major:
 *   linear_<act>:     Y[m, n] = act(X[m, k] W[n, k]^T + b[n])
 *   ln_linear_<act>:  Y = act(LN(X) W^T + b),  LN(x)_p = (x_p - mean) / sqrt(var + 1e-5) * gamma_p + beta_p
 * over each row's k features (PyTorch's nn.Linear weight layout and nn.LayerNorm; the torchao
 * microbenchmarks' `linear_<act>` and `ln_linear_<act>` model types).  Activations: kg_act.h.
 *
 * The fused kernel is gemm's packed GEMM (gemm_ukr.h: BLIS loops over NC columns, KC of depth and
 * MC rows around a generated MR x NR microkernel; W packed as B = W^T with gemm_pack_bt) with two
 * fusions:
 *   - the epilogue (bias + activation) runs on each tile's last KC block, either on the
 *     accumulators before the microkernel stores them (EPI = store: gemm_ukr_packed_epi, the
 *     epilogue inlined into the generated store) or as a pass over the finished MR x NR tile while
 *     it is in L1 (EPI = pass);
 *   - LayerNorm runs inside the A packing: a first pass computes each row's mean and 1/std (reads
 *     X once), and packing X's slivers applies (x - mean) * rstd * gamma + beta as it copies, so
 *     the normalized X is never written to memory.
 * The activations are vectorised (AVX-512, and AVX2 + FMA on 8 lanes): exp from kg_vmath.h
 * (Cody-Waite reduction, a degree-6 core, 2^n by vscalefps or in the exponent field); sigmoid
 * 1 / (1 + e^-x), silu x sigmoid(x), gelu_tanh x sigmoid(2u) (= 0.5 x (1 + tanh u)), gelu_erf through Abramowitz & Stegun 7.1.26 (|error| of
 * erf < 1.5e-7) in its erfc form for negative x (no cancellation); the rest are min/max.
 * Without AVX2 the activations run kg_act_f element by element (the portable fallback).
 *
 * Threads (THREADS > 1): one OpenMP region per call; B slivers packed by all threads, then per MC
 * block the A slivers, then the NR column slivers split between them (gemm.c's scheme).
 *
 * ABI note (as gemm.c): the harness runs every variant on the state of one variant's kg_create,
 * so the state's layout depends on no tunable; the packing workspace is grown by the first call
 * of a variant and freed by kg_destroy.
 *
 * Problem dimensions: m, k, n (>= 1), act (0..8, kg_act.h), ln (0 or 1).  Inputs: X uniform in
 * [-1, 1), W and b uniform in [-1/sqrt(k), 1/sqrt(k)) (nn.Linear's initialisation), gamma in
 * [0.5, 1.5), beta in [-0.5, 0.5).  Reference: LN, X W^T + b and act in double (fl_reference).
 * Baselines (same inputs, each writes Y): unfused[_2t] (LN pass writing LN(X), this file's packed
 * GEMM with no epilogue, a bias pass, an activation pass), openblas_unfused (the same passes
 * around OpenBLAS sgemm), onednn[_2t] (oneDNN layer_normalization, then matmul with the bias and
 * the activation as an eltwise post-op).
 */
#ifndef KG_PUBLIC_ONLY
#include "kg_blas.h"
#include "kg_dnnl.h"
#endif
#include "kg_act.h"
#include "kg_util.h"
#include "kg_vmath.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__AVX2__) || defined(__AVX512F__)
#include <immintrin.h>
#endif

/* MR, NR: defaults in gemm_ukr.h */
#ifndef EPI_store
#define EPI_store 0
#define EPI_pass 1
#endif
#ifndef EPI
#define EPI EPI_store
#endif
#ifndef KC
#define KC 256
#endif
#ifndef MC
#define MC 96
#endif
#ifndef THREADS
#define THREADS 1
#endif
#define FL_NC 3072 /* columns of W^T per packed block */
#define FL_LN_EPS 1e-5f

#if defined(_OPENMP)
#define FL_OMP(x) _Pragma(x)
#else
#define FL_OMP(x)
#endif

/* ---- vectorised activations ----------------------------------------------------------------- */

#if defined(__AVX512F__)
/* x / (1 + e^-(s x)): sigmoid (x = 1 lanes) and the silu / gelu_tanh forms share it. */
static inline __m512 fl_over1pexp16(__m512 num, __m512 z) {
  return _mm512_div_ps(num, _mm512_add_ps(_mm512_set1_ps(1.0f), kg_exp16(_mm512_sub_ps(_mm512_setzero_ps(), z))));
}

static inline __m512 fl_act16(int act, __m512 x) {
  const __m512 zero = _mm512_setzero_ps(), six = _mm512_set1_ps(6.0f);
  switch (act) {
  case KG_ACT_RELU: return _mm512_max_ps(x, zero);
  case KG_ACT_GELU_TANH: {
    __m512 x3 = _mm512_mul_ps(_mm512_mul_ps(x, x), x);
    __m512 u = _mm512_mul_ps(_mm512_fmadd_ps(x3, _mm512_set1_ps(0.044715f), x), _mm512_set1_ps(2 * 0.7978845608028654f));
    return fl_over1pexp16(x, u);
  }
  case KG_ACT_GELU_ERF: {
    /* 0.5 x (1 + erf(z)), z = x / sqrt 2; q = erfc(|z|) = poly(t) e^-z^2, t = 1 / (1 + 0.3275911 |z|) */
    __m512 z = _mm512_abs_ps(_mm512_mul_ps(x, _mm512_set1_ps(0.7071067811865476f)));
    __m512 t = _mm512_div_ps(_mm512_set1_ps(1.0f), _mm512_fmadd_ps(z, _mm512_set1_ps(0.3275911f), _mm512_set1_ps(1.0f)));
    __m512 p = _mm512_set1_ps(1.061405429f);
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-1.453152027f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(1.421413741f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-0.284496736f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(0.254829592f));
    p = _mm512_mul_ps(p, t);
    __m512 q = _mm512_mul_ps(p, kg_exp16(_mm512_sub_ps(zero, _mm512_mul_ps(z, z))));
    __mmask16 neg = _mm512_cmp_ps_mask(x, zero, _CMP_LT_OQ);
    __m512 f = _mm512_mask_blend_ps(neg, _mm512_sub_ps(_mm512_set1_ps(2.0f), q), q); /* 1 + erf(z) */
    return _mm512_mul_ps(_mm512_mul_ps(x, _mm512_set1_ps(0.5f)), f);
  }
  case KG_ACT_SILU: return fl_over1pexp16(x, x);
  case KG_ACT_SIGMOID: return fl_over1pexp16(_mm512_set1_ps(1.0f), x);
  case KG_ACT_LEAKYRELU:
    return _mm512_mask_mul_ps(x, _mm512_cmp_ps_mask(x, zero, _CMP_LT_OQ), x, _mm512_set1_ps(KG_ACT_LEAKY_SLOPE));
  case KG_ACT_RELU6: return _mm512_min_ps(_mm512_max_ps(x, zero), six);
  case KG_ACT_HARDSWISH: {
    __m512 r = _mm512_min_ps(_mm512_max_ps(_mm512_add_ps(x, _mm512_set1_ps(3.0f)), zero), six);
    return _mm512_mul_ps(_mm512_mul_ps(x, r), _mm512_set1_ps(1.0f / 6.0f));
  }
  default: return x;
  }
}
#endif
#if defined(__AVX2__) && defined(__FMA__)
/* fl_act16 on 8 lanes (AVX2 + FMA): the same formulas, kg_exp8, blends for the masks. */
static inline __m256 fl_over1pexp8(__m256 num, __m256 z) {
  return _mm256_div_ps(num, _mm256_add_ps(_mm256_set1_ps(1.0f), kg_exp8(_mm256_sub_ps(_mm256_setzero_ps(), z))));
}

static inline __m256 fl_act8(int act, __m256 x) {
  const __m256 zero = _mm256_setzero_ps(), six = _mm256_set1_ps(6.0f);
  switch (act) {
  case KG_ACT_RELU: return _mm256_max_ps(x, zero);
  case KG_ACT_GELU_TANH: {
    __m256 x3 = _mm256_mul_ps(_mm256_mul_ps(x, x), x);
    __m256 u = _mm256_mul_ps(_mm256_fmadd_ps(x3, _mm256_set1_ps(0.044715f), x), _mm256_set1_ps(2 * 0.7978845608028654f));
    return fl_over1pexp8(x, u);
  }
  case KG_ACT_GELU_ERF: {
    __m256 z = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), _mm256_mul_ps(x, _mm256_set1_ps(0.7071067811865476f)));
    __m256 t = _mm256_div_ps(_mm256_set1_ps(1.0f), _mm256_fmadd_ps(z, _mm256_set1_ps(0.3275911f), _mm256_set1_ps(1.0f)));
    __m256 p = _mm256_set1_ps(1.061405429f);
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-1.453152027f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(1.421413741f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-0.284496736f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(0.254829592f));
    p = _mm256_mul_ps(p, t);
    __m256 q = _mm256_mul_ps(p, kg_exp8(_mm256_sub_ps(zero, _mm256_mul_ps(z, z))));
    __m256 neg = _mm256_cmp_ps(x, zero, _CMP_LT_OQ);
    __m256 f = _mm256_blendv_ps(_mm256_sub_ps(_mm256_set1_ps(2.0f), q), q, neg); /* 1 + erf(x / sqrt 2) */
    return _mm256_mul_ps(_mm256_mul_ps(x, _mm256_set1_ps(0.5f)), f);
  }
  case KG_ACT_SILU: return fl_over1pexp8(x, x);
  case KG_ACT_SIGMOID: return fl_over1pexp8(_mm256_set1_ps(1.0f), x);
  case KG_ACT_LEAKYRELU:
    return _mm256_blendv_ps(x, _mm256_mul_ps(x, _mm256_set1_ps(KG_ACT_LEAKY_SLOPE)), _mm256_cmp_ps(x, zero, _CMP_LT_OQ));
  case KG_ACT_RELU6: return _mm256_min_ps(_mm256_max_ps(x, zero), six);
  case KG_ACT_HARDSWISH: {
    __m256 r = _mm256_min_ps(_mm256_max_ps(_mm256_add_ps(x, _mm256_set1_ps(3.0f)), zero), six);
    return _mm256_mul_ps(_mm256_mul_ps(x, r), _mm256_set1_ps(1.0f / 6.0f));
  }
  default: return x;
  }
}
#endif

/* act over y[0..n) in place (the unfused activation pass, and the tile pass's rows). */
static inline void fl_act_row(int act, float *y, int64_t n) {
  if (act == KG_ACT_NONE) return;
  int64_t j = 0;
#if defined(__AVX512F__)
  for (; j + 16 <= n; j += 16) _mm512_storeu_ps(y + j, fl_act16(act, _mm512_loadu_ps(y + j)));
  if (j < n) {
    __mmask16 mk = (__mmask16)((1u << (n - j)) - 1);
    _mm512_mask_storeu_ps(y + j, mk, fl_act16(act, _mm512_maskz_loadu_ps(mk, y + j)));
  }
#else
#if defined(__AVX2__) && defined(__FMA__)
  for (; j + 8 <= n; j += 8) _mm256_storeu_ps(y + j, fl_act8(act, _mm256_loadu_ps(y + j)));
#endif
  for (; j < n; j++) y[j] = kg_act_f(act, y[j]);
#endif
}

/* ---- the epilogue (gemm_ukr.h's interface) ------------------------------------------------- */

typedef struct gemm_epi {
  const float *bias; /* [n] */
  int act;
} gemm_epi;

static inline float gemm_epi1(float v, const gemm_epi *e, int64_t i, int64_t j) {
  (void)i;
  return kg_act_f(e->act, v + e->bias[j]);
}
#if defined(__AVX512F__)
static inline __m512 gemm_epi16(__m512 v, const gemm_epi *e, int64_t i, int64_t j) {
  (void)i;
  return fl_act16(e->act, _mm512_add_ps(v, _mm512_loadu_ps(e->bias + j)));
}
#endif
#if defined(__AVX2__) && defined(__FMA__)
static inline __m256 gemm_epi8(__m256 v, const gemm_epi *e, int64_t i, int64_t j) {
  (void)i;
  return fl_act8(e->act, _mm256_add_ps(v, _mm256_loadu_ps(e->bias + j)));
}
#endif

#define GEMM_UKR_EPILOGUE 1
/*$slot gemm_ukr_config
GEMM_UKR_EPILOGUE = true
$*/
/*$end*/
#include "gemm_ukr.h"

/* EPI = pass: bias + act over the finished tile c[mr, nr] (row stride ldc), columns j0.. of Y. */
static inline void fl_epi_tile(float *c, int64_t ldc, int64_t mr, int64_t nr, const gemm_epi *e, int64_t j0) {
  for (int64_t i = 0; i < mr; i++) {
    float *row = c + i * ldc;
    for (int64_t j = 0; j < nr; j++) row[j] += e->bias[j0 + j];
    fl_act_row(e->act, row, nr);
  }
}

/* ---- LayerNorm ------------------------------------------------------------------------------ */

/* Mean and 1/sqrt(var + eps) of x[0..k) (two passes, 16 partial sums the compiler vectorises). */
static inline void fl_ln_stats(const float *x, int64_t k, float *mean, float *rstd) {
  float acc[16] = {0};
  int64_t p = 0;
  for (; p + 16 <= k; p += 16)
    for (int l = 0; l < 16; l++) acc[l] += x[p + l];
  float s = 0;
  for (int l = 0; l < 16; l++) s += acc[l];
  for (; p < k; p++) s += x[p];
  const float mu = s / (float)k;
  for (int l = 0; l < 16; l++) acc[l] = 0;
  for (p = 0; p + 16 <= k; p += 16)
    for (int l = 0; l < 16; l++) {
      float d = x[p + l] - mu;
      acc[l] += d * d;
    }
  float v = 0;
  for (int l = 0; l < 16; l++) v += acc[l];
  for (; p < k; p++) v += (x[p] - mu) * (x[p] - mu);
  *mean = mu;
  *rstd = 1.0f / sqrtf(v / (float)k + FL_LN_EPS);
}

/* LN(X) of mr rows (row stride lda), columns pc..pc+kc, packed into one [kc][MR] sliver (rows
 * mr..MR zero): gemm_pack_a with the normalisation applied on the way. */
static inline void fl_pack_a_ln(int64_t mr, int64_t kc, const float *a, int64_t lda, const float *mean,
                                const float *rstd, const float *gamma, const float *beta, float *restrict ap) {
  float sc[MR], sh[MR];
  for (int i = 0; i < MR; i++) {
    sc[i] = i < mr ? rstd[i] : 0.0f;
    sh[i] = i < mr ? -mean[i] * rstd[i] : 0.0f;
  }
  if (mr == MR) {
    for (int64_t p = 0; p < kc; p++)
      for (int i = 0; i < MR; i++) ap[p * MR + i] = fmaf(a[i * lda + p], sc[i], sh[i]) * gamma[p] + beta[p];
  } else {
    for (int64_t p = 0; p < kc; p++)
      for (int i = 0; i < MR; i++) ap[p * MR + i] = i < mr ? fmaf(a[i * lda + p], sc[i], sh[i]) * gamma[p] + beta[p] : 0.0f;
  }
}

/* ---- the packed GEMM with its fusions -------------------------------------------------------- */

/* Per-state workspace (grown by a variant's first call, never shrunk). */
typedef struct fl_ws {
  float *p;
  size_t floats;
} fl_ws;

static int fl_reserve(fl_ws *w, size_t floats) {
  if (w->floats >= floats) return 0;
  free(w->p);
  w->p = kg_alloc(floats * sizeof(float));
  w->floats = w->p ? floats : 0;
  return w->p ? 0 : -1;
}

/* One call: Y = [act](LN?(X) W^T [+ b]). */
typedef struct fl_args {
  int64_t m, k, n;
  const float *x, *w, *bias, *gamma, *beta; /* gamma, beta: NULL without LN */
  float *y;
  int act;
  int fuse; /* 1: bias + act in the epilogue, LN in the packing; 0: plain Y = X W^T */
  int nth;
  fl_ws *ws;
} fl_args;

static int fl_gemm(const fl_args *g) {
  const int64_t m = g->m, n = g->n, k = g->k;
  const int64_t mcb = MC / MR > 0 ? MC / MR * MR : MR; /* MC rounded down to whole slivers */
  const int64_t kcmax = GEMM_MIN(KC, k), ncmax = GEMM_ROUND(GEMM_MIN(FL_NC, n), NR);
  const int64_t mcmax = GEMM_ROUND(GEMM_MIN(mcb, m), MR);
  const int ln = g->fuse && g->gamma;
  if (fl_reserve(g->ws, (size_t)(kcmax * ncmax + mcmax * kcmax + (ln ? 2 * m : 0)) + 32)) return -1;
  float *bp = g->ws->p, *ap = bp + kcmax * ncmax, *mean = ap + mcmax * kcmax, *rstd = mean + m;
  const gemm_epi e = {g->bias, g->act};
  FL_OMP("omp parallel num_threads(g->nth) if (g->nth > 1)")
  {
    if (ln) {
      FL_OMP("omp for schedule(static)")
      for (int64_t i = 0; i < m; i++) fl_ln_stats(g->x + i * k, k, mean + i, rstd + i);
    }
    for (int64_t jc = 0; jc < n; jc += FL_NC) {
      const int64_t nc = GEMM_MIN(FL_NC, n - jc), nsl = (nc + NR - 1) / NR;
      for (int64_t pc = 0; pc < k; pc += KC) {
        const int64_t kc = GEMM_MIN(KC, k - pc);
        const float bet = pc == 0 ? 0.0f : 1.0f;
        const int last = g->fuse && pc + kc == k;
        FL_OMP("omp for schedule(static)")
        for (int64_t js = 0; js < nsl; js++)
          gemm_pack_bt(kc, GEMM_MIN(NR, nc - js * NR), g->w + (jc + js * NR) * k + pc, k, bp + js * NR * kc);
        for (int64_t ic = 0; ic < m; ic += mcb) {
          const int64_t mc = GEMM_MIN(mcb, m - ic), msl = (mc + MR - 1) / MR;
          FL_OMP("omp for schedule(static)")
          for (int64_t is = 0; is < msl; is++) {
            const int64_t r0 = ic + is * MR, mr = GEMM_MIN(MR, mc - is * MR);
            if (ln)
              fl_pack_a_ln(mr, kc, g->x + r0 * k + pc, k, mean + r0, rstd + r0, g->gamma + pc, g->beta + pc,
                           ap + is * MR * kc);
            else gemm_pack_a(mr, kc, g->x + r0 * k + pc, k, ap + is * MR * kc);
          }
          FL_OMP("omp for schedule(static)")
          for (int64_t js = 0; js < nsl; js++) {
            const int64_t nr = GEMM_MIN(NR, nc - js * NR), j0 = jc + js * NR;
            for (int64_t is = 0; is < msl; is++) {
              const int64_t i0 = ic + is * MR, mr = GEMM_MIN(MR, mc - is * MR);
              float *c = g->y + i0 * n + j0;
              const float *a = ap + is * MR * kc, *b = bp + js * NR * kc;
#if EPI == EPI_store
              if (last) gemm_tile_epi(kc, mr, nr, a, b, c, n, bet, &e, i0, j0);
              else gemm_tile(kc, mr, nr, a, b, c, n, 1.0f, bet);
#else
              gemm_tile(kc, mr, nr, a, b, c, n, 1.0f, bet);
              if (last) fl_epi_tile(c, n, mr, nr, &e, j0);
#endif
            }
          }
        }
      }
    }
  }
  return 0;
}

#ifndef KG_PUBLIC_ONLY
/* ---- the harness ABI (kg_abi.h) -------------------------------------------------------------- */

typedef struct fl_state {
  int64_t m, k, n;
  int act, ln;
  float *x, *w, *bias, *gamma, *beta; /* [m, k], [n, k], [n], [k], [k] */
  float *y;                           /* [m, n] */
  float *xn;                          /* [m, k] LN(X) of the unfused baselines (ln only) */
  double *ref, *mag;                  /* [m, n] reference and sum |a_p w_p| + |b| (error bound) */
  fl_ws ws;
  kg_blas blas;
  kg_dnnl dnnl;
  kg_dnnl_prim ln_prim, mm_prim;
} fl_state;

/* The oracle, in double: LN (two-pass), then X W^T + b and act; mag: the error bound's sum. */
static void fl_reference(const fl_state *s, double *ref, double *mag) {
  const int64_t m = s->m, k = s->k, n = s->n;
  double *a = malloc((size_t)k * sizeof(double));
  if (!a) return;
  for (int64_t i = 0; i < m; i++) {
    const float *x = s->x + i * k;
    for (int64_t p = 0; p < k; p++) a[p] = x[p];
    if (s->ln) {
      double mu = 0, var = 0;
      for (int64_t p = 0; p < k; p++) mu += a[p];
      mu /= (double)k;
      for (int64_t p = 0; p < k; p++) var += (a[p] - mu) * (a[p] - mu);
      const double rs = 1.0 / sqrt(var / (double)k + (double)FL_LN_EPS);
      for (int64_t p = 0; p < k; p++) a[p] = (a[p] - mu) * rs * s->gamma[p] + s->beta[p];
    }
    for (int64_t j = 0; j < n; j++) {
      const float *w = s->w + j * k;
      double acc = s->bias[j], mg = fabs((double)s->bias[j]);
      for (int64_t p = 0; p < k; p++) {
        const double t = a[p] * w[p];
        acc += t;
        mg += fabs(t);
      }
      ref[i * n + j] = kg_act_ref(s->act, acc);
      mag[i * n + j] = mg;
    }
  }
  free(a);
}

void *kg_create(const kg_problem *p) {
  const int64_t m = kg_dim(p, "m", -1), k = kg_dim(p, "k", -1), n = kg_dim(p, "n", -1);
  const int64_t act = kg_dim(p, "act", 0), ln = kg_dim(p, "ln", 0);
  if (m < 1 || k < 1 || n < 1 || m > (1 << 20) || k > (1 << 20) || n > (1 << 20) || m * k > (1LL << 31) ||
      n * k > (1LL << 31) || m * n > (1LL << 31)) {
    fprintf(stderr, "fusion_linear: bad shape m=%lld k=%lld n=%lld (each 1..2^20, products <= 2^31)\n",
            (long long)m, (long long)k, (long long)n);
    return NULL;
  }
  if (!kg_act_name(act) || (ln != 0 && ln != 1)) {
    fprintf(stderr, "fusion_linear: bad act=%lld (0..%d) or ln=%lld (0 or 1)\n", (long long)act, KG_ACT_COUNT - 1,
            (long long)ln);
    return NULL;
  }
  fl_state *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->m = m, s->k = k, s->n = n, s->act = (int)act, s->ln = (int)ln;
  s->x = kg_alloc((size_t)(m * k) * sizeof(float));
  s->w = kg_alloc((size_t)(n * k) * sizeof(float));
  s->bias = kg_alloc((size_t)n * sizeof(float));
  s->gamma = kg_alloc((size_t)k * sizeof(float));
  s->beta = kg_alloc((size_t)k * sizeof(float));
  s->y = kg_alloc((size_t)(m * n) * sizeof(float));
  s->xn = ln ? kg_alloc((size_t)(m * k) * sizeof(float)) : NULL;
  if (!s->x || !s->w || !s->bias || !s->gamma || !s->beta || !s->y || (ln && !s->xn)) {
    free(s->x), free(s->w), free(s->bias), free(s->gamma), free(s->beta), free(s->y), free(s->xn), free(s);
    return NULL;
  }
  uint64_t seed = p->seed;
  const float ws = 1.0f / sqrtf((float)k);
  kg_fill_float(s->x, (size_t)(m * k), &seed);
  kg_fill_float(s->w, (size_t)(n * k), &seed);
  kg_fill_float(s->bias, (size_t)n, &seed);
  for (int64_t i = 0; i < n * k; i++) s->w[i] *= ws;
  for (int64_t j = 0; j < n; j++) s->bias[j] *= ws;
  for (int64_t p2 = 0; p2 < k; p2++) {
    s->gamma[p2] = 1.0f + 0.5f * kg_rand_float(&seed);
    s->beta[p2] = 0.5f * kg_rand_float(&seed);
  }
  return s;
}

/* The variant: the fused kernel (a failure aborts: the harness records it as the variant's). */
static void fl_fused(fl_state *s) {
  const fl_args g = {.m = s->m, .k = s->k, .n = s->n, .x = s->x, .w = s->w, .bias = s->bias,
                     .gamma = s->ln ? s->gamma : NULL, .beta = s->ln ? s->beta : NULL, .y = s->y,
                     .act = s->act, .fuse = 1, .nth = kg_threads(THREADS), .ws = &s->ws};
  if (fl_gemm(&g)) abort();
}

void kg_run(void *state) { fl_fused(state); }

void kg_prepare(void *state) {
  fl_state *s = state;
  if (s->ref) return;
  s->ref = malloc((size_t)(s->m * s->n) * sizeof(double));
  s->mag = malloc((size_t)(s->m * s->n) * sizeof(double));
  if (s->ref && s->mag) fl_reference(s, s->ref, s->mag);
  else free(s->ref), free(s->mag), s->ref = s->mag = NULL;
}

/*
 * Y against the reference: |y - ref| <= L (k + 2) eps (sum_p |a_p w_p| + |b|) + 4e-6 (1 + |ref|),
 * the float dot product's error bound (Higham, Accuracy and Stability of Numerical Algorithms,
 * 3.1: gamma_k sum |a||b|, gamma_k ~ k u, and eps = 2u gives a factor 2 of margin; LN's own
 * rounding adds a few eps per term), through the activation's Lipschitz constant L
 * (kg_act_lipschitz), plus the activation's own error (the polynomial exp and erf: < 1e-6
 * relative).  Every element must have been written (Y starts as NaN).  On success msg gets
 * {"max_abs_err": e, "max_err_over_bound": r}.
 */
static int fl_check(fl_state *s, char *msg, size_t cap) {
  const size_t mn = (size_t)(s->m * s->n);
  const double lip = kg_act_lipschitz(s->act), eps = 1.1920928955078125e-07;
  double worst = 0, worst_ratio = 0;
  for (size_t i = 0; i < mn; i++) {
    const double got = s->y[i], ref = s->ref[i];
    const double tol = lip * (double)(s->k + 2) * eps * s->mag[i] + 4e-6 * (1 + fabs(ref));
    const double d = fabs(got - ref);
    if (!(d <= tol)) {
      snprintf(msg, cap, "Y[%zu, %zu] = %.9g, expected %.9g (|diff| %.3g > bound %.3g; act %s, ln %d)",
               i / (size_t)s->n, i % (size_t)s->n, got, ref, d, tol, kg_act_name(s->act), s->ln);
      return 1;
    }
    if (d > worst) worst = d;
    if (d / tol > worst_ratio) worst_ratio = d / tol;
  }
  snprintf(msg, cap, "{\"max_abs_err\": %.3g, \"max_err_over_bound\": %.3g}", worst, worst_ratio);
  return 0;
}

int kg_verify(void *state, char *msg, size_t cap) {
  fl_state *s = state;
  kg_prepare(s);
  if (!s->ref) {
    snprintf(msg, cap, "out of memory for the reference");
    return 1;
  }
  memset(s->y, 0xff, (size_t)(s->m * s->n) * sizeof(float)); /* NaN */
  const fl_args g = {.m = s->m, .k = s->k, .n = s->n, .x = s->x, .w = s->w, .bias = s->bias,
                     .gamma = s->ln ? s->gamma : NULL, .beta = s->ln ? s->beta : NULL, .y = s->y,
                     .act = s->act, .fuse = 1, .nth = kg_threads(THREADS), .ws = &s->ws};
  if (fl_gemm(&g)) {
    snprintf(msg, cap, "out of memory for the workspace");
    return 1;
  }
  return fl_check(s, msg, cap);
}

/** Tests (tests/test_fusion_linear.c): Y as it stands (after a baseline) against the reference;
 *  0 when within the bound.  Not part of kg_abi.h. */
int fl_check_output(void *state, char *msg, size_t cap);
int fl_check_output(void *state, char *msg, size_t cap) {
  fl_state *s = state;
  kg_prepare(s);
  if (!s->ref) {
    snprintf(msg, cap, "out of memory for the reference");
    return 1;
  }
  return fl_check(s, msg, cap);
}

/** Tests: fill Y with NaN (so a baseline that skips an element fails fl_check_output). */
void fl_poison_output(void *state);
void fl_poison_output(void *state) {
  fl_state *s = state;
  memset(s->y, 0xff, (size_t)(s->m * s->n) * sizeof(float));
}

void kg_destroy(void *state) {
  fl_state *s = state;
  if (!s) return;
  if (s->dnnl.stream) {
    kg_dnnl_prim_free(&s->dnnl, &s->mm_prim);
    kg_dnnl_prim_free(&s->dnnl, &s->ln_prim);
  }
  kg_dnnl_fini(&s->dnnl);
  free(s->x), free(s->w), free(s->bias), free(s->gamma), free(s->beta), free(s->y), free(s->xn);
  free(s->ref), free(s->mag), free(s->ws.p);
  free(s);
}

/* ---- baselines ------------------------------------------------------------------------------- */

/* The unfused passes, nth threads: LN(X) into xn; Y += b; Y = act(Y). */
static void fl_ln_pass(fl_state *s, int nth) {
  const int64_t k = s->k;
  FL_OMP("omp parallel for num_threads(nth) if (nth > 1) schedule(static)")
  for (int64_t i = 0; i < s->m; i++) {
    float mu, rs;
    const float *x = s->x + i * k;
    float *o = s->xn + i * k;
    fl_ln_stats(x, k, &mu, &rs);
    for (int64_t p = 0; p < k; p++) o[p] = (x[p] - mu) * rs * s->gamma[p] + s->beta[p];
  }
}

static void fl_bias_act_passes(fl_state *s, int nth) {
  const int64_t n = s->n;
  FL_OMP("omp parallel for num_threads(nth) if (nth > 1) schedule(static)")
  for (int64_t i = 0; i < s->m; i++) {
    float *y = s->y + i * n;
    for (int64_t j = 0; j < n; j++) y[j] += s->bias[j];
  }
  if (s->act == KG_ACT_NONE) return;
  FL_OMP("omp parallel for num_threads(nth) if (nth > 1) schedule(static)")
  for (int64_t i = 0; i < s->m; i++) fl_act_row(s->act, s->y + i * n, n);
}

/* kgen's own: LN pass, the packed GEMM (gemm_ukr.h) with no epilogue, bias pass, act pass. */
static void fl_unfused(fl_state *s, int nth) {
  if (s->ln) fl_ln_pass(s, nth);
  const fl_args g = {.m = s->m, .k = s->k, .n = s->n, .x = s->ln ? s->xn : s->x, .w = s->w, .y = s->y,
                     .fuse = 0, .nth = nth, .ws = &s->ws};
  if (fl_gemm(&g)) abort();
  fl_bias_act_passes(s, nth);
}

void kg_baseline_unfused(void *state) { fl_unfused(state, 1); }
void kg_baseline_unfused_2t(void *state) { fl_unfused(state, 2); }

/* OpenBLAS sgemm (Y = X W^T: B transposed) between the same passes, one thread. */
void kg_baseline_openblas_unfused(void *state) {
  fl_state *s = state;
  kg_blas_default(&s->blas);
  s->blas.set_threads(1);
  if (s->ln) fl_ln_pass(s, 1);
  s->blas.sgemm(KG_BLAS_ROW_MAJOR, KG_BLAS_NO_TRANS, KG_BLAS_TRANS, (int)s->m, (int)s->n, (int)s->k, 1.0f,
                s->ln ? s->xn : s->x, (int)s->k, s->w, (int)s->k, 0.0f, s->y, (int)s->n);
  fl_bias_act_passes(s, 1);
}

/* oneDNN: layer_normalization (scale and shift) into xn, then matmul with the bias and the
 * activation as an eltwise post-op; primitives made on the first (warm-up) call. */
static void fl_onednn(fl_state *s, int nth) {
  kg_dnnl *d = &s->dnnl;
  if (!s->mm_prim.p) {
    kg_dnnl_init(d);
    dnnl_memory_desc_t x_md, w_md, b_md, y_md;
    KG_DNNL(d, memory_desc_init_by_tag, &x_md, 2, (dnnl_dims_t){s->m, s->k}, dnnl_f32, dnnl_ab);
    KG_DNNL(d, memory_desc_init_by_tag, &w_md, 2, (dnnl_dims_t){s->k, s->n}, dnnl_f32, dnnl_ba); /* W^T */
    KG_DNNL(d, memory_desc_init_by_tag, &b_md, 2, (dnnl_dims_t){1, s->n}, dnnl_f32, dnnl_ab);
    KG_DNNL(d, memory_desc_init_by_tag, &y_md, 2, (dnnl_dims_t){s->m, s->n}, dnnl_f32, dnnl_ab);
    dnnl_matmul_desc_t mm;
    KG_DNNL(d, matmul_desc_init, &mm, &x_md, &w_md, &b_md, &y_md);
    kg_dnnl_prim_make(d, &s->mm_prim, &mm, kg_dnnl_attr_act(d, s->act));
    if (s->ln) {
      dnnl_layer_normalization_desc_t lnd;
      KG_DNNL(d, layer_normalization_forward_desc_init, &lnd, dnnl_forward_inference, &x_md, NULL, FL_LN_EPS,
              dnnl_use_scale | dnnl_use_shift);
      kg_dnnl_prim_make(d, &s->ln_prim, &lnd, NULL);
    }
  }
  kg_dnnl_set_threads(nth);
  if (s->ln)
    kg_dnnl_prim_run(d, &s->ln_prim, 4, (const int[]){DNNL_ARG_SRC, DNNL_ARG_SCALE, DNNL_ARG_SHIFT, DNNL_ARG_DST},
                     (void *const[]){s->x, s->gamma, s->beta, s->xn});
  kg_dnnl_prim_run(d, &s->mm_prim, 4, (const int[]){DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_BIAS, DNNL_ARG_DST},
                   (void *const[]){s->ln ? s->xn : s->x, s->w, s->bias, s->y});
}

void kg_baseline_onednn(void *state) { fl_onednn(state, 1); }
void kg_baseline_onednn_2t(void *state) { fl_onednn(state, 2); }
#endif /* KG_PUBLIC_ONLY */
