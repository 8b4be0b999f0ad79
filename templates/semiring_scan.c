/*
 * semiring_scan.c - semi-Markov CRF scans in three semirings: Log (log partition, marginals),
 * Max (Viterbi score and best segmentation), Entropy (log partition and the entropy of the
 * distribution over segmentations).  Streaming: the state of one sequence is the last K-1 rows
 * of the forward vector (O(K C)), plus, for marginals and Viterbi paths, one row of C per
 * position.
 *
 * The model (as structured-prediction libraries define it; e.g. Rush, "Torch-Struct", ACL 2020):
 * sequences of T boundaries, C labels, segment durations 1..D with D = max(K-1, 1); slot
 * s(d) = min(d, K-1) (slot 0 is unused except when K = 1, where it stands for duration 1).
 *   Edge form:       edge[B, T-1, K, C, C]; edge[b, n, s(d), c, c'] scores a segment starting at
 *                    boundary n, of duration d, label c, after a segment labelled c'.
 *   Decomposed form: cum_scores[B, T, C] (prefix sums, cum[b, 0, :] = 0), transition[C, C]
 *                    (transition[c', c]), duration_bias[K, C]; the edge is
 *                    cum[n+d, c] - cum[n, c] + duration_bias[s(d), c] + transition[c', c].
 *   lengths[B] counts boundaries, 1 <= lengths[b] <= T.
 *   alpha[0, c] = 1; alpha[n, c] = (+)_{d <= min(D, n), c'} alpha[n-d, c'] (x) edge[n-d, s(d), c, c'];
 *   result (+)_c alpha[lengths[b]-1, c].
 *
 * Algorithms.
 *   Forward: a push scan.  Source row m is final once every row before it has pushed; it then
 *   reads its contiguous slab edge[m] (K C C floats, streaming through memory) and pushes the
 *   contributions of every (d, c) to rows m+d, kept in a ring of D+1 accumulator rows.  An
 *   accumulator row holds, per label, a sum and its own log-shift (an online logsumexp), so
 *   contributions of any magnitude merge without overflow.
 *   Backward (marginals): the outside recursion beta, pulled from the same slabs in reverse,
 *   beta[L-1, c] = 0, beta[m, c'] = log sum_{d, c} exp(edge[m, s(d), c, c'] + beta[m+d, c]);
 *   the marginal of an edge is exp(alpha[m, c'] + edge + beta[m+d, c] - log Z).  One exp per
 *   element gives both: with a per-row shift M, u = exp(edge + beta - M), beta[m] = M + log sum u,
 *   marginal = u * exp(alpha[m] + M - log Z).
 *   Max: the push with max; each accumulator keeps the winning duration (ties: the smaller
 *   duration, since later sources have smaller durations and win ties); the label c' of a path
 *   segment is recovered at backtrack time (ties: the smaller c').
 *   Entropy: the expectation semiring on (w, g) pairs with a log shift s: w = sum exp(x - s),
 *   g = sum exp(x - s) (H_j - (x - s)), so that log-sum = s + log w and H = g / w + log w
 *   (Li and Eisner, "First- and second-order expectation semirings", EMNLP 2009).
 *   Marginals of long sequences: sqrt(T K) checkpointing (ss_ckpt): O(sqrt(T K) C) floats.
 *   Decomposed Log forward: the edge factorises, so alpha[n, c] = cum[n, c] +
 *   log sum_d exp(bias[s(d), c] + gamma[n-d, c]) with gamma[m, c] = log sum_c' exp(alpha[m, c'] +
 *   transition[c', c]) - cum[m, c]: exp(transition) is computed once, the C x C product per
 *   position takes C exps, and the duration sum K C exps (O(K C) exps per position instead of
 *   K C^2); every row keeps a double offset so that log Z does not drift at T = 1e5 (see
 *   ss_dec_logz_seq).  The other decomposed functions build edge[m] (K C C floats) on the fly per position
 *   and run the edge-form scans on it (never the whole tensor).
 *
 * Tunables (spec parameters; each has a default so this file compiles on its own):
 *   VEC      cp: lanes over c' (a row of edge[m] is contiguous; 16 rows are reduced at once by a
 *            transpose tree); c: lanes over c (columns gathered with stride C).
 *   SCAN     prob: scaled probability space (exp(edge) times exp(alpha - lambda_m), one shift per
 *            source row; a row whose sum under- or overflows is redone in log space);
 *            log: log space with the exact max of every (d, c) row (two passes).  Log and
 *            Entropy forward only; Max is max-plus, the backward always shifts per row.
 *   THREADS  OpenMP threads over the batch; the decomposed log Z of a batch smaller than the
 *            team (the streaming problem, B = 1): threads over c (blocks of 16 labels), one
 *            barrier per position.  Capped by kg_threads() (kg_util.h: a library's usable cores).
 * AVX-512 paths (AVX512F) for C <= 16, and AVX2 + FMA for the decomposed log Z (8 lanes; kg_exp8,
 * kg_log8); portable scalar loops otherwise.  The vector exp and log
 * follow Cephes' expf/logf (S. L. Moshier, Cephes Math Library 2.2, 1992): logf's range reduction
 * and minimax polynomial as published; expf's range reduction with a one-step ln 2 and a Taylor
 * core (kg_vmath.h's kg_exp16); _mm512_scalef_ps for the 2^n and _mm512_getexp/getmant_ps for the frexp.
 *
 * Verification (kg_verify): a plain scalar double-precision pull recursion (ss_ref_*); tolerance
 * |d log Z| <= 1e-4 max(1, |log Z|), marginals and gradients within 1e-4 absolute (gradients of
 * the decomposed form: 1e-4 relative to their magnitude), Viterbi score within the log Z bound and
 * the path exact, H within 1e-4 relative.  Baselines: kg_baseline_scalar32 (scalar float32 pull
 * recursion, one position at a time) and kg_baseline_vec32 (a straightforward vectorised
 * log-space pull scan: lanes over c', two passes per (n, c)); both compute the forward of the
 * problem's semiring.
 */
#include "kg_util.h"
#include "kg_vmath.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>
#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif
#ifdef _OPENMP
#include <omp.h>
#endif

#ifndef VEC /* the expander defines VEC and VEC_<value> from the spec's enum */
#define VEC_cp 0
#define VEC_c 1
#define VEC VEC_cp
#endif
#ifndef SCAN
#define SCAN_prob 0
#define SCAN_log 1
#define SCAN SCAN_prob
#endif
#ifndef THREADS
#define THREADS 1
#endif

#if defined(__AVX512F__)
#define SS_AVX 1
#else
#define SS_AVX 0
#endif
/* AVX2 + FMA without AVX-512: 8-lane paths (C <= 16 as two vectors): the push forward's rows, its
 * ring merge and row finalisation, the backward, the decomposed log Z; the Max pull stays AVX-512. */
#if !SS_AVX && defined(__AVX2__) && defined(__FMA__)
#define SS_AVX2 1
#else
#define SS_AVX2 0
#endif

/* Error codes of the public API (0 is success). */
#define SS_EARG 1     /* B, T, K or C < 1, or a NULL pointer */
#define SS_ELENGTH 2  /* lengths[b] outside [1, T] */
#define SS_ENAN 3     /* NaN in the scores */
#define SS_ENOMEM 4   /* out of memory */

#define SS_NEG (-1e30f) /* "minus infinity" of shifts: finite, so differences stay finite */

/** A message for an error code of the kgen_semimarkov_* functions. */
const char *KG_NAME(kgen_semimarkov_strerror)(int code) {
  switch (code) {
  case 0: return "ok";
  case SS_EARG: return "bad argument: B, T, K and C must be >= 1 and the arrays non-NULL";
  case SS_ELENGTH: return "bad lengths: every lengths[b] must be in [1, T]";
  case SS_ENAN: return "NaN in the scores";
  case SS_ENOMEM: return "out of memory";
  default: return "unknown error";
  }
}

/* ---- vector exp and log (Cephes expf / logf, see the banner) ------------------------------ */

#if SS_AVX
/*
 * Reduce 16 vectors to one: lane i of the result is OP over the 16 lanes of v[i].  Four levels
 * of in-lane unpacks and cross-lane shuffles (45 instructions for 16 rows).
 */
#define SS_TREE(NAME, OP)                                                                          \
  static inline __m512 NAME(const __m512 *v) {                                                     \
    __m512 p[8], q[4];                                                                             \
    for (int i = 0; i < 8; i++)                                                                    \
      p[i] = OP(_mm512_unpacklo_ps(v[2 * i], v[2 * i + 1]), _mm512_unpackhi_ps(v[2 * i], v[2 * i + 1])); \
    for (int j = 0; j < 4; j++)                                                                    \
      q[j] = OP(_mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(p[2 * j]), _mm512_castps_pd(p[2 * j + 1]))), \
                _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(p[2 * j]), _mm512_castps_pd(p[2 * j + 1])))); \
    __m512 u01 = OP(_mm512_shuffle_f32x4(q[0], q[1], _MM_SHUFFLE(2, 0, 2, 0)),                       \
                    _mm512_shuffle_f32x4(q[0], q[1], _MM_SHUFFLE(3, 1, 3, 1)));                      \
    __m512 u23 = OP(_mm512_shuffle_f32x4(q[2], q[3], _MM_SHUFFLE(2, 0, 2, 0)),                       \
                    _mm512_shuffle_f32x4(q[2], q[3], _MM_SHUFFLE(3, 1, 3, 1)));                      \
    return OP(_mm512_shuffle_f32x4(u01, u23, _MM_SHUFFLE(2, 0, 2, 0)),                              \
              _mm512_shuffle_f32x4(u01, u23, _MM_SHUFFLE(3, 1, 3, 1)));                             \
  }
SS_TREE(ss_tree_add, _mm512_add_ps)
SS_TREE(ss_tree_max, _mm512_max_ps)

static inline __mmask16 ss_lanes(int64_t n) { return (__mmask16)(n >= 16 ? 0xFFFF : ((1u << n) - 1u)); }
#endif

#if SS_AVX2
/* The first n of 8 lanes, as a maskload / maskstore mask. */
static inline __m256i ss_lanes8(int64_t n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(n < 8 ? n : 8)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
#endif

/*
 * Denormals: exp of very negative arguments and products of small factors land in the subnormal
 * range, where every instruction takes a microcode assist (10x slower scans).  The scans flush
 * them to zero (MXCSR FTZ and DAZ) and restore the caller's MXCSR before returning.
 */
#if defined(__SSE__)
#include <xmmintrin.h>
#define SS_FTZ_ON() const unsigned ss_csr_ = _mm_getcsr(); _mm_setcsr(ss_csr_ | 0x8040u)
#define SS_FTZ_OFF() _mm_setcsr(ss_csr_)
#else
#define SS_FTZ_ON() ((void)0)
#define SS_FTZ_OFF() ((void)0)
#endif

/* ---- shapes, workspace ---------------------------------------------------------------------- */

typedef struct ss_dims {
  int64_t B, T, K, C;
  int64_t D;  /* longest duration, max(K - 1, 1) */
  int64_t CP; /* C rounded up to 16: the stride of every per-label row */
  int64_t RS; /* ring rows, D + 1 */
} ss_dims;

/* Ring rows without a division per access: (r - d) mod RS and (r + d) mod RS for r in [0, RS),
 * 0 <= d <= RS. */
static inline int64_t ss_back(int64_t r, int64_t d, int64_t RS) { return r - d < 0 ? r - d + RS : r - d; }
static inline int64_t ss_fwd(int64_t r, int64_t d, int64_t RS) { return r + d >= RS ? r + d - RS : r + d; }

static inline int64_t ss_slot(const ss_dims *g, int64_t d) { return d < g->K - 1 ? d : g->K - 1; }

/* Row offset of duration d's slab inside edge[m]: slots are consecutive for d = 1..D. */
static inline int64_t ss_slot_off(const ss_dims *g) { return g->K == 1 ? 0 : g->C * g->C; }

enum { SS_LOG = 0, SS_MAX = 1, SS_ENT = 2 };

/* Per-sequence workspace of the edge-form scans (one per thread). */
typedef struct ss_work {
  float *ra, *rg, *rr; /* ring [RS][CP]: sum, entropy term, shift */
  float *rb;           /* ring [RS][CP]: the backward's beta */
  int32_t *rd;         /* ring [RS][CP]: Max winning duration */
  float *w, *gw, *sh;  /* [D C + 16]: one source's contributions */
  float *at, *ht;      /* [CP]: this source's alpha (scaled or log) and entropy term */
  float *al;           /* [CP]: log alpha (Max: alpha) of the row last finalised */
  float *slab;         /* [K C C] decomposed form: edge[m] built on the fly */
  float *mu;           /* [K C C] decomposed marginals: one slab of marginals */
  const float **rp;    /* [2 (D + 1)]: row pointers of the Max pull */
} ss_work;

static size_t ss_work_bytes(const ss_dims *g, int decomposed) {
  size_t rs = (size_t)(g->RS * g->CP), row = (size_t)(g->D * g->C + 16);
  size_t b = rs * 5 * 4 + row * 3 * 4 + (size_t)g->CP * 3 * 4 + (size_t)(2 * (g->D + 1)) * sizeof(float *);
  if (decomposed) b += (size_t)(g->K * g->C * g->C) * 2 * 4;
  return b;
}

static void ss_work_free(ss_work *w) {
  if (!w) return;
  free(w->ra), free(w->rg), free(w->rr), free(w->rb), free(w->rd), free(w->w), free(w->gw), free(w->sh);
  free(w->at), free(w->ht), free(w->al), free(w->slab), free(w->mu), free((void *)w->rp);
  memset(w, 0, sizeof *w);
}

static int ss_work_init(ss_work *w, const ss_dims *g, int decomposed) {
  memset(w, 0, sizeof *w);
  size_t rs = (size_t)(g->RS * g->CP), row = (size_t)(g->D * g->C + 16);
  w->ra = kg_alloc(rs * 4), w->rg = kg_alloc(rs * 4), w->rr = kg_alloc(rs * 4), w->rd = kg_alloc(rs * 4);
  w->rb = kg_alloc(rs * 4);
  w->w = kg_alloc(row * 4), w->gw = kg_alloc(row * 4), w->sh = kg_alloc(row * 4);
  w->at = kg_alloc((size_t)g->CP * 4), w->ht = kg_alloc((size_t)g->CP * 4), w->al = kg_alloc((size_t)g->CP * 4);
  w->rp = kg_alloc((size_t)(2 * (g->D + 1)) * sizeof(float *));
  if (decomposed) {
    w->slab = kg_alloc((size_t)(g->K * g->C * g->C) * 4);
    w->mu = kg_alloc((size_t)(g->K * g->C * g->C) * 4);
  }
  if (!w->ra || !w->rg || !w->rr || !w->rb || !w->rd || !w->w || !w->gw || !w->sh || !w->at || !w->ht || !w->al || !w->rp ||
      (decomposed && (!w->slab || !w->mu))) {
    ss_work_free(w);
    return SS_ENOMEM;
  }
  return 0;
}

/* Decomposed inputs of one sequence. */
typedef struct ss_dec {
  const float *cum;   /* [T, C] of this sequence */
  const float *trans; /* [C, C] */
  const float *bias;  /* [K, C] */
} ss_dec;

/* Build edge[m] (slots for durations 1..dm) of a decomposed sequence into slab. */
static void ss_dec_slab(const ss_dims *g, const ss_dec *dc, int64_t m, int64_t dm, float *slab) {
  const int64_t C = g->C;
  for (int64_t d = 1; d <= dm; d++) {
    const int64_t s = ss_slot(g, d);
    float *o = slab + s * C * C;
    const float *c1 = dc->cum + (m + d) * C, *c0 = dc->cum + m * C, *bs = dc->bias + s * C;
    for (int64_t c = 0; c < C; c++) {
      const float base = c1[c] - c0[c] + bs[c];
      for (int64_t cp = 0; cp < C; cp++) o[c * C + cp] = base + dc->trans[cp * C + c];
    }
  }
}

/* ---- one source row's contributions: w[r], gw[r], sh[r] for rows r = (d - 1) C + c ------------ */

/*
 * Rows of edge[m] for durations 1..dm start at `rows` (row r at rows + r C).  In: at[CP] (SCAN
 * prob: exp(alpha[m] - lambda), 0 beyond C; log and Max: alpha[m], -inf beyond C), ht[CP]
 * (Entropy: prob: H - log at; log: H; 0 beyond C).  Out: w[r] (Max: the row maximum), gw[r]
 * (Entropy), sh[r] (the row's log shift; SCAN prob: unused, the caller's lambda).  Returns
 * non-zero when a scaled row sum is 0 or not finite (the caller redoes the row in log space)
 * or, for Max, when a NaN was read.
 */
#if SS_AVX
static int ss_rows_avx(int sr, int prob, const float *rows, int64_t C, int64_t R, const float *at,
                       const float *ht, float *w, float *gw, float *sh) {
  const __mmask16 mc = ss_lanes(C);
  const __m512 va = _mm512_loadu_ps(at), vh = _mm512_loadu_ps(ht), ninf = _mm512_set1_ps(-INFINITY);
  __mmask16 bad = 0;
#if VEC == VEC_c
  /* lanes over c: column c' of a duration's C x C block, gathered with stride C */
  const __m512i idx = _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                                         _mm512_set1_epi32((int)C));
  (void)va, (void)vh;
  for (int64_t r0 = 0; r0 < R; r0 += C) {
    const float *blk = rows + r0 * C;
    __m512 s = _mm512_setzero_ps(), e2 = _mm512_setzero_ps(), mx = ninf;
    if (sr == SS_MAX || !prob) {
      for (int64_t cp = 0; cp < C; cp++) {
        __m512 col = _mm512_mask_i32gather_ps(ninf, mc, idx, blk + cp, 4);
        if (sr == SS_MAX) bad |= _mm512_cmp_ps_mask(col, col, _CMP_UNORD_Q);
        mx = _mm512_max_ps(mx, _mm512_add_ps(col, _mm512_set1_ps(at[cp])));
      }
      if (sr == SS_MAX) {
        _mm512_mask_storeu_ps(w + r0, mc, mx);
        continue;
      }
      mx = _mm512_max_ps(mx, _mm512_set1_ps(SS_NEG));
    }
    for (int64_t cp = 0; cp < C; cp++) {
      __m512 col = _mm512_mask_i32gather_ps(ninf, mc, idx, blk + cp, 4);
      if (prob) {
        __m512 t = _mm512_mul_ps(kg_exp16(col), _mm512_set1_ps(at[cp]));
        s = _mm512_add_ps(s, t);
        if (sr == SS_ENT)
          e2 = _mm512_fmadd_ps(t, _mm512_sub_ps(_mm512_set1_ps(ht[cp]), _mm512_max_ps(col, _mm512_set1_ps(-FLT_MAX))), e2);
      } else {
        __m512 y = _mm512_sub_ps(_mm512_add_ps(col, _mm512_set1_ps(at[cp])), mx);
        __m512 t = kg_exp16(y);
        s = _mm512_add_ps(s, t);
        if (sr == SS_ENT)
          e2 = _mm512_fmadd_ps(t, _mm512_sub_ps(_mm512_set1_ps(ht[cp]), _mm512_max_ps(y, _mm512_set1_ps(-FLT_MAX))), e2);
      }
    }
    _mm512_mask_storeu_ps(w + r0, mc, s);
    if (sr == SS_ENT) _mm512_mask_storeu_ps(gw + r0, mc, e2);
    if (!prob) _mm512_mask_storeu_ps(sh + r0, mc, mx);
    else bad |= _mm512_mask_cmp_ps_mask(mc, s, _mm512_setzero_ps(), _CMP_EQ_OQ) |
                _mm512_mask_cmp_ps_mask(mc, s, _mm512_set1_ps(FLT_MAX), _CMP_NLE_UQ);
  }
#else
  /* lanes over c': 16 rows at a time, reduced by the transpose tree */
  for (int64_t r0 = 0; r0 < R; r0 += 16) {
    const int nr = (int)(R - r0 < 16 ? R - r0 : 16);
    const __mmask16 mr = ss_lanes(nr);
    __m512 v[16], x[16];
    if (sr == SS_MAX) {
      for (int i = 0; i < 16; i++) {
        if (i < nr) {
          x[i] = _mm512_add_ps(_mm512_mask_loadu_ps(ninf, mc, rows + (r0 + i) * C), va);
          bad |= _mm512_cmp_ps_mask(x[i], x[i], _CMP_UNORD_Q);
        } else x[i] = ninf;
      }
      _mm512_mask_storeu_ps(w + r0, mr, ss_tree_max(x));
      continue;
    }
    if (prob) {
      __m512 g2[16];
      for (int i = 0; i < 16; i++) {
        if (i < nr) {
          __m512 e = _mm512_maskz_loadu_ps(mc, rows + (r0 + i) * C);
          v[i] = _mm512_mul_ps(kg_exp16(e), va);
          if (sr == SS_ENT) g2[i] = _mm512_mul_ps(v[i], _mm512_sub_ps(vh, _mm512_max_ps(e, _mm512_set1_ps(-FLT_MAX))));
        } else v[i] = g2[i] = _mm512_setzero_ps();
      }
      __m512 s = ss_tree_add(v);
      _mm512_mask_storeu_ps(w + r0, mr, s);
      if (sr == SS_ENT) _mm512_mask_storeu_ps(gw + r0, mr, ss_tree_add(g2));
      bad |= _mm512_mask_cmp_ps_mask(mr, s, _mm512_setzero_ps(), _CMP_EQ_OQ) |
             _mm512_mask_cmp_ps_mask(mr, s, _mm512_set1_ps(FLT_MAX), _CMP_NLE_UQ);
    } else {
      for (int i = 0; i < 16; i++)
        x[i] = i < nr ? _mm512_add_ps(_mm512_mask_loadu_ps(ninf, mc, rows + (r0 + i) * C), va) : ninf;
      __m512 mx = _mm512_max_ps(ss_tree_max(x), _mm512_set1_ps(SS_NEG));
      __m512 g2[16];
      for (int i = 0; i < 16; i++) {
        __m512 y = _mm512_sub_ps(x[i], _mm512_permutexvar_ps(_mm512_set1_epi32(i), mx));
        v[i] = kg_exp16(y);
        if (sr == SS_ENT) g2[i] = _mm512_mul_ps(v[i], _mm512_sub_ps(vh, _mm512_max_ps(y, _mm512_set1_ps(-FLT_MAX))));
      }
      _mm512_mask_storeu_ps(w + r0, mr, ss_tree_add(v));
      if (sr == SS_ENT) _mm512_mask_storeu_ps(gw + r0, mr, ss_tree_add(g2));
      _mm512_mask_storeu_ps(sh + r0, mr, mx);
    }
  }
#endif
  return bad != 0;
}
#endif

#if SS_AVX2
/* Reduce 8 vectors to one: lane i of the result is OP over the 8 lanes of v[i] (in-lane unpacks,
 * then one cross-lane permute). */
#define SS_TREE8(NAME, OP)                                                                         \
  static inline __m256 NAME(const __m256 *v) {                                                     \
    __m256 p[4], q[2];                                                                             \
    for (int i = 0; i < 4; i++)                                                                    \
      p[i] = OP(_mm256_unpacklo_ps(v[2 * i], v[2 * i + 1]), _mm256_unpackhi_ps(v[2 * i], v[2 * i + 1])); \
    for (int j = 0; j < 2; j++)                                                                    \
      q[j] = OP(_mm256_castpd_ps(_mm256_unpacklo_pd(_mm256_castps_pd(p[2 * j]), _mm256_castps_pd(p[2 * j + 1]))), \
                _mm256_castpd_ps(_mm256_unpackhi_pd(_mm256_castps_pd(p[2 * j]), _mm256_castps_pd(p[2 * j + 1])))); \
    return OP(_mm256_permute2f128_ps(q[0], q[1], 0x20), _mm256_permute2f128_ps(q[0], q[1], 0x31));  \
  }
SS_TREE8(ss_tree8_add, _mm256_add_ps)
SS_TREE8(ss_tree8_max, _mm256_max_ps)

/* ss_rows_avx on 8 lanes (C <= 16: lanes 0..7 and 8..15 of a row as two vectors).  Lanes past C
 * load 0 and meet at's padding (0 for prob, -inf for log and Max), so they add nothing. */
static int ss_rows_avx2(int sr, int prob, const float *rows, int64_t C, int64_t R, const float *at,
                        const float *ht, float *w, float *gw, float *sh) {
  const int two = C > 8;
  const __m256i m0 = ss_lanes8(C), m1 = ss_lanes8(C - 8);
  const __m256 ninf = _mm256_set1_ps(-INFINITY), zero = _mm256_setzero_ps(), nmax = _mm256_set1_ps(-FLT_MAX);
  __m256 bad = zero;
#if VEC == VEC_c
  /* lanes over c: column c' of a duration's C x C block, gathered with stride C, 8 rows a time */
  const __m256i idx = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32((int)C));
  for (int64_t r0 = 0; r0 < R; r0 += 8) {
    const int64_t nr = R - r0 < 8 ? R - r0 : 8;
    const __m256i mr = ss_lanes8(nr);
    const float *blk = rows + r0 * C;
    __m256 s = zero, e2 = zero, mx = ninf;
    if (sr == SS_MAX || !prob) {
      for (int64_t cp = 0; cp < C; cp++) {
        __m256 col = _mm256_mask_i32gather_ps(ninf, blk + cp, idx, _mm256_castsi256_ps(mr), 4);
        if (sr == SS_MAX) bad = _mm256_or_ps(bad, _mm256_cmp_ps(col, col, _CMP_UNORD_Q));
        mx = _mm256_max_ps(mx, _mm256_add_ps(col, _mm256_set1_ps(at[cp])));
      }
      if (sr == SS_MAX) {
        _mm256_maskstore_ps(w + r0, mr, mx);
        continue;
      }
      mx = _mm256_max_ps(mx, _mm256_set1_ps(SS_NEG));
    }
    for (int64_t cp = 0; cp < C; cp++) {
      __m256 col = _mm256_mask_i32gather_ps(ninf, blk + cp, idx, _mm256_castsi256_ps(mr), 4);
      if (prob) {
        __m256 t = _mm256_mul_ps(kg_exp8(col), _mm256_set1_ps(at[cp]));
        s = _mm256_add_ps(s, t);
        if (sr == SS_ENT) e2 = _mm256_fmadd_ps(t, _mm256_sub_ps(_mm256_set1_ps(ht[cp]), _mm256_max_ps(col, nmax)), e2);
      } else {
        __m256 y = _mm256_sub_ps(_mm256_add_ps(col, _mm256_set1_ps(at[cp])), mx);
        __m256 t = kg_exp8(y);
        s = _mm256_add_ps(s, t);
        if (sr == SS_ENT) e2 = _mm256_fmadd_ps(t, _mm256_sub_ps(_mm256_set1_ps(ht[cp]), _mm256_max_ps(y, nmax)), e2);
      }
    }
    _mm256_maskstore_ps(w + r0, mr, s);
    if (sr == SS_ENT) _mm256_maskstore_ps(gw + r0, mr, e2);
    if (!prob) _mm256_maskstore_ps(sh + r0, mr, mx);
    else
      bad = _mm256_or_ps(bad, _mm256_and_ps(_mm256_castsi256_ps(mr),
                                            _mm256_or_ps(_mm256_cmp_ps(s, zero, _CMP_EQ_OQ),
                                                         _mm256_cmp_ps(s, _mm256_set1_ps(FLT_MAX), _CMP_NLE_UQ))));
  }
#else
  /* lanes over c': 8 rows at a time, reduced by the transpose tree */
  const __m256 va0 = _mm256_loadu_ps(at), va1 = _mm256_loadu_ps(at + 8);
  const __m256 vh0 = _mm256_loadu_ps(ht), vh1 = _mm256_loadu_ps(ht + 8);
  for (int64_t r0 = 0; r0 < R; r0 += 8) {
    const int64_t nr = R - r0 < 8 ? R - r0 : 8;
    const __m256i mr = ss_lanes8(nr);
    __m256 v[8], x0[8], x1[8], g2[8];
    if (sr == SS_MAX || !prob) {
      for (int i = 0; i < 8; i++) {
        if (i < nr) {
          const float *e = rows + (r0 + i) * C;
          x0[i] = _mm256_add_ps(_mm256_maskload_ps(e, m0), va0);
          x1[i] = two ? _mm256_add_ps(_mm256_maskload_ps(e + 8, m1), va1) : ninf;
          if (sr == SS_MAX)
            bad = _mm256_or_ps(bad, _mm256_cmp_ps(x0[i], x1[i], _CMP_UNORD_Q));
          v[i] = _mm256_max_ps(x0[i], x1[i]);
        } else x0[i] = x1[i] = v[i] = ninf;
      }
      const __m256 mx = ss_tree8_max(v);
      if (sr == SS_MAX) {
        _mm256_maskstore_ps(w + r0, mr, mx);
        continue;
      }
      const __m256 mxn = _mm256_max_ps(mx, _mm256_set1_ps(SS_NEG));
      for (int i = 0; i < 8; i++) {
        const __m256 b = _mm256_permutevar8x32_ps(mxn, _mm256_set1_epi32(i));
        const __m256 y0 = _mm256_sub_ps(x0[i], b), t0 = kg_exp8(y0);
        v[i] = t0;
        if (sr == SS_ENT) g2[i] = _mm256_mul_ps(t0, _mm256_sub_ps(vh0, _mm256_max_ps(y0, nmax)));
        if (two) {
          const __m256 y1 = _mm256_sub_ps(x1[i], b), t1 = kg_exp8(y1);
          v[i] = _mm256_add_ps(v[i], t1);
          if (sr == SS_ENT) g2[i] = _mm256_fmadd_ps(t1, _mm256_sub_ps(vh1, _mm256_max_ps(y1, nmax)), g2[i]);
        }
      }
      _mm256_maskstore_ps(w + r0, mr, ss_tree8_add(v));
      if (sr == SS_ENT) _mm256_maskstore_ps(gw + r0, mr, ss_tree8_add(g2));
      _mm256_maskstore_ps(sh + r0, mr, mxn);
    } else {
      for (int i = 0; i < 8; i++) {
        if (i < nr) {
          const float *e = rows + (r0 + i) * C;
          const __m256 e0 = _mm256_maskload_ps(e, m0);
          v[i] = _mm256_mul_ps(kg_exp8(e0), va0);
          if (sr == SS_ENT) g2[i] = _mm256_mul_ps(v[i], _mm256_sub_ps(vh0, _mm256_max_ps(e0, nmax)));
          if (two) {
            const __m256 e1 = _mm256_maskload_ps(e + 8, m1), t1 = _mm256_mul_ps(kg_exp8(e1), va1);
            v[i] = _mm256_add_ps(v[i], t1);
            if (sr == SS_ENT) g2[i] = _mm256_fmadd_ps(t1, _mm256_sub_ps(vh1, _mm256_max_ps(e1, nmax)), g2[i]);
          }
        } else v[i] = g2[i] = zero;
      }
      const __m256 s = ss_tree8_add(v);
      _mm256_maskstore_ps(w + r0, mr, s);
      if (sr == SS_ENT) _mm256_maskstore_ps(gw + r0, mr, ss_tree8_add(g2));
      bad = _mm256_or_ps(bad, _mm256_and_ps(_mm256_castsi256_ps(mr),
                                            _mm256_or_ps(_mm256_cmp_ps(s, zero, _CMP_EQ_OQ),
                                                         _mm256_cmp_ps(s, _mm256_set1_ps(FLT_MAX), _CMP_NLE_UQ))));
    }
  }
#endif
  return _mm256_movemask_ps(bad) != 0;
}
#endif

/* Portable contributions (any C): the same outputs as ss_rows_avx. */
static int ss_rows_scalar(int sr, int prob, const float *rows, int64_t C, int64_t R, const float *at,
                          const float *ht, float *w, float *gw, float *sh) {
  int bad = 0;
  for (int64_t r = 0; r < R; r++) {
    const float *e = rows + r * C;
    if (sr == SS_MAX || !prob) {
      float mx = -INFINITY;
      for (int64_t cp = 0; cp < C; cp++) {
        const float x = e[cp] + at[cp];
        if (x != x) bad = 1;
        mx = x > mx ? x : mx;
      }
      if (sr == SS_MAX) {
        w[r] = mx;
        continue;
      }
      mx = mx > SS_NEG ? mx : SS_NEG;
      float s = 0.0f, g2 = 0.0f;
      for (int64_t cp = 0; cp < C; cp++) {
        const float y = e[cp] + at[cp] - mx, t = expf(y);
        s += t;
        if (sr == SS_ENT && t > 0.0f) g2 += t * (ht[cp] - y);
      }
      w[r] = s, gw[r] = g2, sh[r] = mx;
      if (bad) w[r] = NAN;
    } else {
      float s = 0.0f, g2 = 0.0f;
      for (int64_t cp = 0; cp < C; cp++) {
        const float t = expf(e[cp]) * at[cp];
        s += t;
        if (sr == SS_ENT && t > 0.0f) g2 += t * (ht[cp] - e[cp]);
      }
      w[r] = s, gw[r] = g2;
      if (!(s > 0.0f && s <= FLT_MAX)) bad = 1;
    }
  }
  return bad;
}

/* ---- the forward push scan of one sequence -------------------------------------------------- */

/* Results of one sequence's forward. */
typedef struct ss_out {
  float value;   /* log Z or the Viterbi score */
  float entropy; /* Entropy */
  int nan;       /* a NaN was seen (Max) */
} ss_out;

/*
 * Checkpoints of the Log forward (the marginals of long sequences): the ring (sums and shifts,
 * 2 RS CP floats) as it stands before row m is finalised, for m = 0, S, 2S, ...; a replay
 * restores the one of m0 (a multiple of S) and recomputes rows m0..m1 only.
 */
typedef struct ss_ckpt {
  int64_t S;   /* checkpoint spacing (positions) */
  float *save; /* [ceil((L-1) / S)][2][RS][CP] */
  int replay;  /* 0: a whole forward that saves; 1: rows m0..m1 from the checkpoint of m0 */
  int64_t m0, m1;
} ss_ckpt;

/*
 * Forward scan of one sequence of length L (1 <= L <= T).  Edge form: edge = edge[b] ([T-1, K,
 * C, C]); decomposed: edge NULL and dc set.  alpha_all (may be NULL): [L][CP] log alpha (Log,
 * Entropy) or alpha (Max) of every boundary (a replay: rows m0..m1 at alpha_all + (m - m0) CP);
 * bp_all (may be NULL): [L][CP] Max winning duration.  ck (Log only, may be NULL): checkpoints.
 */
static void ss_forward_seq(int sr, const ss_dims *g, const float *edge, const ss_dec *dc, int64_t L,
                           ss_work *wk, float *alpha_all, int32_t *bp_all, ss_out *out, const ss_ckpt *ck) {
  const int64_t C = g->C, CP = g->CP, D = g->D, RS = g->RS, KCC = g->K * C * C;
#if SS_AVX || SS_AVX2
  const int avx = C <= 16;
#else
  const int avx = 0;
#endif
  (void)avx;
  const int prob = (SCAN == SCAN_prob) && sr != SS_MAX;
  float *at = wk->at, *ht = wk->ht;
  int nan = 0;
  for (int64_t i = 0; i < RS * CP; i++) {
    wk->ra[i] = sr == SS_MAX ? -INFINITY : 0.0f;
    wk->rg[i] = 0.0f;
    wk->rr[i] = SS_NEG;
    wk->rd[i] = 0;
  }
  int64_t m0 = 0, m1 = L - 1;
  if (ck && ck->replay) {
    m0 = ck->m0, m1 = ck->m1;
    const float *sv = ck->save + (m0 / ck->S) * 2 * RS * CP;
    memcpy(wk->ra, sv, (size_t)(RS * CP) * 4);
    memcpy(wk->rr, sv + RS * CP, (size_t)(RS * CP) * 4);
  }
  float lambda = 0.0f; /* SCAN prob: alpha[m] = lambda + log at */
  float *A = wk->al;
  for (int64_t m = m0;; m++) {
    if (ck && !ck->replay && m % ck->S == 0 && m < L - 1) {
      float *sv = ck->save + (m / ck->S) * 2 * RS * CP;
      memcpy(sv, wk->ra, (size_t)(RS * CP) * 4);
      memcpy(sv + RS * CP, wk->rr, (size_t)(RS * CP) * 4);
    }
    /* finalise row m: at, ht, lambda (and the stored alpha) */
    float *ra = wk->ra + (m % RS) * CP, *rg = wk->rg + (m % RS) * CP, *rr = wk->rr + (m % RS) * CP;
    int32_t *rd = wk->rd + (m % RS) * CP;
    if (m == 0) {
      for (int64_t c = 0; c < CP; c++) {
        const int in = c < C;
        at[c] = in ? (prob ? 1.0f : 0.0f) : (prob ? 0.0f : -INFINITY);
        ht[c] = 0.0f;
        A[c] = in ? 0.0f : -INFINITY;
      }
      lambda = 0.0f;
    } else if (sr == SS_MAX) {
      for (int64_t c = 0; c < CP; c++) at[c] = A[c] = c < C ? ra[c] : -INFINITY;
    } else {
      /* A = shift + log(sum); H = g / sum + log(sum) */
#if SS_AVX
      if (avx) {
        const __mmask16 mc = ss_lanes(C);
        __m512 a = _mm512_maskz_loadu_ps(mc, ra), lg = kg_log16(a);
        __m512 vA = _mm512_mask_add_ps(_mm512_set1_ps(-INFINITY), mc, _mm512_loadu_ps(rr), lg);
        __mmask16 pos = _mm512_mask_cmp_ps_mask(mc, a, _mm512_setzero_ps(), _CMP_GT_OQ);
        __m512 vH = _mm512_maskz_add_ps(pos, _mm512_div_ps(_mm512_loadu_ps(rg), a), lg);
        _mm512_storeu_ps(A, vA);
        if (prob) {
          const float lam = _mm512_mask_reduce_max_ps(mc, vA);
          lambda = lam > SS_NEG ? lam : SS_NEG;
          __m512 rel = _mm512_sub_ps(vA, _mm512_set1_ps(lambda));
          _mm512_storeu_ps(at, _mm512_maskz_mov_ps(mc, kg_exp16(rel)));
          _mm512_storeu_ps(ht, _mm512_maskz_sub_ps(pos, vH, rel));
        } else {
          _mm512_storeu_ps(at, vA);
          _mm512_storeu_ps(ht, vH);
        }
      } else
#elif SS_AVX2
      if (avx) {
        __m256 vA[2], vH[2], pos[2], mk[2];
        __m256 lm = _mm256_set1_ps(-INFINITY);
        for (int h = 0; h < 2; h++) {
          mk[h] = _mm256_castsi256_ps(ss_lanes8(C - 8 * h));
          const __m256 a = _mm256_and_ps(mk[h], _mm256_loadu_ps(ra + 8 * h)), lg = kg_log8(a);
          vA[h] = _mm256_blendv_ps(_mm256_set1_ps(-INFINITY), _mm256_add_ps(_mm256_loadu_ps(rr + 8 * h), lg), mk[h]);
          pos[h] = _mm256_and_ps(mk[h], _mm256_cmp_ps(a, _mm256_setzero_ps(), _CMP_GT_OQ));
          vH[h] = _mm256_and_ps(pos[h], _mm256_add_ps(_mm256_div_ps(_mm256_loadu_ps(rg + 8 * h), a), lg));
          _mm256_storeu_ps(A + 8 * h, vA[h]);
          lm = _mm256_max_ps(lm, vA[h]);
        }
        if (prob) {
          __m128 l4 = _mm_max_ps(_mm256_castps256_ps128(lm), _mm256_extractf128_ps(lm, 1));
          l4 = _mm_max_ps(l4, _mm_movehl_ps(l4, l4));
          const float lam = _mm_cvtss_f32(_mm_max_ss(l4, _mm_movehdup_ps(l4)));
          lambda = lam > SS_NEG ? lam : SS_NEG;
          for (int h = 0; h < 2; h++) {
            const __m256 rel = _mm256_sub_ps(vA[h], _mm256_set1_ps(lambda));
            _mm256_storeu_ps(at + 8 * h, _mm256_and_ps(mk[h], kg_exp8(rel)));
            _mm256_storeu_ps(ht + 8 * h, _mm256_and_ps(pos[h], _mm256_sub_ps(vH[h], rel)));
          }
        } else
          for (int h = 0; h < 2; h++) _mm256_storeu_ps(at + 8 * h, vA[h]), _mm256_storeu_ps(ht + 8 * h, vH[h]);
      } else
#endif
      {
        float lam = SS_NEG;
        for (int64_t c = 0; c < CP; c++) {
          const float a = c < C ? ra[c] : 0.0f, lg = logf(a);
          A[c] = c < C ? rr[c] + lg : -INFINITY;
          ht[c] = a > 0.0f ? rg[c] / a + lg : 0.0f;
          if (A[c] > lam) lam = A[c];
        }
        if (prob) {
          lambda = lam;
          for (int64_t c = 0; c < CP; c++) {
            const float rel = A[c] - lambda;
            at[c] = c < C ? expf(rel) : 0.0f;
            ht[c] = at[c] > 0.0f ? ht[c] - rel : 0.0f;
          }
        } else
          for (int64_t c = 0; c < CP; c++) at[c] = A[c];
      }
    }
    if (alpha_all) memcpy(alpha_all + (m - m0) * CP, A, (size_t)CP * 4);
    if (bp_all) memcpy(bp_all + m * CP, rd, (size_t)CP * 4);
    if (m == m1) break;
    /* the ring row is free again: it becomes row m + RS */
    for (int64_t c = 0; c < CP; c++) ra[c] = sr == SS_MAX ? -INFINITY : 0.0f, rg[c] = 0.0f, rr[c] = SS_NEG, rd[c] = 0;

    /* contributions of source m to rows m+1 .. m+dm */
    const int64_t dm = D < L - 1 - m ? D : L - 1 - m, R = dm * C;
    const float *slab;
    if (edge) slab = edge + m * KCC;
    else {
      ss_dec_slab(g, dc, m, dm, wk->slab);
      slab = wk->slab;
    }
    const float *rows = slab + ss_slot_off(g);
    int redo;
#if SS_AVX
    if (avx) redo = ss_rows_avx(sr, prob, rows, C, R, at, ht, wk->w, wk->gw, wk->sh);
    else
#elif SS_AVX2
    if (avx) redo = ss_rows_avx2(sr, prob, rows, C, R, at, ht, wk->w, wk->gw, wk->sh);
    else
#endif
      redo = ss_rows_scalar(sr, prob, rows, C, R, at, ht, wk->w, wk->gw, wk->sh);
    int rowprob = prob;
    if (redo && sr == SS_MAX) nan = 1;
    if (redo && prob) {
      /* a scaled sum under- or overflowed: this source in log space */
      for (int64_t c = 0; c < CP; c++) {
        at[c] = c < C ? A[c] : -INFINITY;
        if (sr == SS_ENT && c < C) ht[c] += A[c] - lambda; /* back to H */
      }
#if SS_AVX
      if (avx) {
        /* the log path of the same variant: a scalar pass keeps this rare case simple */
        ss_rows_scalar(sr, 0, rows, C, R, at, ht, wk->w, wk->gw, wk->sh);
      } else
#endif
        ss_rows_scalar(sr, 0, rows, C, R, at, ht, wk->w, wk->gw, wk->sh);
      rowprob = 0;
    }
    /* merge into the ring */
    for (int64_t d = 1; d <= dm; d++) {
      const int64_t t = ss_fwd(m % RS, d, RS);
      float *ta = wk->ra + t * CP, *tg = wk->rg + t * CP, *tr = wk->rr + t * CP;
      int32_t *td = wk->rd + t * CP;
      const float *w = wk->w + (d - 1) * C, *gw = wk->gw + (d - 1) * C, *sh = wk->sh + (d - 1) * C;
#if SS_AVX
      if (avx) {
        const __mmask16 mc = ss_lanes(C);
        __m512 vw = _mm512_maskz_loadu_ps(mc, w), va = _mm512_loadu_ps(ta);
        if (sr == SS_MAX) {
          __mmask16 ge = _mm512_mask_cmp_ps_mask(mc, vw, va, _CMP_GE_OQ);
          _mm512_storeu_ps(ta, _mm512_mask_mov_ps(va, ge, vw));
          _mm512_storeu_si512(td, _mm512_mask_mov_epi32(_mm512_loadu_si512(td), ge, _mm512_set1_epi32((int)d)));
          continue;
        }
        __m512 vs = rowprob ? _mm512_set1_ps(lambda) : _mm512_mask_loadu_ps(_mm512_set1_ps(SS_NEG), mc, sh);
        __m512 vr = _mm512_loadu_ps(tr), s = _mm512_max_ps(vr, vs);
        __m512 fa = kg_exp16(_mm512_sub_ps(vr, s)), fw = kg_exp16(_mm512_sub_ps(vs, s));
        _mm512_storeu_ps(ta, _mm512_fmadd_ps(fa, va, _mm512_mul_ps(fw, vw)));
        if (sr == SS_ENT) {
          __m512 ga = _mm512_fmadd_ps(_mm512_sub_ps(s, vr), va, _mm512_loadu_ps(tg));
          __m512 gb = _mm512_fmadd_ps(_mm512_sub_ps(s, vs), vw, _mm512_maskz_loadu_ps(mc, gw));
          _mm512_storeu_ps(tg, _mm512_fmadd_ps(fa, ga, _mm512_mul_ps(fw, gb)));
        }
        _mm512_storeu_ps(tr, s);
        continue;
      }
#elif SS_AVX2
      if (avx) {
        for (int h = 0; h < 2 && 8 * h < C; h++) {
          const __m256i mi = ss_lanes8(C - 8 * h);
          const __m256 mk = _mm256_castsi256_ps(mi);
          float *ta8 = ta + 8 * h, *tg8 = tg + 8 * h, *tr8 = tr + 8 * h;
          const __m256 vw = _mm256_maskload_ps(w + 8 * h, mi), va = _mm256_loadu_ps(ta8);
          if (sr == SS_MAX) {
            const __m256 ge = _mm256_and_ps(mk, _mm256_cmp_ps(vw, va, _CMP_GE_OQ));
            _mm256_storeu_ps(ta8, _mm256_blendv_ps(va, vw, ge));
            __m256i *td8 = (__m256i *)(td + 8 * h);
            _mm256_storeu_si256(td8, _mm256_castps_si256(_mm256_blendv_ps(
                                         _mm256_castsi256_ps(_mm256_loadu_si256(td8)),
                                         _mm256_castsi256_ps(_mm256_set1_epi32((int)d)), ge)));
            continue;
          }
          const __m256 vs = rowprob ? _mm256_set1_ps(lambda)
                                    : _mm256_blendv_ps(_mm256_set1_ps(SS_NEG), _mm256_maskload_ps(sh + 8 * h, mi), mk);
          const __m256 vr = _mm256_loadu_ps(tr8), sm = _mm256_max_ps(vr, vs);
          const __m256 fa = kg_exp8(_mm256_sub_ps(vr, sm)), fw = kg_exp8(_mm256_sub_ps(vs, sm));
          _mm256_storeu_ps(ta8, _mm256_fmadd_ps(fa, va, _mm256_mul_ps(fw, vw)));
          if (sr == SS_ENT) {
            const __m256 ga = _mm256_fmadd_ps(_mm256_sub_ps(sm, vr), va, _mm256_loadu_ps(tg8));
            const __m256 gb = _mm256_fmadd_ps(_mm256_sub_ps(sm, vs), vw, _mm256_maskload_ps(gw + 8 * h, mi));
            _mm256_storeu_ps(tg8, _mm256_fmadd_ps(fa, ga, _mm256_mul_ps(fw, gb)));
          }
          _mm256_storeu_ps(tr8, sm);
        }
        continue;
      }
#endif
      for (int64_t c = 0; c < C; c++) {
        if (sr == SS_MAX) {
          if (w[c] >= ta[c]) ta[c] = w[c], td[c] = (int32_t)d;
          continue;
        }
        const float vs = rowprob ? lambda : sh[c], s = tr[c] > vs ? tr[c] : vs;
        const float fa = expf(tr[c] - s), fw = expf(vs - s);
        if (sr == SS_ENT) tg[c] = fa * (tg[c] + (s - tr[c]) * ta[c]) + fw * (gw[c] + (s - vs) * w[c]);
        ta[c] = fa * ta[c] + fw * w[c];
        tr[c] = s;
      }
    }
  }
  /* the final row: A (log alpha or Max alpha) and, for Entropy, H per label */
  if (sr == SS_MAX) {
    float best = -INFINITY;
    for (int64_t c = 0; c < C; c++)
      if (A[c] > best) best = A[c];
    out->value = best;
  } else {
    float mx = -INFINITY;
    for (int64_t c = 0; c < C; c++)
      if (A[c] > mx) mx = A[c];
    double s = 0.0;
    if (mx == -INFINITY) mx = 0.0f;
    for (int64_t c = 0; c < C; c++) s += exp((double)A[c] - mx);
    const double lz = mx + log(s);
    out->value = (float)lz;
    if (sr == SS_ENT) {
      /* H per label: prob keeps H - (A - lambda) in ht; log keeps H */
      double h = 0.0;
      for (int64_t c = 0; c < C; c++) {
        const double q = exp((double)A[c] - lz);
        if (q <= 0.0) continue;
        const double Hc = prob && L > 1 ? (double)ht[c] + ((double)A[c] - lambda) : (double)ht[c];
        h += q * (Hc - ((double)A[c] - lz));
      }
      out->entropy = (float)h;
    }
  }
  out->nan = nan;
}

#if SS_AVX
/*
 * Max forward of one edge-form sequence as a pull (C <= 16): for each (n, c), lanes over c', a
 * running max over the durations and one horizontal max; with bp_all, each lane keeps the first
 * (smallest) duration reaching its maximum and the row takes the smallest among the lanes that
 * reach the row's maximum: the push's tie rule.  A max drops NaN, so the used part of every slab
 * is also summed (one add per 16 floats); a non-finite sum sets out->nan and the caller looks.
 * ring: [RS][CP] when alpha_all is NULL.
 */
static void ss_max_pull_seq(const ss_dims *g, const float *edge, int64_t L, float *ring, const float **wk_rp,
                            float *alpha_all, int32_t *bp_all, ss_out *out) {
  const int64_t C = g->C, CP = g->CP, K = g->K, D = g->D, RS = g->RS, CC = C * C, KCC = K * CC;
  const __mmask16 mc = ss_lanes(C);
  const __m512 ninf = _mm512_set1_ps(-INFINITY);
  float *base = alpha_all ? alpha_all : ring;
#define SS_ROW(n) (base + (alpha_all ? (n) : (n) % RS) * CP)
#define SS_BACK(d) (base + (alpha_all ? n - (d) : ss_back(nr, d, RS)) * CP)
  _mm512_storeu_ps(SS_ROW(0), _mm512_mask_mov_ps(ninf, mc, _mm512_setzero_ps()));
  if (bp_all) memset(bp_all, 0, (size_t)CP * 4);
  __m512 chk0 = _mm512_setzero_ps(), chk1 = _mm512_setzero_ps();
  for (int64_t n = 1; n < L; n++) {
    const int64_t dn = D < n ? D : n, dm = D < L - n ? D : L - n;
    {
      const float *sl = edge + (n - 1) * KCC + ss_slot_off(g);
      const int64_t len = dm * CC;
      int64_t i = 0;
      for (; i + 32 <= len; i += 32) {
        chk0 = _mm512_add_ps(chk0, _mm512_loadu_ps(sl + i));
        chk1 = _mm512_add_ps(chk1, _mm512_loadu_ps(sl + i + 16));
      }
      for (; i < len; i += 16) chk0 = _mm512_add_ps(chk0, _mm512_maskz_loadu_ps(ss_lanes(len - i), sl + i));
    }
    float *an = SS_ROW(n);
    const int64_t nr = n % RS;
    const float **rp = wk_rp; /* rp[d]: alpha row n - d; ep[d]: edge[n - d, s(d)] */
    const float **ep = wk_rp + D + 1;
    for (int64_t d = 1; d <= dn; d++) rp[d] = SS_BACK(d), ep[d] = edge + ((n - d) * K + ss_slot(g, d)) * CC;
    if (!bp_all) {
      for (int64_t c = 0; c < C; c++) {
        __m512 acc0 = ninf, acc1 = ninf;
        int64_t d = 1;
        for (; d + 1 <= dn; d += 2) {
          acc0 = _mm512_max_ps(acc0, _mm512_add_ps(_mm512_mask_loadu_ps(ninf, mc, ep[d] + c * C), _mm512_loadu_ps(rp[d])));
          acc1 = _mm512_max_ps(acc1, _mm512_add_ps(_mm512_mask_loadu_ps(ninf, mc, ep[d + 1] + c * C), _mm512_loadu_ps(rp[d + 1])));
        }
        if (d <= dn)
          acc0 = _mm512_max_ps(acc0, _mm512_add_ps(_mm512_mask_loadu_ps(ninf, mc, ep[d] + c * C), _mm512_loadu_ps(rp[d])));
        an[c] = _mm512_reduce_max_ps(_mm512_max_ps(acc0, acc1));
      }
    } else
      for (int64_t c = 0; c < C; c++) {
        __m512 acc = ninf;
        __m512i dv = _mm512_set1_epi32(1);
        for (int64_t d = 1; d <= dn; d++) {
          __m512 x = _mm512_add_ps(_mm512_mask_loadu_ps(ninf, mc, ep[d] + c * C), _mm512_loadu_ps(rp[d]));
          __mmask16 gt = _mm512_cmp_ps_mask(x, acc, _CMP_GT_OQ);
          acc = _mm512_mask_mov_ps(acc, gt, x);
          dv = _mm512_mask_mov_epi32(dv, gt, _mm512_set1_epi32((int)d));
        }
        const float mx = _mm512_reduce_max_ps(acc);
        an[c] = mx;
        __mmask16 eq = _mm512_mask_cmp_ps_mask(mc, acc, _mm512_set1_ps(mx), _CMP_EQ_OQ);
        bp_all[n * CP + c] = eq ? _mm512_mask_reduce_min_epi32(eq, dv) : 1;
      }
    for (int64_t c = C; c < CP; c++) an[c] = -INFINITY;
  }
  const float *aL = SS_ROW(L - 1);
#undef SS_ROW
#undef SS_BACK
  float best = -INFINITY;
  for (int64_t c = 0; c < C; c++) best = aL[c] > best ? aL[c] : best;
  out->value = best;
  const __m512 chk = _mm512_add_ps(chk0, chk1);
  out->nan = _mm512_cmp_ps_mask(chk, chk, _CMP_UNORD_Q) != 0 || !isfinite(best);
}
#endif

/* ---- backward (outside) pass of one sequence: marginals, or decomposed gradients --------------- */

/*
 * Sources m = mhi down to mlo (the first call: mhi = L - 2; the beta ring wk->rb carries over to
 * the next call, mlo - 1 down).  In: alpha rows m = mlo..mhi at alpha_all + (m - mlo) CP (log
 * alpha, -inf beyond C) and logZ of the sequence.  Edge form: writes
 * marg ([T-1, K, C, C] of this sequence, zero where unused).  Decomposed (edge NULL): adds the
 * gradients to gcum ([T, C] of this sequence), gtrans [C, C] and gbias [K, C].  beta: ring
 * [RS][CP].  Returns 1 when beta at boundary 0 is not finite (never with finite inputs).
 */
static void ss_backward_seq(const ss_dims *g, const float *edge, const ss_dec *dc, int64_t L, int64_t mlo,
                            int64_t mhi, const float *alpha_all, float logZ, ss_work *wk, float *marg, float *gcum,
                            float *gtrans, float *gbias, float *beta0) {
  const int64_t C = g->C, CP = g->CP, D = g->D, RS = g->RS, K = g->K, KCC = K * C * C;
#if SS_AVX || SS_AVX2
  const int avx = C <= 16;
#else
  const int avx = 0;
#endif
  (void)avx;
  float *beta = wk->rb;
  float *f = wk->at, *S = wk->ht;
  if (mhi == L - 2) {
    if (marg && L - 1 < g->T - 1) memset(marg + (L - 1) * KCC, 0, (size_t)((g->T - L) * KCC) * 4);
    for (int64_t c = 0; c < CP; c++) beta[((L - 1) % RS) * CP + c] = c < C ? 0.0f : -INFINITY;
  }
  for (int64_t m = mhi; m >= mlo; m--) {
    const int64_t dm = D < L - 1 - m ? D : L - 1 - m;
    const float *slab;
    float *mu = marg ? marg + m * KCC : wk->mu;
    if (edge) slab = edge + m * KCC;
    else {
      ss_dec_slab(g, dc, m, dm, wk->slab);
      slab = wk->slab;
    }
    if (marg) {
      if (K > 1) memset(mu, 0, (size_t)(C * C) * 4);
      if (dm < D) memset(mu + ss_slot_off(g) + dm * C * C, 0, (size_t)((D - dm) * C * C) * 4);
    }
    const float *rows = slab + ss_slot_off(g);
    float *murows = mu + ss_slot_off(g);
    float M = -INFINITY;
    const int64_t mr = m % RS;
    for (int64_t d = 1; d <= dm; d++)
      for (int64_t c = 0; c < C; c++) {
        const float b = beta[ss_fwd(mr, d, RS) * CP + c];
        if (b > M) M = b;
      }
    if (!(M > -INFINITY)) M = 0.0f;
    const float *al = alpha_all + (m - mlo) * CP;
    float *bm = beta + mr * CP;
#if SS_AVX
    if (avx) {
      const __mmask16 mc = ss_lanes(C);
      __m512 vf = _mm512_maskz_mov_ps(mc, kg_exp16(_mm512_add_ps(_mm512_loadu_ps(al), _mm512_set1_ps(M - logZ))));
      __m512 vs = _mm512_setzero_ps();
      for (int64_t d = 1; d <= dm; d++) {
        const float *bt = beta + ss_fwd(mr, d, RS) * CP;
        for (int64_t c = 0; c < C; c++) {
          const int64_t r = (d - 1) * C + c;
          __m512 u = kg_exp16(_mm512_add_ps(_mm512_maskz_loadu_ps(mc, rows + r * C), _mm512_set1_ps(bt[c] - M)));
          u = _mm512_maskz_mov_ps(mc, u);
          vs = _mm512_add_ps(vs, u);
          _mm512_mask_storeu_ps(murows + r * C, mc, _mm512_mul_ps(u, vf));
        }
      }
      __m512 vb = _mm512_add_ps(_mm512_set1_ps(M), kg_log16(vs));
      _mm512_storeu_ps(bm, _mm512_mask_mov_ps(_mm512_set1_ps(-INFINITY), mc, vb));
    } else
#elif SS_AVX2
    if (avx) {
      const int nh = C > 8 ? 2 : 1;
      __m256i mi[2];
      __m256 mk[2], vf[2], vs[2];
      for (int h = 0; h < 2; h++) {
        mi[h] = ss_lanes8(C - 8 * h), mk[h] = _mm256_castsi256_ps(mi[h]);
        vf[h] = _mm256_and_ps(mk[h], kg_exp8(_mm256_add_ps(_mm256_loadu_ps(al + 8 * h), _mm256_set1_ps(M - logZ))));
        vs[h] = _mm256_setzero_ps();
      }
      for (int64_t d = 1; d <= dm; d++) {
        const float *bt = beta + ss_fwd(mr, d, RS) * CP;
        for (int64_t c = 0; c < C; c++) {
          const int64_t r = (d - 1) * C + c;
          const __m256 shv = _mm256_set1_ps(bt[c] - M);
          for (int h = 0; h < nh; h++) {
            const __m256 u = _mm256_and_ps(mk[h], kg_exp8(_mm256_add_ps(_mm256_maskload_ps(rows + r * C + 8 * h, mi[h]), shv)));
            vs[h] = _mm256_add_ps(vs[h], u);
            _mm256_maskstore_ps(murows + r * C + 8 * h, mi[h], _mm256_mul_ps(u, vf[h]));
          }
        }
      }
      for (int h = 0; h < 2; h++) {
        const __m256 vb = _mm256_add_ps(_mm256_set1_ps(M), kg_log8(vs[h]));
        _mm256_storeu_ps(bm + 8 * h, _mm256_blendv_ps(_mm256_set1_ps(-INFINITY), vb, mk[h]));
      }
    } else
#endif
    {
      for (int64_t cp = 0; cp < C; cp++) f[cp] = expf(al[cp] + M - logZ), S[cp] = 0.0f;
      for (int64_t d = 1; d <= dm; d++) {
        const float *bt = beta + ss_fwd(mr, d, RS) * CP;
        for (int64_t c = 0; c < C; c++) {
          const int64_t r = (d - 1) * C + c;
          const float sh = bt[c] - M;
          for (int64_t cp = 0; cp < C; cp++) {
            const float u = expf(rows[r * C + cp] + sh);
            S[cp] += u;
            murows[r * C + cp] = u * f[cp];
          }
        }
      }
      for (int64_t c = 0; c < CP; c++) bm[c] = c < C ? M + logf(S[c]) : -INFINITY;
    }
    if (!edge) {
      /* decomposed: the marginals of this slab into the gradients */
      for (int64_t d = 1; d <= dm; d++) {
        const int64_t s = ss_slot(g, d);
        for (int64_t c = 0; c < C; c++) {
          const float *mrow = murows + ((d - 1) * C + c) * C;
          float rs = 0.0f;
          for (int64_t cp = 0; cp < C; cp++) rs += mrow[cp], gtrans[cp * C + c] += mrow[cp];
          gcum[(m + d) * C + c] += rs;
          gcum[m * C + c] -= rs;
          gbias[s * C + c] += rs;
        }
      }
    }
  }
  if (beta0 && mlo == 0) memcpy(beta0, beta, (size_t)C * 4); /* boundary 0 is ring row 0 */
}

/* ---- Viterbi backtrack of one sequence ------------------------------------------------------- */

/*
 * From alpha_all and bp_all [L][CP] of the Max forward: ind (may be NULL) the 0/1 indicator
 * [T-1, K, C, C] of this sequence; segs (may be NULL) [L-1][3] the segments (start, duration,
 * label) in order, *nseg their count.  Ties: the smaller c' (the duration's tie is bp_all's).
 */
static void ss_backtrack_seq(const ss_dims *g, const float *edge, const ss_dec *dc, int64_t L,
                             const float *alpha_all, const int32_t *bp_all, float *ind, int64_t *segs,
                             int64_t *nseg) {
  const int64_t C = g->C, CP = g->CP, K = g->K, KCC = K * C * C;
  if (ind) memset(ind, 0, (size_t)((g->T - 1) * KCC) * 4);
  const float *aL = alpha_all + (L - 1) * CP;
  int64_t c = 0, ns = 0;
  for (int64_t j = 1; j < C; j++)
    if (aL[j] > aL[c]) c = j;
  for (int64_t n = L - 1; n > 0;) {
    const int64_t d = bp_all[n * CP + c], m = n - d, s = ss_slot(g, d);
    const float *am = alpha_all + m * CP;
    int64_t best = -1;
    float bv = -INFINITY;
    for (int64_t cp = 0; cp < C; cp++) {
      float e;
      if (edge) e = edge[m * KCC + (s * C + c) * C + cp];
      else {
        const float base = dc->cum[(m + d) * C + c] - dc->cum[m * C + c] + dc->bias[s * C + c];
        e = base + dc->trans[cp * C + c];
      }
      const float x = am[cp] + e;
      if (best < 0 || x > bv) best = cp, bv = x;
    }
    if (ind) ind[m * KCC + (s * C + c) * C + best] = 1.0f;
    if (segs) segs[3 * ns] = m, segs[3 * ns + 1] = d, segs[3 * ns + 2] = c; /* last first; reversed below */
    ns++;
    n = m;
    c = best;
  }
  if (segs) {
    for (int64_t i = 0, j = ns - 1; i < j; i++, j--)
      for (int k = 0; k < 3; k++) {
        const int64_t t = segs[3 * i + k];
        segs[3 * i + k] = segs[3 * j + k], segs[3 * j + k] = t;
      }
    *nseg = ns;
  }
}

/* ---- decomposed Log forward: the factorised scan, O(K C) exps per position --------------------- */

/*
 * Precision.  log alpha grows about linearly along the sequence (|log Z| ~ 4e5 at T = 1e5, K =
 * 500, C = 24), where a float's ulp is 0.03; a float recursion on absolute values rounds at that
 * ulp every step, the same way, and drifts ~T^2 ulp (relative error 5e-4 at T = 1e5).  So every
 * row n keeps a double offset O_n (its maximum over labels) and the floats are relative to it:
 *   u_n[c]  = alpha[n, c] - O_{n-1}                       (O_{n-1}: the offset of the row before)
 *   gr[m, c] = log sum_c' exp(alpha[m, c'] - O_m) exp(transition[c', c])     (small)
 *   u_n[c]  = log sum_d exp(gr[n-d, c] + bias[s(d), c] + (O_{n-d} - O_{n-1}) + (cum[n, c] - cum[n-d, c]))
 * (O_{n-d} - O_{n-1} in double, then one rounding to float; cum[n] - cum[n-d] is exact in float
 * whenever the two are within a factor 2).  No term of a float sum is large, so each step's error
 * is a few ulp of a small number and log Z = O_{L-1} + log sum_c exp(u_{L-1}[c] - lambda) is off
 * by ~1e-8 relative at T = 1e5.
 *
 * Threads over c (B smaller than the team): every thread runs the recurrence of the same
 * sequence on its labels [c0, c1) (whole 16-lane blocks on AVX-512, 8 on AVX2), reads u of every label
 * from the shared double buffer ub[2][CP], and the team meets at one barrier per position (after
 * writing u_n, before reading it); the offsets are computed by every thread alike.
 */
#if SS_AVX
#define SS_CG 16 /* label granularity of the threads over c */
#elif SS_AVX2
#define SS_CG 8
#else
#define SS_CG 1
#endif

/* Per-thread scratch of the decomposed log Z scan. */
typedef struct ss_dls {
  float *gr;  /* ring [RS][CP]: gr[m, c] */
  double *O;  /* ring [RS]: O_m */
  float *off; /* [D + 1]: (float)(O_{n-d} - O_{n-1}) */
  float *y;   /* [D][16]: one block's duration terms */
  float *p;   /* [CP]: exp(u_m - lambda) */
} ss_dls;

/* Bytes of one thread's ss_dls. */
static size_t ss_dls_bytes(const ss_dims *g) {
  return (size_t)(g->RS * g->CP) * 4 + (size_t)g->RS * 8 + (size_t)(g->D + 1) * 4 + (size_t)(g->D * 16) * 4 +
         (size_t)g->CP * 4;
}

static void ss_dls_carve(const ss_dims *g, char *mem, ss_dls *w) {
  w->gr = (float *)mem, mem += (size_t)(g->RS * g->CP) * 4;
  w->O = (double *)mem, mem += (size_t)g->RS * 8;
  w->off = (float *)mem, mem += (size_t)(g->D + 1) * 4;
  w->y = (float *)mem, mem += (size_t)(g->D * 16) * 4;
  w->p = (float *)mem;
}

/*
 * One sequence of length L, labels [c0, c1) of this thread; ub [2][CP] (shared by the team when
 * sync; ub[0] = 0 for c < C, -inf beyond, set by the caller).  et: [C, C] exp(transition - tmax).
 * Returns log Z (double).
 */
static double ss_dec_logz_seq(const ss_dims *g, const ss_dec *dc, const float *et, float tmax, int64_t L, int64_t c0,
                              int64_t c1, float *ub, ss_dls *w, int sync) {
  const int64_t C = g->C, CP = g->CP, D = g->D, RS = g->RS;
  (void)sync;
  double Ob = 0.0; /* the offset u_m is relative to */
  for (int64_t m = 0;; m++) {
    const float *um = ub + (m & 1) * CP;
    float lam = -INFINITY;
    for (int64_t c = 0; c < C; c++) lam = um[c] > lam ? um[c] : lam;
    if (!(lam > -INFINITY)) lam = 0.0f;
    const double Om = Ob + lam;
    if (m == L - 1) {
      double s = 0.0;
      for (int64_t c = 0; c < C; c++) s += exp((double)um[c] - lam);
      return Om + log(s);
    }
    const int64_t mr = m % RS, n = m + 1, nr = n % RS, dn = D < n ? D : n;
    w->O[mr] = Om;
    for (int64_t c = 0; c < C; c++) w->p[c] = expf(um[c] - lam);
    for (int64_t d = 1; d <= dn; d++) w->off[d] = (float)(w->O[ss_back(nr, d, RS)] - Om);
    float *gm = w->gr + mr * CP, *un = ub + (n & 1) * CP;
    const float *cn = dc->cum + n * C;
#if SS_AVX
    for (int64_t b0 = c0; b0 < c1; b0 += 16) {
      const __mmask16 mc = ss_lanes(c1 - b0);
      const __m512 ninf = _mm512_set1_ps(-INFINITY);
      /* gr[m] on this block */
      __m512 acc = _mm512_setzero_ps();
      for (int64_t cp = 0; cp < C; cp++)
        acc = _mm512_fmadd_ps(_mm512_set1_ps(w->p[cp]), _mm512_maskz_loadu_ps(mc, et + cp * C + b0), acc);
      _mm512_storeu_ps(gm + b0, _mm512_add_ps(kg_log16(acc), _mm512_set1_ps(tmax)));
      /* u_n on this block: the duration terms, their max, the sum */
      const __m512 vcn = _mm512_maskz_loadu_ps(mc, cn + b0);
      __m512 mx = ninf;
      for (int64_t d = 1; d <= dn; d++) {
        __m512 y = _mm512_add_ps(_mm512_mask_loadu_ps(ninf, mc, w->gr + ss_back(nr, d, RS) * CP + b0),
                                 _mm512_maskz_loadu_ps(mc, dc->bias + ss_slot(g, d) * C + b0));
        y = _mm512_add_ps(y, _mm512_add_ps(_mm512_set1_ps(w->off[d]),
                                           _mm512_sub_ps(vcn, _mm512_maskz_loadu_ps(mc, cn + b0 - d * C))));
        _mm512_storeu_ps(w->y + (d - 1) * 16, y);
        mx = _mm512_max_ps(mx, y);
      }
      mx = _mm512_max_ps(mx, _mm512_set1_ps(SS_NEG));
      __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
      int64_t d = 1;
      for (; d + 1 <= dn; d += 2) {
        s0 = _mm512_add_ps(s0, kg_exp16(_mm512_sub_ps(_mm512_loadu_ps(w->y + (d - 1) * 16), mx)));
        s1 = _mm512_add_ps(s1, kg_exp16(_mm512_sub_ps(_mm512_loadu_ps(w->y + d * 16), mx)));
      }
      if (d <= dn) s0 = _mm512_add_ps(s0, kg_exp16(_mm512_sub_ps(_mm512_loadu_ps(w->y + (d - 1) * 16), mx)));
      _mm512_mask_storeu_ps(un + b0, mc, _mm512_add_ps(mx, kg_log16(_mm512_add_ps(s0, s1))));
    }
#elif SS_AVX2
    for (int64_t b0 = c0; b0 < c1; b0 += 8) { /* as the AVX-512 block, 8 labels */
      const __m256i mc = ss_lanes8(c1 - b0);
      const __m256 ninf = _mm256_set1_ps(-INFINITY), live = _mm256_castsi256_ps(mc);
      __m256 acc = _mm256_setzero_ps();
      for (int64_t cp = 0; cp < C; cp++)
        acc = _mm256_fmadd_ps(_mm256_set1_ps(w->p[cp]), _mm256_maskload_ps(et + cp * C + b0, mc), acc);
      _mm256_storeu_ps(gm + b0, _mm256_add_ps(kg_log8(acc), _mm256_set1_ps(tmax)));
      const __m256 vcn = _mm256_maskload_ps(cn + b0, mc);
      __m256 mx = ninf;
      for (int64_t d = 1; d <= dn; d++) {
        __m256 y = _mm256_add_ps(_mm256_blendv_ps(ninf, _mm256_maskload_ps(w->gr + ss_back(nr, d, RS) * CP + b0, mc), live),
                                 _mm256_maskload_ps(dc->bias + ss_slot(g, d) * C + b0, mc));
        y = _mm256_add_ps(y, _mm256_add_ps(_mm256_set1_ps(w->off[d]),
                                           _mm256_sub_ps(vcn, _mm256_maskload_ps(cn + b0 - d * C, mc))));
        _mm256_storeu_ps(w->y + (d - 1) * 16, y);
        mx = _mm256_max_ps(mx, y);
      }
      mx = _mm256_max_ps(mx, _mm256_set1_ps(SS_NEG));
      __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
      int64_t d = 1;
      for (; d + 1 <= dn; d += 2) {
        s0 = _mm256_add_ps(s0, kg_exp8(_mm256_sub_ps(_mm256_loadu_ps(w->y + (d - 1) * 16), mx)));
        s1 = _mm256_add_ps(s1, kg_exp8(_mm256_sub_ps(_mm256_loadu_ps(w->y + d * 16), mx)));
      }
      if (d <= dn) s0 = _mm256_add_ps(s0, kg_exp8(_mm256_sub_ps(_mm256_loadu_ps(w->y + (d - 1) * 16), mx)));
      _mm256_maskstore_ps(un + b0, mc, _mm256_add_ps(mx, kg_log8(_mm256_add_ps(s0, s1))));
    }
#else
    for (int64_t c = c0; c < c1; c++) {
      float acc = 0.0f;
      for (int64_t cp = 0; cp < C; cp++) acc += w->p[cp] * et[cp * C + c];
      gm[c] = logf(acc) + tmax;
      float mx = -INFINITY;
      for (int64_t d = 1; d <= dn; d++) {
        const float y = w->gr[ss_back(nr, d, RS) * CP + c] + dc->bias[ss_slot(g, d) * C + c] +
                        (w->off[d] + (cn[c] - cn[c - d * C]));
        w->y[d - 1] = y;
        mx = y > mx ? y : mx;
      }
      if (!(mx > SS_NEG)) mx = SS_NEG;
      float s = 0.0f;
      for (int64_t d = 1; d <= dn; d++) s += expf(w->y[d - 1] - mx);
      un[c] = mx + logf(s);
    }
#endif
    Ob = Om;
#if THREADS > 1 && defined(_OPENMP)
    if (sync) {
#pragma omp barrier
    }
#endif
  }
}

/* ---- the drivers behind the public API -------------------------------------------------------- */

enum { SS_OP_LOGZ, SS_OP_MARG, SS_OP_MARG_BWD, SS_OP_VIT, SS_OP_ENT };

typedef struct ss_call {
  int op;
  ss_dims g;
  const float *edge;                       /* edge form, or NULL */
  const float *cum, *trans, *bias;         /* decomposed form */
  const int64_t *lengths;
  float *logZ, *entropy, *marg, *ind;      /* outputs (may be NULL where unused) */
  int64_t *segs, *nseg;                    /* Viterbi segments [B][T-1][3] and counts [B], or NULL */
  float *gcum, *gtrans, *gbias;            /* decomposed gradients: gtrans, gbias summed over b */
  float *alpha_keep;                       /* SS_OP_MARG_BWD: [B][T][CP] log alpha from a forward */
  float *beta0;                            /* optional [B][C]: outside scores at boundary 0 */
} ss_call;

static int ss_check(const ss_dims *g, const int64_t *lengths) {
  if (g->B < 1 || g->T < 1 || g->K < 1 || g->C < 1 || !lengths) return SS_EARG;
  for (int64_t b = 0; b < g->B; b++)
    if (lengths[b] < 1 || lengths[b] > g->T) return SS_ELENGTH;
  return 0;
}

static void ss_dims_init(ss_dims *g, int64_t B, int64_t T, int64_t K, int64_t C) {
  g->B = B, g->T = T, g->K = K, g->C = C;
  g->D = K > 1 ? K - 1 : 1;
  g->CP = (C + 15) / 16 * 16;
  g->RS = g->D + 1;
}

/* Is there a NaN in the scores sequence b reads? */
static int ss_has_nan(const ss_call *k, int64_t b) {
  const ss_dims *g = &k->g;
  const int64_t C = g->C, L = k->lengths[b], KCC = g->K * C * C;
  if (k->edge) {
    const float *e = k->edge + b * (g->T - 1) * KCC;
    for (int64_t m = 0; m + 1 < L; m++) {
      const int64_t dm = g->D < L - 1 - m ? g->D : L - 1 - m;
      const float *r = e + m * KCC + ss_slot_off(g);
      for (int64_t i = 0; i < dm * C * C; i++)
        if (r[i] != r[i]) return 1;
    }
    return 0;
  }
  const float *cum = k->cum + b * g->T * C;
  for (int64_t i = 0; i < L * C; i++)
    if (cum[i] != cum[i]) return 1;
  return 0;
}

/*
 * The marginals keep log alpha of every boundary (T CP floats per thread) unless that exceeds
 * ss_ckpt_min_bytes; then they checkpoint (ss_ckpt): a ring (2 RS CP floats) every S =
 * ceil(sqrt(2 RS (T-1))) positions and one segment of S alpha rows, O(sqrt(T K) C) floats, for
 * one more forward pass.  (Griewank, "Achieving logarithmic growth of temporal and spatial
 * complexity in reverse automatic differentiation", 1992; sqrt(T) checkpointing as in Chen et
 * al., "Training deep nets with sublinear memory cost", 2016.)
 */
static size_t ss_ckpt_min_bytes = (size_t)1 << 22;

/**
 * Set the alpha store size (bytes per thread, T * ceil16(C) * 4) above which the marginals
 * checkpoint (default 4 MiB: T > 65536 for C <= 16); 0 checkpoints always.  Returns the previous
 * value.  Process-wide and not synchronised: set it before calling from several threads.
 */
size_t KG_NAME(kgen_semimarkov_checkpoint_bytes)(size_t bytes) {
  const size_t old = ss_ckpt_min_bytes;
  ss_ckpt_min_bytes = bytes;
  return old;
}

/* Checkpoint spacing of g's marginals, or 0 when they keep every alpha row. */
static int64_t ss_ckpt_spacing(const ss_dims *g) {
  if ((size_t)(g->T * g->CP) * 4 <= ss_ckpt_min_bytes || g->T < 3) return 0;
  int64_t S = (int64_t)ceil(sqrt(2.0 * (double)g->RS * (double)(g->T - 1)));
  return S < 1 ? 1 : S > g->T - 1 ? g->T - 1 : S;
}

/* One sequence; returns an error code.  ckbuf, ckS: the checkpoints of the marginals, or NULL. */
static int ss_seq(const ss_call *k, int64_t b, ss_work *wk, float *alpha_all, int32_t *bp_all, float *ckbuf,
                  int64_t ckS) {
  const ss_dims *g = &k->g;
  const int64_t C = g->C, T = g->T, L = k->lengths[b], KCC = g->K * C * C;
  const float *edge = k->edge ? k->edge + b * (T - 1) * KCC : NULL;
  ss_dec dc = {k->cum ? k->cum + b * T * C : NULL, k->trans, k->bias};
  ss_out o = {0};
  const int path = k->ind || k->segs;
  (void)path;
  switch (k->op) {
  case SS_OP_LOGZ:
  case SS_OP_ENT:
    ss_forward_seq(k->op == SS_OP_ENT ? SS_ENT : SS_LOG, g, edge, &dc, L, wk, NULL, NULL, &o, NULL);
    k->logZ[b] = o.value;
    if (k->op == SS_OP_ENT) k->entropy[b] = o.entropy;
    if (!isfinite(o.value) && ss_has_nan(k, b)) return SS_ENAN;
    return 0;
  case SS_OP_VIT:
#if SS_AVX
    if (edge && C <= 16) ss_max_pull_seq(g, edge, L, wk->ra, wk->rp, path ? alpha_all : NULL, path ? bp_all : NULL, &o);
    else
#endif
      ss_forward_seq(SS_MAX, g, edge, &dc, L, wk, path ? alpha_all : NULL, path ? bp_all : NULL, &o, NULL);
    k->logZ[b] = o.value;
    if ((o.nan || !isfinite(o.value)) && ss_has_nan(k, b)) return SS_ENAN;
    if (path)
      ss_backtrack_seq(g, edge, &dc, L, alpha_all, bp_all, k->ind ? k->ind + b * (T - 1) * KCC : NULL,
                       k->segs ? k->segs + b * (T - 1) * 3 : NULL, k->segs ? k->nseg + b : NULL);
    return 0;
  case SS_OP_MARG:
  case SS_OP_MARG_BWD: {
    float lz;
    const float *al;
    float *mg = k->marg ? k->marg + b * (T - 1) * KCC : NULL, *gc = k->gcum ? k->gcum + b * T * C : NULL;
    float *gt = k->gtrans ? k->gtrans + b * C * C : NULL, *gb = k->gbias ? k->gbias + b * g->K * C : NULL;
    float *b0 = k->beta0 ? k->beta0 + b * C : NULL;
    if (k->op == SS_OP_MARG && ckbuf) {
      /* checkpointed: a forward that saves the ring every S positions, then per segment, last
       * first, its alpha rows recomputed from its checkpoint and the backward over them */
      ss_ckpt ck = {ckS, ckbuf, 0, 0, 0};
      ss_forward_seq(SS_LOG, g, edge, &dc, L, wk, NULL, NULL, &o, &ck);
      k->logZ[b] = lz = o.value;
      if (!isfinite(lz) && ss_has_nan(k, b)) return SS_ENAN;
      if (L < 2) ss_backward_seq(g, edge, &dc, L, 0, L - 2, alpha_all, lz, wk, mg, gc, gt, gb, b0);
      for (int64_t j = L >= 2 ? (L - 2) / ckS : -1; j >= 0; j--) {
        ck.replay = 1, ck.m0 = j * ckS, ck.m1 = j * ckS + ckS - 1 < L - 2 ? j * ckS + ckS - 1 : L - 2;
        ss_out o2;
        ss_forward_seq(SS_LOG, g, edge, &dc, L, wk, alpha_all, NULL, &o2, &ck);
        ss_backward_seq(g, edge, &dc, L, ck.m0, ck.m1, alpha_all, lz, wk, mg, gc, gt, gb, b0);
      }
      return 0;
    }
    if (k->op == SS_OP_MARG) {
      ss_forward_seq(SS_LOG, g, edge, &dc, L, wk, alpha_all, NULL, &o, NULL);
      k->logZ[b] = lz = o.value;
      if (!isfinite(lz) && ss_has_nan(k, b)) return SS_ENAN;
      al = alpha_all;
    } else {
      lz = k->logZ[b];
      al = k->alpha_keep + b * T * g->CP;
    }
    ss_backward_seq(g, edge, &dc, L, 0, L - 2, al, lz, wk, mg, gc, gt, gb, b0);
    return 0;
  }
  }
  return SS_EARG;
}

/* Run k over the batch (OpenMP threads over b).  Returns the first error code. */
static int ss_batch(const ss_call *k) {
  const ss_dims *g = &k->g;
  int err = 0;
  const int store = k->op == SS_OP_MARG || (k->op == SS_OP_VIT && (k->ind || k->segs));
  const int64_t ckS = k->op == SS_OP_MARG ? ss_ckpt_spacing(g) : 0;
#if THREADS > 1 && defined(_OPENMP)
#pragma omp parallel num_threads(kg_threads(THREADS))
#endif
  {
    SS_FTZ_ON();
    ss_work wk;
    float *alpha_all = store ? kg_alloc((size_t)((ckS ? ckS : g->T) * g->CP) * 4) : NULL;
    float *ckbuf = ckS ? kg_alloc((size_t)(((g->T - 2) / ckS + 1) * 2 * g->RS * g->CP) * 4) : NULL;
    int32_t *bp_all = store && k->op == SS_OP_VIT ? kg_alloc((size_t)(g->T * g->CP) * 4) : NULL;
    int ok = ss_work_init(&wk, g, k->edge == NULL) == 0 && (!store || alpha_all) &&
             (!(store && k->op == SS_OP_VIT) || bp_all) && (!ckS || ckbuf);
#if THREADS > 1 && defined(_OPENMP)
#pragma omp for schedule(dynamic, 1)
#endif
    for (int64_t b = 0; b < g->B; b++) {
      int e = ok ? ss_seq(k, b, &wk, alpha_all, bp_all, ckbuf, ckS) : SS_ENOMEM;
      if (e) {
#if THREADS > 1 && defined(_OPENMP)
#pragma omp critical(ss_err)
#endif
        if (!err) err = e;
      }
    }
    ss_work_free(&wk);
    free(alpha_all);
    free(ckbuf);
    free(bp_all);
    SS_FTZ_OFF();
  }
  return err;
}

/* ---- public API ------------------------------------------------------------------------------- */

/*
 * Named through KG_NAME() (kg_abi.h): the plain names in the harness; in the library `kgen ship`
 * prefixes them per variant and templates/semiring_scan.front.c dispatches to them (the
 * declarations users see: templates/semiring_scan.api.h, part of kgen/kgen.h).
 * Edge form: edge[B, T-1, K, C, C] float32 (row-major), lengths[B] in [1, T].  Outputs per
 * sequence b.  Every function returns 0 on success, or an error code (kgen_semimarkov_strerror):
 * 1 bad sizes or NULL arrays, 2 a length outside [1, T], 3 NaN in the scores a sequence reads,
 * 4 out of memory.  Outputs are unspecified after an error.  No function keeps a pointer.
 */

/** Log partition log Z[b] (logZ[B]). */
int KG_NAME(kgen_semimarkov_logpartition)(int64_t B, int64_t T, int64_t K, int64_t C, const float *edge,
                                          const int64_t *lengths, float *logZ) {
  ss_call k = {.op = SS_OP_LOGZ, .edge = edge, .lengths = lengths, .logZ = logZ};
  ss_dims_init(&k.g, B, T, K, C);
  int e = ss_check(&k.g, lengths);
  if (e) return e;
  if (!edge || !logZ) return SS_EARG;
  return ss_batch(&k);
}

/** log Z[B] and the marginals d log Z / d edge, [B, T-1, K, C, C] (zero where unused). */
int KG_NAME(kgen_semimarkov_marginals)(int64_t B, int64_t T, int64_t K, int64_t C, const float *edge,
                                       const int64_t *lengths, float *logZ, float *marginals) {
  ss_call k = {.op = SS_OP_MARG, .edge = edge, .lengths = lengths, .logZ = logZ, .marg = marginals};
  ss_dims_init(&k.g, B, T, K, C);
  int e = ss_check(&k.g, lengths);
  if (e) return e;
  if (!edge || !logZ || !marginals) return SS_EARG;
  return ss_batch(&k);
}

/**
 * Viterbi score[B] and, when indicator is not NULL, the best segmentation as a 0/1 tensor of the
 * edge's shape [B, T-1, K, C, C].  Ties: the smaller duration, then the smaller c' (and, for the
 * last label, the smaller c).
 */
int KG_NAME(kgen_semimarkov_viterbi)(int64_t B, int64_t T, int64_t K, int64_t C, const float *edge,
                                     const int64_t *lengths, float *score, float *indicator) {
  ss_call k = {.op = SS_OP_VIT, .edge = edge, .lengths = lengths, .logZ = score, .ind = indicator};
  ss_dims_init(&k.g, B, T, K, C);
  int e = ss_check(&k.g, lengths);
  if (e) return e;
  if (!edge || !score) return SS_EARG;
  return ss_batch(&k);
}

/**
 * Viterbi score[B] and the best segmentation as a list: segments[B, T-1, 3] (int64), sequence
 * b's nsegments[b] segments (start boundary, duration, label) in order from boundary 0 to
 * lengths[b] - 1 (the rest of its T-1 rows untouched).  The same path as the indicator.
 */
int KG_NAME(kgen_semimarkov_viterbi_segments)(int64_t B, int64_t T, int64_t K, int64_t C, const float *edge,
                                              const int64_t *lengths, float *score, int64_t *segments,
                                              int64_t *nsegments) {
  ss_call k = {.op = SS_OP_VIT, .edge = edge, .lengths = lengths, .logZ = score, .segs = segments, .nseg = nsegments};
  ss_dims_init(&k.g, B, T, K, C);
  int e = ss_check(&k.g, lengths);
  if (e) return e;
  if (!edge || !score || !segments || !nsegments) return SS_EARG;
  return ss_batch(&k);
}

/** log Z[B] and the entropy H[B] of the distribution over segmentations (nats). */
int KG_NAME(kgen_semimarkov_entropy)(int64_t B, int64_t T, int64_t K, int64_t C, const float *edge,
                                     const int64_t *lengths, float *logZ, float *entropy) {
  ss_call k = {.op = SS_OP_ENT, .edge = edge, .lengths = lengths, .logZ = logZ, .entropy = entropy};
  ss_dims_init(&k.g, B, T, K, C);
  int e = ss_check(&k.g, lengths);
  if (e) return e;
  if (!edge || !logZ || !entropy) return SS_EARG;
  return ss_batch(&k);
}

/* Decomposed form: cum_scores[B, T, C], transition[C, C], duration_bias[K, C]; NaN anywhere in
 * transition or duration_bias, or in the cum_scores rows a sequence reads, is refused. */
static int ss_check_dec(const ss_dims *g, const float *cum, const float *trans, const float *bias,
                        const int64_t *lengths) {
  int e = ss_check(g, lengths);
  if (e) return e;
  if (!cum || !trans || !bias) return SS_EARG;
  for (int64_t i = 0; i < g->C * g->C; i++)
    if (trans[i] != trans[i]) return SS_ENAN;
  for (int64_t i = 0; i < g->K * g->C; i++)
    if (bias[i] != bias[i]) return SS_ENAN;
  for (int64_t b = 0; b < g->B; b++)
    for (int64_t i = 0; i < lengths[b] * g->C; i++)
      if (cum[b * g->T * g->C + i] != cum[b * g->T * g->C + i]) return SS_ENAN;
  return 0;
}

/** Decomposed log Z[B]: the factorised scan (O(K C) exps and O(K C) floats of state). */
int KG_NAME(kgen_semimarkov_logpartition_decomposed)(int64_t B, int64_t T, int64_t K, int64_t C,
                                                     const float *cum_scores, const float *transition,
                                                     const float *duration_bias, const int64_t *lengths, float *logZ) {
  ss_dims g;
  ss_dims_init(&g, B, T, K, C);
  int err = ss_check_dec(&g, cum_scores, transition, duration_bias, lengths);
  if (err) return err;
  if (!logZ) return SS_EARG;
  /* one block: exp(transition - tmax) [C, C], the shared u buffers [2][CP] of the threads over c,
   * and each thread's scratch; allocated up front, so no thread of a team can fail alone */
  const size_t per = (ss_dls_bytes(&g) + 63) / 64 * 64, head = ((size_t)(C * C) * 4 + 63) / 64 * 64;
  char *mem = kg_alloc(head + (size_t)(2 * g.CP) * 4 * (THREADS + 1) + per * THREADS);
  if (!mem) return SS_ENOMEM;
  float *et = (float *)mem, *ubs = (float *)(mem + head);
  char *scratch = mem + head + (size_t)(2 * g.CP) * 4 * (THREADS + 1);
  float tmax = -INFINITY;
  for (int64_t i = 0; i < C * C; i++)
    if (transition[i] > tmax) tmax = transition[i];
  if (!(tmax > -INFINITY)) tmax = 0.0f;
  for (int64_t i = 0; i < C * C; i++) et[i] = expf(transition[i] - tmax);
  /* threads over the batch, or over c when the batch is smaller than the team (THREADS, capped
   * by kg_threads(): in a library, the usable cores; the buffers above are sized for THREADS) */
  const int nth = kg_threads(THREADS), byc = nth > 1 && B < nth;
  (void)byc;
#if THREADS > 1 && defined(_OPENMP)
#pragma omp parallel num_threads(nth)
#endif
  {
    SS_FTZ_ON();
#if THREADS > 1 && defined(_OPENMP)
    const int t = omp_get_thread_num(), nt = omp_get_num_threads();
#else
    const int t = 0, nt = 1;
#endif
    ss_dls w;
    ss_dls_carve(&g, scratch + per * (size_t)t, &w);
    if (!byc || nt == 1) {
      float *ub = ubs + (size_t)(2 * g.CP) * (size_t)(t + 1); /* this thread's own */
#if THREADS > 1 && defined(_OPENMP)
#pragma omp for schedule(dynamic, 1)
#endif
      for (int64_t b = 0; b < B; b++) {
        ss_dec dc = {cum_scores + b * T * C, transition, duration_bias};
        for (int64_t c = 0; c < g.CP; c++) ub[c] = c < C ? 0.0f : -INFINITY, ub[g.CP + c] = -INFINITY;
        logZ[b] = (float)ss_dec_logz_seq(&g, &dc, et, tmax, lengths[b], 0, C, ub, &w, 0);
      }
    } else {
      const int64_t nblk = (C + SS_CG - 1) / SS_CG, lo = nblk * t / nt, hi = nblk * (t + 1) / nt;
      const int64_t c0 = lo * SS_CG, c1 = hi * SS_CG < C ? hi * SS_CG : C;
      for (int64_t b = 0; b < B; b++) {
        ss_dec dc = {cum_scores + b * T * C, transition, duration_bias};
#if THREADS > 1 && defined(_OPENMP)
#pragma omp single
#endif
        for (int64_t c = 0; c < g.CP; c++) ubs[c] = c < C ? 0.0f : -INFINITY, ubs[g.CP + c] = -INFINITY;
        const double lz = ss_dec_logz_seq(&g, &dc, et, tmax, lengths[b], c0 < c1 ? c0 : C, c1, ubs, &w, 1);
        if (t == 0) logZ[b] = (float)lz;
#if THREADS > 1 && defined(_OPENMP)
#pragma omp barrier
#endif
      }
    }
    SS_FTZ_OFF();
  }
  free(mem);
  return err;
}

/**
 * Decomposed marginals: log Z[B] and the gradients of sum_b log Z[b] with respect to
 * cum_scores (grad_cum[B, T, C]), transition (grad_transition[C, C]) and duration_bias
 * (grad_duration_bias[K, C]); the last two are summed over the batch.  Working memory: one
 * position's edge slab (K C C floats) and log alpha of every boundary (T C floats) per thread.
 */
int KG_NAME(kgen_semimarkov_marginals_decomposed)(int64_t B, int64_t T, int64_t K, int64_t C, const float *cum_scores,
                                                  const float *transition, const float *duration_bias,
                                                  const int64_t *lengths, float *logZ, float *grad_cum,
                                                  float *grad_transition, float *grad_duration_bias) {
  ss_call k = {.op = SS_OP_MARG, .cum = cum_scores, .trans = transition, .bias = duration_bias,
               .lengths = lengths, .logZ = logZ, .gcum = grad_cum};
  ss_dims_init(&k.g, B, T, K, C);
  int e = ss_check_dec(&k.g, cum_scores, transition, duration_bias, lengths);
  if (e) return e;
  if (!logZ || !grad_cum || !grad_transition || !grad_duration_bias) return SS_EARG;
  /* per-sequence partial gradients of the shared parameters, summed after the scan */
  k.gtrans = calloc((size_t)(B * C * C), 4);
  k.gbias = calloc((size_t)(B * K * C), 4);
  if (!k.gtrans || !k.gbias) {
    free(k.gtrans), free(k.gbias);
    return SS_ENOMEM;
  }
  memset(grad_cum, 0, (size_t)(B * T * C) * 4);
  e = ss_batch(&k);
  for (int64_t i = 0; i < C * C; i++) {
    float s = 0.0f;
    for (int64_t b = 0; b < B; b++) s += k.gtrans[b * C * C + i];
    grad_transition[i] = s;
  }
  for (int64_t i = 0; i < K * C; i++) {
    float s = 0.0f;
    for (int64_t b = 0; b < B; b++) s += k.gbias[b * K * C + i];
    grad_duration_bias[i] = s;
  }
  free(k.gtrans), free(k.gbias);
  return e;
}

/** Decomposed Viterbi: score[B] and, when not NULL, indicator[B, T-1, K, C, C] (as the edge form). */
int KG_NAME(kgen_semimarkov_viterbi_decomposed)(int64_t B, int64_t T, int64_t K, int64_t C, const float *cum_scores,
                                                const float *transition, const float *duration_bias,
                                                const int64_t *lengths, float *score, float *indicator) {
  ss_call k = {.op = SS_OP_VIT, .cum = cum_scores, .trans = transition, .bias = duration_bias,
               .lengths = lengths, .logZ = score, .ind = indicator};
  ss_dims_init(&k.g, B, T, K, C);
  int e = ss_check_dec(&k.g, cum_scores, transition, duration_bias, lengths);
  if (e) return e;
  if (!score) return SS_EARG;
  return ss_batch(&k);
}

/** Decomposed Viterbi segments: score[B], segments[B, T-1, 3], nsegments[B] (as the edge form). */
int KG_NAME(kgen_semimarkov_viterbi_segments_decomposed)(int64_t B, int64_t T, int64_t K, int64_t C,
                                                         const float *cum_scores, const float *transition,
                                                         const float *duration_bias, const int64_t *lengths,
                                                         float *score, int64_t *segments, int64_t *nsegments) {
  ss_call k = {.op = SS_OP_VIT, .cum = cum_scores, .trans = transition, .bias = duration_bias,
               .lengths = lengths, .logZ = score, .segs = segments, .nseg = nsegments};
  ss_dims_init(&k.g, B, T, K, C);
  int e = ss_check_dec(&k.g, cum_scores, transition, duration_bias, lengths);
  if (e) return e;
  if (!score || !segments || !nsegments) return SS_EARG;
  return ss_batch(&k);
}

/** Decomposed entropy: log Z[B] and H[B]. */
int KG_NAME(kgen_semimarkov_entropy_decomposed)(int64_t B, int64_t T, int64_t K, int64_t C, const float *cum_scores,
                                                const float *transition, const float *duration_bias,
                                                const int64_t *lengths, float *logZ, float *entropy) {
  ss_call k = {.op = SS_OP_ENT, .cum = cum_scores, .trans = transition, .bias = duration_bias,
               .lengths = lengths, .logZ = logZ, .entropy = entropy};
  ss_dims_init(&k.g, B, T, K, C);
  int e = ss_check_dec(&k.g, cum_scores, transition, duration_bias, lengths);
  if (e) return e;
  if (!logZ || !entropy) return SS_EARG;
  return ss_batch(&k);
}

/**
 * Test hook: log Z[B] and the outside scores at boundary 0, beta0[B, C] (log-sum over the
 * segmentations of the whole sequence that follow a start label c'), from the marginals' outside
 * recursion; log Z = logsumexp_c' beta0[b, c'].  marginals as kgen_semimarkov_marginals.
 */
int KG_NAME(kgen_semimarkov_outside0)(int64_t B, int64_t T, int64_t K, int64_t C, const float *edge,
                                      const int64_t *lengths, float *logZ, float *marginals, float *beta0) {
  ss_call k = {.op = SS_OP_MARG, .edge = edge, .lengths = lengths, .logZ = logZ, .marg = marginals,
               .beta0 = beta0};
  ss_dims_init(&k.g, B, T, K, C);
  int e = ss_check(&k.g, lengths);
  if (e) return e;
  if (!edge || !logZ || !marginals || !beta0) return SS_EARG;
  return ss_batch(&k);
}

#ifndef KG_PUBLIC_ONLY /* the reference and the harness (kg_abi.h); `kgen ship` leaves them out */
/* ---- the double-precision reference (plain pull recursions) ------------------------------------ */

typedef struct ss_ref_in {
  const ss_dims *g;
  const float *edge;               /* [B, T-1, K, C, C], or NULL */
  const float *cum, *trans, *bias; /* decomposed */
} ss_ref_in;

static inline double ss_ref_e(const ss_ref_in *in, int64_t b, int64_t m, int64_t d, int64_t c, int64_t cp) {
  const ss_dims *g = in->g;
  const int64_t C = g->C, s = ss_slot(g, d);
  if (in->edge) return in->edge[(((b * (g->T - 1) + m) * g->K + s) * C + c) * C + cp];
  const float *cum = in->cum + b * g->T * C;
  return (double)cum[(m + d) * C + c] - cum[m * C + c] + in->bias[s * C + c] + in->trans[cp * C + c];
}

static double ss_lse(const double *x, int64_t n) {
  double mx = -INFINITY, s = 0.0;
  for (int64_t i = 0; i < n; i++) mx = x[i] > mx ? x[i] : mx;
  if (mx == -INFINITY) return -INFINITY;
  for (int64_t i = 0; i < n; i++) s += exp(x[i] - mx);
  return mx + log(s);
}

/*
 * Sequence b of length L in double: sr Log, Max or Entropy.  alpha [L][C] (Log, Max), H [L][C]
 * (Entropy).  Returns log Z or the Viterbi score; *ent the entropy.  Max: bpd, bpc [L][C] the
 * winning (d, c') (ties: smaller d, then smaller c').  Scratch x: D C doubles.
 */
static double ss_ref_forward(const ss_ref_in *in, int sr, int64_t b, int64_t L, double *alpha, double *H,
                             int32_t *bpd, int32_t *bpc, double *x, double *ent) {
  const ss_dims *g = in->g;
  const int64_t C = g->C, D = g->D;
  for (int64_t c = 0; c < C; c++) alpha[c] = 0.0, H[c] = 0.0;
  for (int64_t n = 1; n < L; n++)
    for (int64_t c = 0; c < C; c++) {
      const int64_t dn = D < n ? D : n;
      int64_t nx = 0;
      double best = -INFINITY;
      for (int64_t d = 1; d <= dn; d++)
        for (int64_t cp = 0; cp < C; cp++) {
          const double v = alpha[(n - d) * C + cp] + ss_ref_e(in, b, n - d, d, c, cp);
          x[nx++] = v;
          if (sr == SS_MAX && v > best) best = v, bpd[n * C + c] = (int32_t)d, bpc[n * C + c] = (int32_t)cp;
        }
      if (sr == SS_MAX) {
        alpha[n * C + c] = best;
        continue;
      }
      const double a = ss_lse(x, nx);
      alpha[n * C + c] = a;
      if (sr == SS_ENT) {
        double h = 0.0;
        nx = 0;
        for (int64_t d = 1; d <= dn; d++)
          for (int64_t cp = 0; cp < C; cp++) {
            const double lp = x[nx++] - a, p = exp(lp);
            if (p > 0.0) h += p * (H[(n - d) * C + cp] - lp);
          }
        H[n * C + c] = h;
      }
    }
  const double *aL = alpha + (L - 1) * C;
  if (sr == SS_MAX) {
    double best = -INFINITY;
    for (int64_t c = 0; c < C; c++) best = aL[c] > best ? aL[c] : best;
    return best;
  }
  const double lz = ss_lse(aL, C);
  if (sr == SS_ENT) {
    double h = 0.0;
    for (int64_t c = 0; c < C; c++) {
      const double lq = aL[c] - lz, q = exp(lq);
      if (q > 0.0) h += q * (H[(L - 1) * C + c] - lq);
    }
    *ent = h;
  }
  return lz;
}

/* Outside scores beta [L][C] and the marginals of sequence b (mu: [T-1, K, C, C], zero where
 * unused) in double from alpha [L][C] and log Z. */
static void ss_ref_backward(const ss_ref_in *in, int64_t b, int64_t L, const double *alpha, double lz,
                            double *beta, double *mu, double *x) {
  const ss_dims *g = in->g;
  const int64_t C = g->C, D = g->D, K = g->K;
  memset(mu, 0, (size_t)((g->T - 1) * K * C * C) * sizeof(double));
  for (int64_t c = 0; c < C; c++) beta[(L - 1) * C + c] = 0.0;
  for (int64_t m = L - 2; m >= 0; m--) {
    const int64_t dm = D < L - 1 - m ? D : L - 1 - m;
    for (int64_t cp = 0; cp < C; cp++) {
      int64_t nx = 0;
      for (int64_t d = 1; d <= dm; d++)
        for (int64_t c = 0; c < C; c++) {
          const double e = ss_ref_e(in, b, m, d, c, cp);
          x[nx++] = e + beta[(m + d) * C + c];
          mu[((m * K + ss_slot(g, d)) * C + c) * C + cp] = exp(alpha[m * C + cp] + e + beta[(m + d) * C + c] - lz);
        }
      beta[m * C + cp] = ss_lse(x, nx);
    }
  }
}

/* Decomposed log Z in double by the factorised recursion (O(T (C^2 + K C))): the reference of the
 * long-sequence problem.  a: [L][C] scratch, gm: [L][C]. */
static double ss_ref_dec_logz(const ss_ref_in *in, int64_t b, int64_t L, double *a, double *gm, double *x) {
  const ss_dims *g = in->g;
  const int64_t C = g->C, D = g->D;
  const float *cum = in->cum + b * g->T * C;
  for (int64_t c = 0; c < C; c++) a[c] = 0.0;
  for (int64_t n = 1; n < L; n++) {
    for (int64_t c = 0; c < C; c++) {
      for (int64_t cp = 0; cp < C; cp++) x[cp] = a[(n - 1) * C + cp] + in->trans[cp * C + c];
      gm[(n - 1) * C + c] = ss_lse(x, C) - cum[(n - 1) * C + c];
    }
    const int64_t dn = D < n ? D : n;
    for (int64_t c = 0; c < C; c++) {
      for (int64_t d = 1; d <= dn; d++) x[d - 1] = gm[(n - d) * C + c] + in->bias[ss_slot(g, d) * C + c];
      a[n * C + c] = (double)cum[n * C + c] + ss_lse(x, dn);
    }
  }
  return ss_lse(a + (L - 1) * C, C);
}

/* ---- the harness: problem dimensions T, K, C, B, semiring, phase, form ------------------------- */

typedef struct ss_state {
  ss_dims g;
  int sr, phase, form;
  int64_t *lengths;
  float *edge;                     /* form 0 */
  float *cum, *trans, *bias;       /* form 1 */
  float *logZ, *ent, *marg, *ind;  /* outputs */
  float *gcum, *gtrans, *gbias;
  float *alpha_keep;               /* phase 1: log alpha of a forward, [B][T][CP] */
  /* reference, at the first kg_verify */
  int have_ref;
  double *r_val, *r_ent, *r_marg, *r_gcum, *r_gtrans, *r_gbias;
  double rtol, atol;
  float *b_alpha;                  /* baselines' scratch [T][CP] (+ H) */
} ss_state;

void kg_destroy(void *state) {
  ss_state *s = state;
  if (!s) return;
  free(s->lengths), free(s->edge), free(s->cum), free(s->trans), free(s->bias), free(s->logZ), free(s->ent);
  free(s->marg), free(s->ind), free(s->gcum), free(s->gtrans), free(s->gbias), free(s->alpha_keep);
  free(s->r_val), free(s->r_ent), free(s->r_marg), free(s->r_gcum), free(s->r_gtrans), free(s->r_gbias);
  free(s->b_alpha), free(s);
}

/* Element count B (T-1) K C C: the unit of ns per element. */
static double ss_elements(const ss_state *s) {
  return (double)s->g.B * (double)(s->g.T - 1) * (double)s->g.K * (double)(s->g.C * s->g.C);
}

void *kg_create(const kg_problem *p) {
  const int64_t T = kg_dim(p, "T", 128), K = kg_dim(p, "K", 4), C = kg_dim(p, "C", 3), B = kg_dim(p, "B", 4);
  const int sr = (int)kg_dim(p, "semiring", 0), phase = (int)kg_dim(p, "phase", 0), form = (int)kg_dim(p, "form", 0);
  if (T < 2 || K < 1 || C < 1 || B < 1 || sr < 0 || sr > 2 || phase < 0 || phase > 2 || form < 0 || form > 1)
    return NULL;
  /* phase 1 (the backward alone) is Log's; Entropy has a forward only */
  if ((phase == 1 && (sr != SS_LOG || form != 0)) || (sr == SS_ENT && phase != 0)) return NULL;
  ss_state *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  ss_dims_init(&s->g, B, T, K, C);
  s->sr = sr, s->phase = phase, s->form = form, s->rtol = p->rtol, s->atol = p->atol;
  const size_t ne = (size_t)(B * (T - 1) * K * C * C);
  s->lengths = malloc((size_t)B * sizeof(int64_t));
  s->logZ = kg_alloc((size_t)B * 4), s->ent = kg_alloc((size_t)B * 4);
  s->b_alpha = kg_alloc((size_t)((T + s->g.RS) * s->g.CP) * 2 * 4); /* T rows (+ a ring) per array */
  int ok = s->lengths && s->logZ && s->ent && s->b_alpha;
  uint64_t seed = p->seed;
  for (int64_t b = 0; b < B; b++) s->lengths[b] = T - (b * T) / (2 * B); /* T, then shorter */
  if (ok && form == 0) {
    ok = (s->edge = kg_alloc(ne * 4)) != NULL;
    if (ok) kg_fill_float(s->edge, ne, &seed);
  } else if (ok) {
    s->cum = kg_alloc((size_t)(B * T * C) * 4), s->trans = kg_alloc((size_t)(C * C) * 4);
    s->bias = kg_alloc((size_t)(K * C) * 4);
    ok = s->cum && s->trans && s->bias;
    if (ok) {
      for (int64_t b = 0; b < B; b++) {
        float *cb = s->cum + b * T * C;
        for (int64_t n = 1; n < T; n++)
          for (int64_t c = 0; c < C; c++) cb[n * C + c] = cb[(n - 1) * C + c] + kg_rand_float(&seed);
      }
      kg_fill_float(s->trans, (size_t)(C * C), &seed);
      kg_fill_float(s->bias, (size_t)(K * C), &seed);
    }
  }
  if (ok && sr == SS_LOG && phase >= 1) {
    if (form == 0) ok = (s->marg = kg_alloc(ne * 4)) != NULL;
    else {
      s->gcum = kg_alloc((size_t)(B * T * C) * 4), s->gtrans = kg_alloc((size_t)(C * C) * 4);
      s->gbias = kg_alloc((size_t)(K * C) * 4);
      ok = s->gcum && s->gtrans && s->gbias;
    }
  }
  if (ok && sr == SS_MAX && phase == 2) ok = (s->ind = kg_alloc(ne * 4)) != NULL;
  if (ok && phase == 1) {
    /* the forward the timed backward starts from: log alpha of every boundary, and log Z */
    ok = (s->alpha_keep = kg_alloc((size_t)(B * T * s->g.CP) * 4)) != NULL;
    ss_work wk;
    ok = ok && ss_work_init(&wk, &s->g, 0) == 0;
    for (int64_t b = 0; ok && b < B; b++) {
      ss_out o;
      ss_forward_seq(SS_LOG, &s->g, s->edge + b * (T - 1) * K * C * C, NULL, s->lengths[b], &wk,
                     s->alpha_keep + b * T * s->g.CP, NULL, &o, NULL);
      s->logZ[b] = o.value;
    }
    if (ok) ss_work_free(&wk);
  }
  if (!ok) {
    kg_destroy(s);
    return NULL;
  }
  return s;
}

/* The variant on the problem: 0 or an error code. */
static int ss_variant(ss_state *s) {
  const ss_dims *g = &s->g;
  if (s->phase == 1) {
    ss_call k = {.op = SS_OP_MARG_BWD, .g = *g, .edge = s->edge, .lengths = s->lengths, .logZ = s->logZ,
                 .marg = s->marg, .alpha_keep = s->alpha_keep};
    return ss_batch(&k);
  }
  if (s->form == 0) {
    switch (s->sr) {
    case SS_LOG:
      return s->phase == 0
                 ? KG_NAME(kgen_semimarkov_logpartition)(g->B, g->T, g->K, g->C, s->edge, s->lengths, s->logZ)
                 : KG_NAME(kgen_semimarkov_marginals)(g->B, g->T, g->K, g->C, s->edge, s->lengths, s->logZ, s->marg);
    case SS_MAX: return KG_NAME(kgen_semimarkov_viterbi)(g->B, g->T, g->K, g->C, s->edge, s->lengths, s->logZ, s->ind);
    default: return KG_NAME(kgen_semimarkov_entropy)(g->B, g->T, g->K, g->C, s->edge, s->lengths, s->logZ, s->ent);
    }
  }
  switch (s->sr) {
  case SS_LOG:
    return s->phase == 0 ? KG_NAME(kgen_semimarkov_logpartition_decomposed)(g->B, g->T, g->K, g->C, s->cum, s->trans,
                                                                             s->bias, s->lengths, s->logZ)
                         : KG_NAME(kgen_semimarkov_marginals_decomposed)(g->B, g->T, g->K, g->C, s->cum, s->trans,
                                                                          s->bias, s->lengths, s->logZ, s->gcum,
                                                                          s->gtrans, s->gbias);
  case SS_MAX:
    return KG_NAME(kgen_semimarkov_viterbi_decomposed)(g->B, g->T, g->K, g->C, s->cum, s->trans, s->bias, s->lengths,
                                                       s->logZ, s->ind);
  default:
    return KG_NAME(kgen_semimarkov_entropy_decomposed)(g->B, g->T, g->K, g->C, s->cum, s->trans, s->bias, s->lengths,
                                                       s->logZ, s->ent);
  }
}

void kg_run(void *state) { (void)ss_variant(state); }

/* Reference values of the state's problem (double), computed once. */
static int ss_reference(ss_state *s) {
  const ss_dims *g = &s->g;
  const int64_t B = g->B, T = g->T, K = g->K, C = g->C;
  const size_t ne = (size_t)(B * (T - 1) * K * C * C);
  ss_ref_in in = {g, s->edge, s->cum, s->trans, s->bias};
  s->r_val = calloc((size_t)B, sizeof(double)), s->r_ent = calloc((size_t)B, sizeof(double));
  double *al = malloc((size_t)(T * C) * sizeof(double)), *H = malloc((size_t)(T * C) * sizeof(double));
  double *be = malloc((size_t)(T * C) * sizeof(double)), *x = malloc((size_t)(g->D * C + C) * sizeof(double));
  int32_t *bpd = calloc((size_t)(T * C), 4), *bpc = calloc((size_t)(T * C), 4);
  int ok = s->r_val && s->r_ent && al && H && be && x && bpd && bpc;
  const int marg = s->sr == SS_LOG && s->phase >= 1;
  if (ok && marg && s->form == 0) ok = (s->r_marg = malloc(ne * sizeof(double))) != NULL;
  if (ok && marg && s->form == 1) {
    s->r_gcum = calloc((size_t)(B * T * C), sizeof(double)), s->r_gtrans = calloc((size_t)(C * C), sizeof(double));
    s->r_gbias = calloc((size_t)(K * C), sizeof(double));
    ok = s->r_gcum && s->r_gtrans && s->r_gbias;
  }
  double *mu = NULL;
  if (ok && marg && s->form == 1) ok = (mu = malloc((size_t)((T - 1) * K * C * C) * sizeof(double))) != NULL;
  for (int64_t b = 0; ok && b < B; b++) {
    const int64_t L = s->lengths[b];
    if (s->form == 1 && s->sr == SS_LOG && !marg) {
      s->r_val[b] = ss_ref_dec_logz(&in, b, L, al, H, x);
      continue;
    }
    s->r_val[b] = ss_ref_forward(&in, s->sr, b, L, al, H, bpd, bpc, x, &s->r_ent[b]);
    if (!marg) continue;
    double *m = s->form == 0 ? s->r_marg + b * (T - 1) * K * C * C : mu;
    ss_ref_backward(&in, b, L, al, s->r_val[b], be, m, x);
    if (s->form == 1)
      for (int64_t n = 0; n + 1 < L; n++)
        for (int64_t d = 1; d <= g->D && n + d <= L - 1; d++)
          for (int64_t c = 0; c < C; c++)
            for (int64_t cp = 0; cp < C; cp++) {
              const double v = m[((n * K + ss_slot(g, d)) * C + c) * C + cp];
              s->r_gcum[(b * T + n + d) * C + c] += v;
              s->r_gcum[(b * T + n) * C + c] -= v;
              s->r_gbias[ss_slot(g, d) * C + c] += v;
              s->r_gtrans[cp * C + c] += v;
            }
  }
  free(al), free(H), free(be), free(x), free(bpd), free(bpc), free(mu);
  s->have_ref = ok;
  return ok;
}

/* The score (double) of the segmentation an indicator marks for sequence b, or NAN when the
 * marks are not one chain of segments from boundary 0 to lengths[b] - 1. */
static double ss_path_score(const ss_state *s, int64_t b) {
  const ss_dims *g = &s->g;
  const int64_t T = g->T, K = g->K, C = g->C, L = s->lengths[b], KCC = K * C * C;
  const float *ind = s->ind + b * (T - 1) * KCC;
  ss_ref_in in = {g, s->edge, s->cum, s->trans, s->bias};
  int64_t ones = 0;
  for (int64_t i = 0; i < (T - 1) * KCC; i++) {
    if (ind[i] == 1.0f) ones++;
    else if (ind[i] != 0.0f) return NAN;
  }
  double score = 0.0;
  int64_t n = 0, prev = -1, segs = 0;
  while (n < L - 1) {
    int64_t found = 0, fd = 0, fc = 0;
    for (int64_t d = 1; d <= g->D && n + d <= L - 1; d++)
      for (int64_t c = 0; c < C; c++)
        for (int64_t cp = 0; cp < C; cp++)
          if (ind[((n * K + ss_slot(g, d)) * C + c) * C + cp] == 1.0f && (prev < 0 || cp == prev)) {
            found++, fd = d, fc = c;
            score += ss_ref_e(&in, b, n, d, c, cp);
          }
    if (found != 1) return NAN;
    segs++, prev = fc, n += fd;
  }
  return segs == ones ? score : NAN;
}

/* Once, on the pristine state (kg_abi.h): the isolated variants then share the reference (the
 * T = 100,000 problem's takes seconds; recomputed per variant it counted against each timeout). */
void kg_prepare(void *state) {
  ss_state *s = state;
  if (!s->have_ref) (void)ss_reference(s);
}

int kg_verify(void *state, char *msg, size_t cap) {
  ss_state *s = state;
  const ss_dims *g = &s->g;
  const int64_t B = g->B, T = g->T, K = g->K, C = g->C;
  if (!s->have_ref && !ss_reference(s)) {
    snprintf(msg, cap, "out of memory for the reference");
    return 1;
  }
  int rc = ss_variant(s);
  if (rc) {
    snprintf(msg, cap, "the variant failed: %s", KG_NAME(kgen_semimarkov_strerror)(rc));
    return 1;
  }
  double e_val = 0.0, e_ent = 0.0, e_marg = 0.0;
  for (int64_t b = 0; b < B; b++) {
    const double ref = s->r_val[b], d = fabs((double)s->logZ[b] - ref), tol = 1e-4 * fmax(1.0, fabs(ref));
    if (!(d <= tol)) {
      snprintf(msg, cap, "%s[%lld] = %.9g, expected %.9g (|diff| %.3g > %.3g)", s->sr == SS_MAX ? "score" : "logZ",
               (long long)b, (double)s->logZ[b], ref, d, tol);
      return 1;
    }
    e_val = fmax(e_val, d / fmax(1.0, fabs(ref)));
    if (s->sr == SS_ENT) {
      const double de = fabs((double)s->ent[b] - s->r_ent[b]);
      if (!(de <= 1e-4 * fmax(1e-3, fabs(s->r_ent[b])))) {
        snprintf(msg, cap, "entropy[%lld] = %.9g, expected %.9g", (long long)b, (double)s->ent[b], s->r_ent[b]);
        return 1;
      }
      e_ent = fmax(e_ent, de / fmax(1e-3, fabs(s->r_ent[b])));
    }
    if (s->ind) {
      /* the path: a valid segmentation whose score is the optimum (ties aside: within the bound) */
      const double ps = ss_path_score(s, b);
      if (!(fabs(ps - ref) <= tol)) {
        snprintf(msg, cap, "path of sequence %lld: score %.9g, optimum %.9g (NaN: not a segmentation)", (long long)b,
                 ps, ref);
        return 1;
      }
    }
  }
  if (s->marg) {
    const size_t ne = (size_t)(B * (T - 1) * K * C * C);
    for (size_t i = 0; i < ne; i++) {
      const double d = fabs((double)s->marg[i] - s->r_marg[i]);
      if (!(d <= 1e-4)) {
        snprintf(msg, cap, "marginals[%zu] = %.9g, expected %.9g", i, (double)s->marg[i], s->r_marg[i]);
        return 1;
      }
      e_marg = fmax(e_marg, d);
    }
  }
  if (s->gcum) {
    /*
     * Gradients are sums of marginals.  A float32 scan carries alpha, beta and log Z with absolute
     * errors of a few ulp of |log Z| (thousands here), so every marginal exp(alpha + e + beta -
     * log Z) has a relative error up to delta = 8 eps |log Z|; a sum of marginals of total mass S
     * is off by up to delta S.  Bound: 1e-4 + delta (|g| + 2) for cum_scores (an incoming and an
     * outgoing mass of at most 1 each), 1e-4 max(1, |g|) + delta |g| for transition and duration
     * bias (sums of positive marginals).
     */
    double lzmax = 1.0;
    for (int64_t b = 0; b < B; b++) lzmax = fmax(lzmax, fabs(s->r_val[b]));
    const double delta = 8.0 * FLT_EPSILON * lzmax;
    struct { const float *got; const double *want; int64_t n; const char *name; int mass; } gs[3] = {
        {s->gcum, s->r_gcum, B * T * C, "grad_cum", 2}, {s->gtrans, s->r_gtrans, C * C, "grad_transition", 0},
        {s->gbias, s->r_gbias, K * C, "grad_duration_bias", 0}};
    for (int i = 0; i < 3; i++)
      for (int64_t j = 0; j < gs[i].n; j++) {
        const double w = gs[i].want[j], d = fabs((double)gs[i].got[j] - w);
        const double tol = gs[i].mass ? 1e-4 + delta * (fabs(w) + gs[i].mass) : 1e-4 * fmax(1.0, fabs(w)) + delta * fabs(w);
        if (!(d <= tol)) {
          snprintf(msg, cap, "%s[%lld] = %.9g, expected %.9g (|diff| %.3g > %.3g)", gs[i].name, (long long)j,
                   (double)gs[i].got[j], w, d, tol);
          return 1;
        }
        e_marg = fmax(e_marg, d / fmax(1.0, fabs(w)));
      }
  }
  /* working memory of the scan (beyond inputs and outputs), per thread */
  size_t work = ss_work_bytes(g, s->form == 1);
  const int64_t ckS = s->sr == SS_LOG && s->phase == 2 ? ss_ckpt_spacing(g) : 0;
  if (ckS) work += (size_t)(ckS * g->CP + ((T - 2) / ckS + 1) * 2 * g->RS * g->CP) * 4; /* checkpointed */
  else if (s->phase >= 1 || s->ind) work += (size_t)(T * g->CP) * 4 * (s->ind ? 2 : 1);
  if (s->form == 1 && s->sr == SS_LOG && s->phase == 0) work = ss_dls_bytes(g) + (size_t)(2 * g->CP + C * C) * 4;
  snprintf(msg, cap,
           "{\"value_rel_err\": %.3g, \"entropy_rel_err\": %.3g, \"marginal_max_err\": %.3g, "
           "\"work_bytes_per_thread\": %zu, \"elements\": %.0f, \"positions\": %lld}",
           e_val, e_ent, e_marg, work, ss_elements(s), (long long)(B * (T - 1)));
  return 0;
}

/* ---- baselines: the forward of the problem's semiring, pulled one position at a time ----------- */

/* scalar float32: the recurrences as written (two passes per (n, c) in log space). */
void kg_baseline_scalar32(void *state) {
  SS_FTZ_ON(); /* as the variants: no subnormal assists */
  ss_state *s = state;
  const ss_dims *g = &s->g;
  const int64_t T = g->T, K = g->K, C = g->C, D = g->D, CP = g->CP;
  float *al = s->b_alpha, *H = s->b_alpha + (T + g->RS) * CP;
  if (s->cum && s->sr == SS_LOG) {
    /* decomposed log Z: the factorised recursion (as ss_ref_dec_logz) in float, one position at a
     * time, two passes per log-sum (the edge-by-edge recursion is O(T K C^2): minutes at T = 1e5) */
    float *gm = al, *x = H, *a = H + CP;
    for (int64_t b = 0; b < g->B; b++) {
      const int64_t L = s->lengths[b];
      const float *cum = s->cum + b * T * C;
      for (int64_t c = 0; c < C; c++) a[c] = 0.0f;
      for (int64_t n = 1; n < L; n++) {
        const int64_t m = n - 1, dn = D < n ? D : n;
        for (int64_t c = 0; c < C; c++) {
          float mx = -INFINITY, sum = 0.0f;
          for (int64_t cp = 0; cp < C; cp++) mx = fmaxf(mx, a[cp] + s->trans[cp * C + c]);
          for (int64_t cp = 0; cp < C; cp++) sum += expf(a[cp] + s->trans[cp * C + c] - mx);
          gm[(m % g->RS) * CP + c] = mx + logf(sum) - cum[m * C + c];
        }
        for (int64_t c = 0; c < C; c++) {
          float mx = -INFINITY, sum = 0.0f;
          for (int64_t d = 1; d <= dn; d++) mx = fmaxf(mx, gm[((n - d) % g->RS) * CP + c] + s->bias[ss_slot(g, d) * C + c]);
          for (int64_t d = 1; d <= dn; d++) sum += expf(gm[((n - d) % g->RS) * CP + c] + s->bias[ss_slot(g, d) * C + c] - mx);
          x[c] = mx + logf(sum) + cum[n * C + c];
        }
        for (int64_t c = 0; c < C; c++) a[c] = x[c];
      }
      float mx = -INFINITY, sum = 0.0f;
      for (int64_t c = 0; c < C; c++) mx = fmaxf(mx, a[c]);
      for (int64_t c = 0; c < C; c++) sum += expf(a[c] - mx);
      s->logZ[b] = mx + logf(sum);
    }
    SS_FTZ_OFF();
    return;
  }
  for (int64_t b = 0; b < g->B; b++) {
    const int64_t L = s->lengths[b];
    const float *edge = s->edge ? s->edge + b * (T - 1) * K * C * C : NULL;
    const float *cum = s->cum ? s->cum + b * T * C : NULL;
    for (int64_t c = 0; c < C; c++) al[c] = 0.0f, H[c] = 0.0f;
    for (int64_t n = 1; n < L; n++) {
      const int64_t dn = D < n ? D : n;
      for (int64_t c = 0; c < C; c++) {
        float mx = -INFINITY;
        for (int64_t d = 1; d <= dn; d++)
          for (int64_t cp = 0; cp < C; cp++) {
            const int64_t m = n - d, sl = ss_slot(g, d);
            const float e = edge ? edge[((m * K + sl) * C + c) * C + cp]
                                 : cum[n * C + c] - cum[m * C + c] + s->bias[sl * C + c] + s->trans[cp * C + c];
            const float x = al[m * CP + cp] + e;
            mx = x > mx ? x : mx;
          }
        if (s->sr == SS_MAX) {
          al[n * CP + c] = mx;
          continue;
        }
        float sum = 0.0f, h = 0.0f;
        for (int64_t d = 1; d <= dn; d++)
          for (int64_t cp = 0; cp < C; cp++) {
            const int64_t m = n - d, sl = ss_slot(g, d);
            const float e = edge ? edge[((m * K + sl) * C + c) * C + cp]
                                 : cum[n * C + c] - cum[m * C + c] + s->bias[sl * C + c] + s->trans[cp * C + c];
            const float y = al[m * CP + cp] + e - mx, t = expf(y);
            sum += t;
            if (s->sr == SS_ENT && t > 0.0f) h += t * (H[m * CP + cp] - y);
          }
        al[n * CP + c] = mx + logf(sum);
        if (s->sr == SS_ENT) H[n * CP + c] = h / sum + logf(sum);
      }
    }
    float mx = -INFINITY, sum = 0.0f;
    for (int64_t c = 0; c < C; c++) mx = al[(L - 1) * CP + c] > mx ? al[(L - 1) * CP + c] : mx;
    for (int64_t c = 0; c < C; c++) sum += expf(al[(L - 1) * CP + c] - mx);
    s->logZ[b] = s->sr == SS_MAX ? mx : mx + logf(sum);
  }
  SS_FTZ_OFF();
}

/*
 * Vectorised log space, the straightforward way (as a PyTorch streaming scan computes it): for
 * each (n, c), lanes over c', a max pass then an exp-sum pass over the durations.  Decomposed:
 * lanes over c, the transition product in log space (C^2 exps), the duration sum in two passes.
 */
void kg_baseline_vec32(void *state) {
#if SS_AVX
  SS_FTZ_ON(); /* as the variants: no subnormal assists */
  ss_state *s = state;
  const ss_dims *g = &s->g;
  const int64_t T = g->T, K = g->K, C = g->C, D = g->D, CP = g->CP;
  if (C <= 16 && s->edge) {
    const __mmask16 mc = ss_lanes(C);
    const __m512 ninf = _mm512_set1_ps(-INFINITY);
    float *al = s->b_alpha, *H = s->b_alpha + (T + g->RS) * CP;
    for (int64_t b = 0; b < g->B; b++) {
      const int64_t L = s->lengths[b];
      const float *edge = s->edge + b * (T - 1) * K * C * C;
      for (int64_t c = 0; c < CP; c++) al[c] = c < C ? 0.0f : -INFINITY, H[c] = 0.0f;
      for (int64_t n = 1; n < L; n++) {
        const int64_t dn = D < n ? D : n;
        for (int64_t c = 0; c < C; c++) {
          __m512 mx = ninf;
          for (int64_t d = 1; d <= dn; d++)
            mx = _mm512_max_ps(mx, _mm512_add_ps(_mm512_mask_loadu_ps(ninf, mc, edge + (((n - d) * K + ss_slot(g, d)) * C + c) * C),
                                                 _mm512_loadu_ps(al + (n - d) * CP)));
          const float m = _mm512_reduce_max_ps(mx);
          if (s->sr == SS_MAX) {
            al[n * CP + c] = m;
            continue;
          }
          __m512 sum = _mm512_setzero_ps(), h = _mm512_setzero_ps();
          for (int64_t d = 1; d <= dn; d++) {
            __m512 y = _mm512_sub_ps(_mm512_add_ps(_mm512_mask_loadu_ps(ninf, mc, edge + (((n - d) * K + ss_slot(g, d)) * C + c) * C),
                                                   _mm512_loadu_ps(al + (n - d) * CP)),
                                     _mm512_set1_ps(m));
            __m512 t = _mm512_maskz_mov_ps(mc, kg_exp16(y));
            sum = _mm512_add_ps(sum, t);
            if (s->sr == SS_ENT)
              h = _mm512_fmadd_ps(t, _mm512_sub_ps(_mm512_loadu_ps(H + (n - d) * CP), _mm512_max_ps(y, _mm512_set1_ps(-FLT_MAX))), h);
          }
          const float sm = _mm512_reduce_add_ps(sum);
          al[n * CP + c] = m + logf(sm);
          if (s->sr == SS_ENT) H[n * CP + c] = _mm512_reduce_add_ps(h) / sm + logf(sm);
        }
      }
      float mx = -INFINITY, sum = 0.0f;
      for (int64_t c = 0; c < C; c++) mx = al[(L - 1) * CP + c] > mx ? al[(L - 1) * CP + c] : mx;
      for (int64_t c = 0; c < C; c++) sum += expf(al[(L - 1) * CP + c] - mx);
      s->logZ[b] = s->sr == SS_MAX ? mx : mx + logf(sum);
    }
    SS_FTZ_OFF();
    return;
  }
  if (s->cum && s->sr == SS_LOG) {
    float *gam = s->b_alpha, *al = s->b_alpha + (T + g->RS) * CP, x[16];
    for (int64_t b = 0; b < g->B; b++) {
      const int64_t L = s->lengths[b];
      const float *cum = s->cum + b * T * C;
      for (int64_t c = 0; c < CP; c++) al[c] = c < C ? 0.0f : -INFINITY;
      for (int64_t n = 1; n < L; n++) {
        const int64_t m = n - 1, dn = D < n ? D : n;
        for (int64_t c0 = 0; c0 < C; c0 += 16) {
          const __mmask16 mk = ss_lanes(C - c0);
          __m512 mx = _mm512_set1_ps(-INFINITY), sum = _mm512_setzero_ps();
          for (int64_t cp = 0; cp < C; cp++)
            mx = _mm512_max_ps(mx, _mm512_add_ps(_mm512_set1_ps(al[cp]), _mm512_maskz_loadu_ps(mk, s->trans + cp * C + c0)));
          mx = _mm512_max_ps(mx, _mm512_set1_ps(SS_NEG));
          for (int64_t cp = 0; cp < C; cp++)
            sum = _mm512_add_ps(sum, kg_exp16(_mm512_sub_ps(_mm512_add_ps(_mm512_set1_ps(al[cp]), _mm512_maskz_loadu_ps(mk, s->trans + cp * C + c0)), mx)));
          _mm512_mask_storeu_ps(gam + (m % g->RS) * CP + c0, mk,
                                _mm512_sub_ps(_mm512_add_ps(mx, kg_log16(sum)), _mm512_maskz_loadu_ps(mk, cum + m * C + c0)));
        }
        for (int64_t c0 = 0; c0 < C; c0 += 16) {
          const __mmask16 mk = ss_lanes(C - c0);
          __m512 mx = _mm512_set1_ps(-INFINITY), sum = _mm512_setzero_ps();
          for (int64_t d = 1; d <= dn; d++)
            mx = _mm512_max_ps(mx, _mm512_add_ps(_mm512_maskz_loadu_ps(mk, gam + ss_back(n % g->RS, d, g->RS) * CP + c0),
                                                 _mm512_maskz_loadu_ps(mk, s->bias + ss_slot(g, d) * C + c0)));
          for (int64_t d = 1; d <= dn; d++)
            sum = _mm512_add_ps(sum, kg_exp16(_mm512_sub_ps(_mm512_add_ps(_mm512_maskz_loadu_ps(mk, gam + ss_back(n % g->RS, d, g->RS) * CP + c0),
                                                                        _mm512_maskz_loadu_ps(mk, s->bias + ss_slot(g, d) * C + c0)),
                                                          mx)));
          _mm512_mask_storeu_ps(x, mk, _mm512_add_ps(_mm512_add_ps(mx, kg_log16(sum)), _mm512_maskz_loadu_ps(mk, cum + n * C + c0)));
          for (int64_t c = c0; c < C && c < c0 + 16; c++) al[c] = x[c - c0];
        }
      }
      float mx = -INFINITY, sum = 0.0f;
      for (int64_t c = 0; c < C; c++) mx = al[c] > mx ? al[c] : mx;
      for (int64_t c = 0; c < C; c++) sum += expf(al[c] - mx);
      s->logZ[b] = mx + logf(sum);
    }
    SS_FTZ_OFF();
    return;
  }
  SS_FTZ_OFF();
#endif
  kg_baseline_scalar32(state); /* no AVX-512, C > 16 or a decomposed Max/Entropy problem */
}
#endif /* KG_PUBLIC_ONLY */
