/*
 * test_semiring_scan.c - templates/semiring_scan.c, every variant of specs/semiring_scan.lua
 * (emitted and compiled in-process), through its public API:
 *   - brute-force enumeration of every segmentation on tiny sizes (T <= 7, K <= 4, C <= 3,
 *     K = 1, lengths of 1 and shorter than T): log Z, marginals, Viterbi score and path,
 *     entropy; the tie rule on all-equal scores;
 *   - identities on larger random inputs (and C = 17, the portable path): the marginals of the
 *     segments covering each position sum to 1; H = log Z - sum(mu * edge); the outside
 *     recursion at boundary 0 reproduces log Z;
 *   - the edge and decomposed forms agree when the edge tensor is built from the decomposed
 *     inputs (log Z, entropy, Viterbi, and the gradients by the chain rule);
 *   - bad input is refused (lengths 0 or > T, K = 0, C = 0, NaN in the scores, NULL);
 *   - the Viterbi segment list is the indicator's path (edge and decomposed forms);
 *   - checkpointed marginals (forced on small sizes) equal the stored-alpha ones bit for bit;
 *   - the decomposed log Z of a long sequence (T = 8000, B = 1 and 2: the threads over c and
 *     over the batch) against a double recursion within 1e-6 relative (float offsets drifted
 *     to 2.5e-5 there).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kg_compile.h"
#include "kg_jit_test.h"
#include "kg_spec.h"
#include "kg_template.h"

typedef int (*logz_fn)(int64_t, int64_t, int64_t, int64_t, const float *, const int64_t *, float *);
typedef int (*two_fn)(int64_t, int64_t, int64_t, int64_t, const float *, const int64_t *, float *, float *);
typedef int (*out0_fn)(int64_t, int64_t, int64_t, int64_t, const float *, const int64_t *, float *, float *, float *);
typedef int (*dlogz_fn)(int64_t, int64_t, int64_t, int64_t, const float *, const float *, const float *,
                        const int64_t *, float *);
typedef int (*dtwo_fn)(int64_t, int64_t, int64_t, int64_t, const float *, const float *, const float *, const int64_t *,
                       float *, float *);
typedef int (*dmarg_fn)(int64_t, int64_t, int64_t, int64_t, const float *, const float *, const float *,
                        const int64_t *, float *, float *, float *, float *);

typedef int (*seg_fn)(int64_t, int64_t, int64_t, int64_t, const float *, const int64_t *, float *, int64_t *,
                      int64_t *);
typedef int (*dseg_fn)(int64_t, int64_t, int64_t, int64_t, const float *, const float *, const float *, const int64_t *,
                       float *, int64_t *, int64_t *);
typedef size_t (*ckpt_fn)(size_t);

typedef struct api {
  const char *name;
  logz_fn logz;
  two_fn marg, vit, ent;
  out0_fn out0;
  dlogz_fn dlogz;
  dmarg_fn dmarg;
  dtwo_fn dvit, dent;
  seg_fn seg;
  dseg_fn dseg;
  ckpt_fn ckpt;
} api;

static uint64_t rng = 12345;
static float frand(void) { /* uniform [-1, 1) */
  rng = rng * 6364136223846793005ull + 1442695040888963407ull;
  return (float)((double)(rng >> 40) / (double)(1ull << 24) * 2.0 - 1.0);
}

/* ---- brute force: every segmentation of one sequence -------------------------------------------- */

typedef struct bf {
  int64_t T, K, C, L;
  const float *e; /* [T-1, K, C, C] of this sequence */
  /* results */
  double lse_max, lse_sum; /* running logsumexp: max and sum of exp(score - max) (two passes) */
  double best;
  int npaths;
  double scores[200000];
  int nseg[200000];
  int16_t seg[200000][6][4]; /* (n, slot, c, c') per segment */
} bf;

static bf B_;

static int64_t slot_of(int64_t K, int64_t d) { return d < K - 1 ? d : K - 1; }

static void bf_rec(bf *b, int64_t n, int64_t prev, double score, int depth, int16_t (*cur)[4]) {
  if (n == b->L - 1) {
    assert_true(b->npaths < 200000);
    b->scores[b->npaths] = score;
    b->nseg[b->npaths] = depth;
    memcpy(b->seg[b->npaths], cur, sizeof(int16_t) * 4 * 6);
    b->npaths++;
    return;
  }
  const int64_t D = b->K > 1 ? b->K - 1 : 1;
  for (int64_t d = 1; d <= D && n + d <= b->L - 1; d++)
    for (int64_t c = 0; c < b->C; c++) {
      const int64_t s = slot_of(b->K, d);
      cur[depth][0] = (int16_t)n, cur[depth][1] = (int16_t)s, cur[depth][2] = (int16_t)c, cur[depth][3] = (int16_t)prev;
      bf_rec(b, n + d, c, score + b->e[((n * b->K + s) * b->C + c) * b->C + prev], depth + 1, cur);
    }
}

/* Enumerate; fills log Z, best, H, the marginals mu[T-1, K, C, C] (double). */
static void bf_run(int64_t T, int64_t K, int64_t C, int64_t L, const float *e, double *logz, double *best, double *ent,
                   double *mu) {
  bf *b = &B_;
  b->T = T, b->K = K, b->C = C, b->L = L, b->e = e, b->npaths = 0;
  int16_t cur[6][4];
  for (int64_t c0 = 0; c0 < C; c0++) bf_rec(b, 0, c0, 0.0, 0, cur);
  double mx = -INFINITY, s = 0.0;
  for (int i = 0; i < b->npaths; i++) mx = fmax(mx, b->scores[i]);
  for (int i = 0; i < b->npaths; i++) s += exp(b->scores[i] - mx);
  *logz = mx + log(s);
  *best = mx;
  double h = 0.0;
  memset(mu, 0, sizeof(double) * (size_t)((T - 1) * K * C * C));
  for (int i = 0; i < b->npaths; i++) {
    const double lp = b->scores[i] - *logz, p = exp(lp);
    h -= p * lp;
    for (int j = 0; j < b->nseg[i]; j++) {
      const int16_t *g = b->seg[i][j];
      mu[((g[0] * K + g[1]) * C + g[2]) * C + g[3]] += p;
    }
  }
  *ent = h;
}

/* ---- compiling the variants ------------------------------------------------------------------- */

static kg_spec *g_spec;
static kg_compiler *g_cc;
static kg_module *g_mod[64];
static api g_api[64];
static char g_names[64][128];
static int g_nvar;

static int setup(void **state) {
  (void)state;
  if (kg_test_load("specs/semiring_scan.lua", &g_spec, &g_cc)) return -1;
  kg_ctx ctx = {0};
  g_nvar = (int)g_spec->npoints;
  if (g_nvar > 64) return -1;
  for (int v = 0; v < g_nvar; v++) {
    const int32_t *pt = g_spec->points + (size_t)v * (size_t)g_spec->nparams;
    kg_spec_format_point(g_spec, pt, g_names[v], sizeof g_names[v]);
    char *src = NULL;
    size_t len = 0;
    if (kg_template_emit(g_spec, pt, &src, &len, &ctx) != KG_OK) {
      fprintf(stderr, "emit %s: %s\n", g_names[v], ctx.msg);
      return -1;
    }
    char *diag = NULL;
    kg_status st = kg_compiler_compile(g_cc, g_names[v], src, &g_mod[v], &diag, &ctx);
    free(src);
    if (st != KG_OK) {
      fprintf(stderr, "compile %s: %s\n", g_names[v], diag ? diag : ctx.msg);
      free(diag);
      return -1;
    }
    free(diag);
    kg_module *m = g_mod[v];
    api *a = &g_api[v];
    a->name = g_names[v];
    a->logz = (logz_fn)kg_module_sym(m, "kgen_semimarkov_logpartition");
    a->marg = (two_fn)kg_module_sym(m, "kgen_semimarkov_marginals");
    a->vit = (two_fn)kg_module_sym(m, "kgen_semimarkov_viterbi");
    a->ent = (two_fn)kg_module_sym(m, "kgen_semimarkov_entropy");
    a->out0 = (out0_fn)kg_module_sym(m, "kgen_semimarkov_outside0");
    a->dlogz = (dlogz_fn)kg_module_sym(m, "kgen_semimarkov_logpartition_decomposed");
    a->dmarg = (dmarg_fn)kg_module_sym(m, "kgen_semimarkov_marginals_decomposed");
    a->dvit = (dtwo_fn)kg_module_sym(m, "kgen_semimarkov_viterbi_decomposed");
    a->dent = (dtwo_fn)kg_module_sym(m, "kgen_semimarkov_entropy_decomposed");
    a->seg = (seg_fn)kg_module_sym(m, "kgen_semimarkov_viterbi_segments");
    a->dseg = (dseg_fn)kg_module_sym(m, "kgen_semimarkov_viterbi_segments_decomposed");
    a->ckpt = (ckpt_fn)kg_module_sym(m, "kgen_semimarkov_checkpoint_bytes");
    if (!a->logz || !a->marg || !a->vit || !a->ent || !a->out0 || !a->dlogz || !a->dmarg || !a->dvit || !a->dent ||
        !a->seg || !a->dseg || !a->ckpt) {
      fprintf(stderr, "%s: a public entry point is missing\n", g_names[v]);
      return -1;
    }
  }
  printf("semiring_scan: %d variants compiled\n", g_nvar);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  for (int v = 0; v < g_nvar; v++) kg_module_free(g_mod[v]);
  kg_compiler_free(g_cc);
  kg_spec_free(g_spec);
  return 0;
}

/* ---- helpers ---------------------------------------------------------------------------------- */

static size_t nedge(int64_t B, int64_t T, int64_t K, int64_t C) { return (size_t)(B * (T - 1) * K * C * C); }

static void near(double got, double want, double tol, const char *what, const char *var) {
  if (!(fabs(got - want) <= tol)) fail_msg("%s: %s = %.9g, expected %.9g (tol %.3g)", var, what, got, want, tol);
}

/* Check an indicator: a chain of segments from 0 to L-1; returns its score in double. */
static double path_score(int64_t T, int64_t K, int64_t C, int64_t L, const float *ind, const float *e, int *nseg) {
  const int64_t D = K > 1 ? K - 1 : 1;
  int64_t n = 0, prev = -1, ones = 0;
  for (size_t i = 0; i < (size_t)((T - 1) * K * C * C); i++) {
    if (ind[i] == 1.0f) ones++;
    else assert_true(ind[i] == 0.0f);
  }
  double s = 0.0;
  int segs = 0;
  while (n < L - 1) {
    int found = 0;
    int64_t fd = 0, fc = 0;
    for (int64_t d = 1; d <= D && n + d <= L - 1; d++)
      for (int64_t c = 0; c < C; c++)
        for (int64_t cp = 0; cp < C; cp++) {
          const size_t i = (size_t)(((n * K + slot_of(K, d)) * C + c) * C + cp);
          if (ind[i] == 1.0f && (prev < 0 || cp == prev)) found++, fd = d, fc = c, s += e[i];
        }
    assert_int_equal(found, 1);
    segs++, prev = fc, n += fd;
  }
  assert_int_equal(segs, ones);
  *nseg = segs;
  return s;
}

/* ---- tests ------------------------------------------------------------------------------------ */

/* Every variant against the enumeration of all segmentations, for every semiring and output. */
static void test_brute_force(void **state) {
  (void)state;
  static const int64_t shapes[][3] = {/* T, K, C */
                                      {1, 1, 1}, {2, 1, 2}, {4, 1, 3}, {7, 1, 2}, {5, 2, 2}, {6, 3, 3},
                                      {7, 4, 3}, {7, 4, 1}, {3, 4, 2}, {7, 2, 3}, {7, 3, 2}, {2, 4, 3}};
  for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
    const int64_t T = shapes[si][0], K = shapes[si][1], C = shapes[si][2], B = 3;
    if (T < 2 && K > 1) continue;
    const int64_t Te = T > 1 ? T : 2; /* edge rows: T - 1 (>= 1 so the tensor is not empty) */
    const int64_t lengths[3] = {T, T > 1 ? T - 1 : 1, 1};
    const size_t ne = nedge(B, Te, K, C), per = (size_t)((T - 1) * K * C * C);
    float *e = malloc(ne * 4), *mu = malloc(ne * 4), *ind = malloc(ne * 4);
    double *rmu = malloc(ne * sizeof(double));
    assert_non_null(e), assert_non_null(mu), assert_non_null(ind), assert_non_null(rmu);
    for (size_t i = 0; i < ne; i++) e[i] = 2.0f * frand();
    double rlz[3], rbest[3], rent[3];
    for (int64_t b = 0; b < B; b++)
      bf_run(T, K, C, lengths[b], e + (size_t)b * per, &rlz[b], &rbest[b], &rent[b], rmu + (size_t)b * per);
    for (int v = 0; v < g_nvar; v++) {
      const api *a = &g_api[v];
      float lz[3], lz2[3], sc[3], sc2[3], h[3];
      assert_int_equal(a->logz(B, T, K, C, e, lengths, lz), 0);
      assert_int_equal(a->marg(B, T, K, C, e, lengths, lz2, mu), 0);
      assert_int_equal(a->vit(B, T, K, C, e, lengths, sc, ind), 0);
      assert_int_equal(a->vit(B, T, K, C, e, lengths, sc2, NULL), 0);
      assert_int_equal(a->ent(B, T, K, C, e, lengths, lz2, h), 0);
      for (int64_t b = 0; b < B; b++) {
        const float *eb = e + (size_t)b * per;
        near(lz[b], rlz[b], 1e-4 * fmax(1.0, fabs(rlz[b])), "log Z", a->name);
        near(lz2[b], rlz[b], 1e-4 * fmax(1.0, fabs(rlz[b])), "log Z (entropy)", a->name);
        near(sc[b], rbest[b], 1e-5 * fmax(1.0, fabs(rbest[b])), "Viterbi score", a->name);
        assert_true(sc[b] == sc2[b]);
        near(h[b], rent[b], 1e-4 * fmax(1e-3, fabs(rent[b])), "entropy", a->name);
        if (T > 1) {
          const float *ib = ind + (size_t)b * per, *mb = mu + (size_t)b * per;
          const double *rb = rmu + (size_t)b * per;
          int ns;
          near(path_score(T, K, C, lengths[b], ib, eb, &ns), rbest[b], 1e-5 * fmax(1.0, fabs(rbest[b])), "path score",
               a->name);
          for (size_t i = 0; i < per; i++) near(mb[i], rb[i], 1e-4, "marginal", a->name);
        }
      }
    }
    free(e), free(mu), free(ind), free(rmu);
  }
}

/* All-equal scores: every segmentation ties; the rule (smaller duration, then smaller c', and the
 * smaller last label) picks duration-1 segments labelled 0 after start label 0. */
static void test_viterbi_ties(void **state) {
  (void)state;
  static const int64_t shapes[][3] = {{7, 4, 3}, {6, 1, 2}, {5, 3, 1}};
  for (size_t si = 0; si < 3; si++) {
    const int64_t T = shapes[si][0], K = shapes[si][1], C = shapes[si][2], B = 1, L = T;
    const size_t ne = nedge(B, T, K, C);
    float *e = calloc(ne, 4), *ind = malloc(ne * 4);
    assert_non_null(e), assert_non_null(ind);
    for (int v = 0; v < g_nvar; v++) {
      float sc;
      assert_int_equal(g_api[v].vit(B, T, K, C, e, &L, &sc, ind), 0);
      assert_true(sc == 0.0f);
      for (int64_t n = 0; n + 1 < T; n++)
        for (int64_t s = 0; s < K; s++)
          for (int64_t c = 0; c < C; c++)
            for (int64_t cp = 0; cp < C; cp++) {
              const float want = (s == slot_of(K, 1) && c == 0 && cp == 0) ? 1.0f : 0.0f;
              if (ind[((n * K + s) * C + c) * C + cp] != want)
                fail_msg("%s: tie rule broken at n %lld slot %lld c %lld c' %lld", g_api[v].name, (long long)n,
                         (long long)s, (long long)c, (long long)cp);
            }
    }
    free(e), free(ind);
  }
}

/* Identities on larger inputs (C = 17 takes the portable path). */
static void test_identities(void **state) {
  (void)state;
  static const int64_t shapes[][3] = {{40, 6, 5}, {33, 1, 4}, {25, 9, 12}, {12, 4, 17}, {30, 5, 16}};
  for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
    const int64_t T = shapes[si][0], K = shapes[si][1], C = shapes[si][2], B = 3, D = K > 1 ? K - 1 : 1;
    const int64_t lengths[3] = {T, T / 2, 2};
    const size_t ne = nedge(B, T, K, C), per = ne / (size_t)B;
    float *e = malloc(ne * 4), *mu = malloc(ne * 4);
    assert_non_null(e), assert_non_null(mu);
    for (size_t i = 0; i < ne; i++) e[i] = 3.0f * frand();
    for (int v = 0; v < g_nvar; v++) {
      const api *a = &g_api[v];
      float lz[3], lz2[3], lz3[3], h[3], beta0[3 * 17];
      assert_int_equal(a->logz(B, T, K, C, e, lengths, lz), 0);
      assert_int_equal(a->ent(B, T, K, C, e, lengths, lz2, h), 0);
      assert_int_equal(a->out0(B, T, K, C, e, lengths, lz3, mu, beta0), 0);
      for (int64_t b = 0; b < B; b++) {
        const int64_t L = lengths[b];
        const float *mb = mu + (size_t)b * per, *eb = e + (size_t)b * per;
        near(lz2[b], lz[b], 1e-5 * fmax(1.0, fabs(lz[b])), "log Z (entropy vs logpartition)", a->name);
        near(lz3[b], lz[b], 1e-5 * fmax(1.0, fabs(lz[b])), "log Z (marginals vs logpartition)", a->name);
        /* the outside recursion at boundary 0 */
        double mx = -INFINITY, s = 0.0;
        for (int64_t c = 0; c < C; c++) mx = fmax(mx, beta0[b * C + c]);
        for (int64_t c = 0; c < C; c++) s += exp(beta0[b * C + c] - mx);
        near(mx + log(s), lz[b], 1e-4 * fmax(1.0, fabs(lz[b])), "logsumexp beta[0]", a->name);
        /* coverage: every position inside a sequence is covered by exactly one segment */
        for (int64_t p = 0; p + 1 < L; p++) {
          double cov = 0.0;
          for (int64_t n = 0; n <= p; n++)
            for (int64_t d = 1; d <= D; d++) {
              if (n + d <= p || n + d > L - 1) continue;
              for (int64_t i = 0; i < C * C; i++) cov += mb[(n * K + slot_of(K, d)) * C * C + i];
            }
          near(cov, 1.0, 1e-4, "coverage", a->name);
        }
        /* H = log Z - sum mu * edge; unused entries are zero */
        double dot = 0.0;
        for (size_t i = 0; i < per; i++) dot += (double)mb[i] * eb[i];
        near(h[b], lz[b] - dot, 1e-4 * fmax(1.0, fabs(h[b])) + 1e-4 * fabs(lz[b]) * 1e-1, "H = log Z - mu.e", a->name);
        for (int64_t n = 0; n + 1 < T; n++)
          for (int64_t s2 = 0; s2 < K; s2++) {
            const int used = n + 1 < L && (K == 1 || s2 >= 1) && n + (K == 1 ? 1 : s2) <= L - 1;
            if (used) continue;
            for (int64_t i = 0; i < C * C; i++) assert_true(mb[(n * K + s2) * C * C + i] == 0.0f);
          }
      }
    }
    free(e), free(mu);
  }
}

/* Edge form built from the decomposed inputs agrees with the decomposed functions. */
static void test_edge_vs_decomposed(void **state) {
  (void)state;
  static const int64_t shapes[][3] = {{30, 5, 4}, {7, 1, 3}, {20, 8, 12}, {10, 3, 20}};
  for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
    const int64_t T = shapes[si][0], K = shapes[si][1], C = shapes[si][2], B = 2, D = K > 1 ? K - 1 : 1;
    const int64_t lengths[2] = {T, T - 3};
    const size_t ne = nedge(B, T, K, C), per = ne / (size_t)B;
    float *cum = calloc((size_t)(B * T * C), 4), *tr = malloc((size_t)(C * C) * 4), *bi = malloc((size_t)(K * C) * 4);
    float *e = calloc(ne, 4), *mu = malloc(ne * 4), *ind = malloc(ne * 4), *ind2 = malloc(ne * 4);
    float *gc = malloc((size_t)(B * T * C) * 4), *gt = malloc((size_t)(C * C) * 4), *gb = malloc((size_t)(K * C) * 4);
    assert_true(cum && tr && bi && e && mu && ind && ind2 && gc && gt && gb);
    for (int64_t b = 0; b < B; b++)
      for (int64_t n = 1; n < T; n++)
        for (int64_t c = 0; c < C; c++) cum[(b * T + n) * C + c] = cum[(b * T + n - 1) * C + c] + frand();
    for (int64_t i = 0; i < C * C; i++) tr[i] = frand();
    for (int64_t i = 0; i < K * C; i++) bi[i] = frand();
    for (int64_t b = 0; b < B; b++)
      for (int64_t n = 0; n + 1 < T; n++)
        for (int64_t d = 1; d <= D && n + d <= T - 1; d++)
          for (int64_t c = 0; c < C; c++)
            for (int64_t cp = 0; cp < C; cp++) {
              const int64_t s = slot_of(K, d);
              const float base = cum[(b * T + n + d) * C + c] - cum[(b * T + n) * C + c] + bi[s * C + c];
              e[(size_t)b * per + (size_t)(((n * K + s) * C + c) * C + cp)] = base + tr[cp * C + c];
            }
    for (int v = 0; v < g_nvar; v++) {
      const api *a = &g_api[v];
      float lz[2], dlz[2], dlz2[2], dlz3[2], h[2], dh[2], sc[2], dsc[2];
      assert_int_equal(a->logz(B, T, K, C, e, lengths, lz), 0);
      assert_int_equal(a->dlogz(B, T, K, C, cum, tr, bi, lengths, dlz), 0);
      assert_int_equal(a->ent(B, T, K, C, e, lengths, dlz2, h), 0);
      assert_int_equal(a->dent(B, T, K, C, cum, tr, bi, lengths, dlz2, dh), 0);
      assert_int_equal(a->vit(B, T, K, C, e, lengths, sc, ind), 0);
      assert_int_equal(a->dvit(B, T, K, C, cum, tr, bi, lengths, dsc, ind2), 0);
      assert_int_equal(a->marg(B, T, K, C, e, lengths, dlz3, mu), 0);
      assert_int_equal(a->dmarg(B, T, K, C, cum, tr, bi, lengths, dlz3, gc, gt, gb), 0);
      for (int64_t b = 0; b < B; b++) {
        const double tol = 1e-4 * fmax(1.0, fabs(lz[b]));
        near(dlz[b], lz[b], tol, "decomposed log Z", a->name);
        near(dlz2[b], lz[b], tol, "decomposed log Z (entropy)", a->name);
        near(dlz3[b], lz[b], tol, "decomposed log Z (marginals)", a->name);
        near(dh[b], h[b], 1e-4 * fmax(1.0, fabs(h[b])), "decomposed entropy", a->name);
        near(dsc[b], sc[b], tol, "decomposed Viterbi score", a->name);
      }
      /* the chain rule: gradients from the edge marginals */
      double *wc = calloc((size_t)(B * T * C), sizeof(double)), *wt = calloc((size_t)(C * C), sizeof(double));
      double *wb = calloc((size_t)(K * C), sizeof(double));
      assert_true(wc && wt && wb);
      for (int64_t b = 0; b < B; b++)
        for (int64_t n = 0; n + 1 < T; n++)
          for (int64_t d = 1; d <= D && n + d <= T - 1; d++)
            for (int64_t c = 0; c < C; c++)
              for (int64_t cp = 0; cp < C; cp++) {
                const int64_t s = slot_of(K, d);
                const double m = mu[(size_t)b * per + (size_t)(((n * K + s) * C + c) * C + cp)];
                wc[(b * T + n + d) * C + c] += m, wc[(b * T + n) * C + c] -= m;
                wt[cp * C + c] += m, wb[s * C + c] += m;
              }
      for (int64_t i = 0; i < B * T * C; i++) near(gc[i], wc[i], 1e-3, "grad_cum", a->name);
      for (int64_t i = 0; i < C * C; i++) near(gt[i], wt[i], 1e-3 * fmax(1.0, fabs(wt[i])), "grad_transition", a->name);
      for (int64_t i = 0; i < K * C; i++)
        near(gb[i], wb[i], 1e-3 * fmax(1.0, fabs(wb[i])), "grad_duration_bias", a->name);
      free(wc), free(wt), free(wb);
    }
    free(cum), free(tr), free(bi), free(e), free(mu), free(ind), free(ind2), free(gc), free(gt), free(gb);
  }
}

/* Bad input: lengths 0 or > T, K = 0, C = 0, B = 0, NaN in the scores, NULL arrays. */
static void test_bad_input(void **state) {
  (void)state;
  const int64_t T = 8, K = 3, C = 2, B = 2;
  const size_t ne = nedge(B, T, K, C);
  float *e = calloc(ne, 4), *mu = malloc(ne * 4), *cum = calloc((size_t)(B * T * C), 4);
  float tr[4] = {0}, bi[6] = {0}, out[2], out2[2], gt[4], gb[6], gc[2 * 8 * 2];
  assert_true(e && mu && cum);
  for (int v = 0; v < g_nvar; v++) {
    const api *a = &g_api[v];
    const int64_t ok[2] = {8, 3}, zero[2] = {8, 0}, big[2] = {9, 3};
    assert_int_equal(a->logz(B, T, K, C, e, ok, out), 0);
    assert_int_not_equal(a->logz(B, T, K, C, e, zero, out), 0);
    assert_int_not_equal(a->logz(B, T, K, C, e, big, out), 0);
    assert_int_not_equal(a->logz(B, T, 0, C, e, ok, out), 0);
    assert_int_not_equal(a->logz(B, T, K, 0, e, ok, out), 0);
    assert_int_not_equal(a->logz(0, T, K, C, e, ok, out), 0);
    assert_int_not_equal(a->logz(B, T, K, C, NULL, ok, out), 0);
    assert_int_not_equal(a->marg(B, T, K, C, e, big, out, mu), 0);
    assert_int_not_equal(a->vit(B, T, 0, C, e, ok, out, NULL), 0);
    assert_int_not_equal(a->ent(B, T, K, 0, e, ok, out, out2), 0);
    assert_int_not_equal(a->dlogz(B, T, K, C, cum, tr, bi, zero, out), 0);
    assert_int_not_equal(a->dmarg(B, T, 0, C, cum, tr, bi, ok, out, gc, gt, gb), 0);
    assert_int_not_equal(a->dvit(B, T, K, 0, cum, tr, bi, ok, out, NULL), 0);
    assert_int_not_equal(a->dent(B, T, K, C, cum, tr, bi, big, out, out2), 0);
    /* NaN in a used edge: every semiring refuses it */
    const size_t at = (size_t)(((2 * K + 1) * C + 1) * C + 0); /* sequence 0, n = 2, duration 1 */
    e[at] = NAN;
    assert_int_not_equal(a->logz(B, T, K, C, e, ok, out), 0);
    assert_int_not_equal(a->marg(B, T, K, C, e, ok, out, mu), 0);
    assert_int_not_equal(a->vit(B, T, K, C, e, ok, out, NULL), 0);
    assert_int_not_equal(a->ent(B, T, K, C, e, ok, out, out2), 0);
    e[at] = 0.0f;
    cum[3] = NAN;
    assert_int_not_equal(a->dlogz(B, T, K, C, cum, tr, bi, ok, out), 0);
    assert_int_not_equal(a->dvit(B, T, K, C, cum, tr, bi, ok, out, NULL), 0);
    cum[3] = 0.0f;
    tr[1] = NAN;
    assert_int_not_equal(a->dent(B, T, K, C, cum, tr, bi, ok, out, out2), 0);
    assert_int_not_equal(a->dmarg(B, T, K, C, cum, tr, bi, ok, out, gc, gt, gb), 0);
    tr[1] = 0.0f;
    assert_int_equal(a->dmarg(B, T, K, C, cum, tr, bi, ok, out, gc, gt, gb), 0);
  }
  free(e), free(mu), free(cum);
}

/* Decomposed inputs of B sequences: cum_scores random walks, transition, duration bias. */
static void dec_inputs(int64_t B, int64_t T, int64_t K, int64_t C, float *cum, float *tr, float *bi) {
  memset(cum, 0, (size_t)(B * T * C) * 4);
  for (int64_t b = 0; b < B; b++)
    for (int64_t n = 1; n < T; n++)
      for (int64_t c = 0; c < C; c++) cum[(b * T + n) * C + c] = cum[(b * T + n - 1) * C + c] + frand();
  for (int64_t i = 0; i < C * C; i++) tr[i] = frand();
  for (int64_t i = 0; i < K * C; i++) bi[i] = frand();
}

/* The segment list is the path the indicator marks: in order, chained from 0 to L-1, each
 * segment's indicator entry set (with the previous segment's label as c'), as many as the ones. */
static void check_segments(int64_t T, int64_t K, int64_t C, int64_t L, const float *ind, const int64_t *seg, int64_t ns,
                           const char *var) {
  int64_t ones = 0, n = 0, prev = -1;
  for (size_t i = 0; i < (size_t)((T - 1) * K * C * C); i++) ones += ind[i] == 1.0f;
  if (ns != ones) fail_msg("%s: %lld segments, the indicator has %lld", var, (long long)ns, (long long)ones);
  for (int64_t i = 0; i < ns; i++) {
    const int64_t st = seg[3 * i], d = seg[3 * i + 1], c = seg[3 * i + 2];
    assert_int_equal(st, n);
    assert_true(d >= 1 && d <= (K > 1 ? K - 1 : 1) && st + d <= L - 1);
    assert_true(c >= 0 && c < C);
    int hit = 0;
    for (int64_t cp = 0; cp < C; cp++)
      if (ind[((st * K + slot_of(K, d)) * C + c) * C + cp] == 1.0f && (prev < 0 || cp == prev)) hit++;
    if (hit != 1)
      fail_msg("%s: segment %lld (%lld, %lld, %lld) not in the indicator", var, (long long)i, (long long)st,
               (long long)d, (long long)c);
    n = st + d, prev = c;
  }
  assert_int_equal(n, L - 1);
}

static void test_viterbi_segments(void **state) {
  (void)state;
  static const int64_t shapes[][3] = {{30, 5, 4}, {9, 1, 3}, {25, 8, 12}, {12, 3, 20}};
  for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
    const int64_t T = shapes[si][0], K = shapes[si][1], C = shapes[si][2], B = 3;
    const int64_t lengths[3] = {T, T - 4, 1};
    const size_t ne = nedge(B, T, K, C), per = ne / (size_t)B;
    float *e = malloc(ne * 4), *ind = malloc(ne * 4), *cum = malloc((size_t)(B * T * C) * 4);
    float *tr = malloc((size_t)(C * C) * 4), *bi = malloc((size_t)(K * C) * 4);
    int64_t *seg = malloc((size_t)(B * (T - 1) * 3) * sizeof(int64_t)), ns[3];
    assert_true(e && ind && cum && tr && bi && seg);
    for (size_t i = 0; i < ne; i++) e[i] = 2.0f * frand();
    dec_inputs(B, T, K, C, cum, tr, bi);
    for (int v = 0; v < g_nvar; v++) {
      const api *a = &g_api[v];
      float sc[3], sc2[3];
      assert_int_equal(a->vit(B, T, K, C, e, lengths, sc, ind), 0);
      assert_int_equal(a->seg(B, T, K, C, e, lengths, sc2, seg, ns), 0);
      for (int64_t b = 0; b < B; b++) {
        assert_true(sc2[b] == sc[b]);
        check_segments(T, K, C, lengths[b], ind + (size_t)b * per, seg + b * (T - 1) * 3, ns[b], a->name);
        if (lengths[b] == 1) assert_int_equal(ns[b], 0);
      }
      assert_int_equal(a->dvit(B, T, K, C, cum, tr, bi, lengths, sc, ind), 0);
      assert_int_equal(a->dseg(B, T, K, C, cum, tr, bi, lengths, sc2, seg, ns), 0);
      for (int64_t b = 0; b < B; b++) {
        assert_true(sc2[b] == sc[b]);
        check_segments(T, K, C, lengths[b], ind + (size_t)b * per, seg + b * (T - 1) * 3, ns[b], a->name);
      }
      assert_int_not_equal(a->seg(B, T, K, C, e, lengths, sc2, NULL, ns), 0);
      assert_int_not_equal(a->dseg(B, T, K, C, cum, tr, bi, lengths, sc2, seg, NULL), 0);
    }
    free(e), free(ind), free(cum), free(tr), free(bi), free(seg);
  }
}

/* Checkpointed marginals (threshold 0: always) equal the stored-alpha ones bit for bit. */
static void test_checkpoint(void **state) {
  (void)state;
  static const int64_t shapes[][3] = {{200, 6, 5}, {97, 17, 12}, {40, 1, 20}, {3, 4, 3}};
  for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
    const int64_t T = shapes[si][0], K = shapes[si][1], C = shapes[si][2], B = 3;
    const int64_t lengths[3] = {T, T / 2 + 1, 1};
    const size_t ne = nedge(B, T, K, C), nc = (size_t)(B * T * C);
    float *e = malloc(ne * 4), *m1 = malloc(ne * 4), *m2 = malloc(ne * 4), *cum = malloc(nc * 4);
    float *tr = malloc((size_t)(C * C) * 4), *bi = malloc((size_t)(K * C) * 4), *g1 = malloc(nc * 4),
          *g2 = malloc(nc * 4);
    float *t1 = malloc((size_t)(C * C) * 4), *t2 = malloc((size_t)(C * C) * 4), *b1 = malloc((size_t)(K * C) * 4);
    float *b2 = malloc((size_t)(K * C) * 4);
    assert_true(e && m1 && m2 && cum && tr && bi && g1 && g2 && t1 && t2 && b1 && b2);
    for (size_t i = 0; i < ne; i++) e[i] = 2.0f * frand();
    dec_inputs(B, T, K, C, cum, tr, bi);
    for (int v = 0; v < g_nvar; v++) {
      const api *a = &g_api[v];
      float l1[3], l2[3];
      const size_t def = a->ckpt(0); /* from here on: checkpoint always */
      assert_int_equal(a->marg(B, T, K, C, e, lengths, l2, m2), 0);
      assert_int_equal(a->dmarg(B, T, K, C, cum, tr, bi, lengths, l2, g2, t2, b2), 0);
      assert_int_equal(a->ckpt(def), 0);
      assert_true(def > (size_t)(T * 32 * 4)); /* these sizes store alpha by default */
      assert_int_equal(a->marg(B, T, K, C, e, lengths, l1, m1), 0);
      if (memcmp(m1, m2, ne * 4) != 0) fail_msg("%s: checkpointed marginals differ (T %lld)", a->name, (long long)T);
      assert_int_equal(a->dmarg(B, T, K, C, cum, tr, bi, lengths, l1, g1, t1, b1), 0);
      assert_true(memcmp(g1, g2, nc * 4) == 0 && memcmp(t1, t2, (size_t)(C * C) * 4) == 0 &&
                  memcmp(b1, b2, (size_t)(K * C) * 4) == 0);
    }
    free(e), free(m1), free(m2), free(cum), free(tr), free(bi), free(g1), free(g2), free(t1), free(t2), free(b1),
        free(b2);
  }
}

/* Decomposed log Z of a long sequence against the factorised recursion in double. */
static double dec_logz_double(int64_t T, int64_t K, int64_t C, const float *cum, const float *tr, const float *bi) {
  const int64_t D = K > 1 ? K - 1 : 1;
  double *a = malloc((size_t)(T * C) * sizeof(double)), *gm = malloc((size_t)(T * C) * sizeof(double));
  assert_true(a && gm);
  for (int64_t c = 0; c < C; c++) a[c] = 0.0;
  for (int64_t n = 1; n < T; n++) {
    for (int64_t c = 0; c < C; c++) {
      double mx = -INFINITY, s = 0.0;
      for (int64_t cp = 0; cp < C; cp++) mx = fmax(mx, a[(n - 1) * C + cp] + tr[cp * C + c]);
      for (int64_t cp = 0; cp < C; cp++) s += exp(a[(n - 1) * C + cp] + tr[cp * C + c] - mx);
      gm[(n - 1) * C + c] = mx + log(s) - cum[(n - 1) * C + c];
    }
    for (int64_t c = 0; c < C; c++) {
      double mx = -INFINITY, s = 0.0;
      for (int64_t d = 1; d <= D && d <= n; d++) mx = fmax(mx, gm[(n - d) * C + c] + bi[slot_of(K, d) * C + c]);
      for (int64_t d = 1; d <= D && d <= n; d++) s += exp(gm[(n - d) * C + c] + bi[slot_of(K, d) * C + c] - mx);
      a[n * C + c] = (double)cum[n * C + c] + mx + log(s);
    }
  }
  double mx = -INFINITY, s = 0.0;
  for (int64_t c = 0; c < C; c++) mx = fmax(mx, a[(T - 1) * C + c]);
  for (int64_t c = 0; c < C; c++) s += exp(a[(T - 1) * C + c] - mx);
  free(a), free(gm);
  return mx + log(s);
}

static void test_long_decomposed(void **state) {
  (void)state;
  const int64_t T = 8000, K = 32, C = 24, B = 2, lengths[2] = {T, T};
  float *cum = malloc((size_t)(B * T * C) * 4), *tr = malloc((size_t)(C * C) * 4), *bi = malloc((size_t)(K * C) * 4);
  assert_true(cum && tr && bi);
  dec_inputs(1, T, K, C, cum, tr, bi);
  memcpy(cum + T * C, cum, (size_t)(T * C) * 4); /* the second sequence: the same */
  const double ref = dec_logz_double(T, K, C, cum, tr, bi);
  for (int v = 0; v < g_nvar; v++) {
    const api *a = &g_api[v];
    float lz1, lz2[2];
    assert_int_equal(a->dlogz(1, T, K, C, cum, tr, bi, lengths, &lz1), 0);
    assert_int_equal(a->dlogz(B, T, K, C, cum, tr, bi, lengths, lz2), 0);
    near(lz1, ref, 1e-6 * fabs(ref), "long log Z (B = 1)", a->name);
    near(lz2[0], ref, 1e-6 * fabs(ref), "long log Z (B = 2)", a->name);
    near(lz2[1], ref, 1e-6 * fabs(ref), "long log Z (B = 2, second)", a->name);
  }
  free(cum), free(tr), free(bi);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_brute_force), cmocka_unit_test(test_viterbi_ties),
      cmocka_unit_test(test_identities),  cmocka_unit_test(test_edge_vs_decomposed),
      cmocka_unit_test(test_bad_input),   cmocka_unit_test(test_viterbi_segments),
      cmocka_unit_test(test_checkpoint),  cmocka_unit_test(test_long_decomposed),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
