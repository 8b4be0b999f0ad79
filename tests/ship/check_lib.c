/*
 * check_lib.c - built by tests/test_ship.c against an installed `kgen ship` library (only
 * <kgen/kgen.h>, pkg-config), run under several KGEN_* environments.  Checks, and prints one
 * line per failure (exit status = number of failures, capped at 100):
 *  - every shipped gemm variant this CPU can run (found with dlsym: kgv_gemm_<i>_kgen_sgemm)
 *    and the public kgen_sgemm against a double reference on untuned shapes (m, n, k in
 *    {1, 3, 17, 65, 1000}, m n k <= 2e7; n not a multiple of the register tile, k = 1, lda > k,
 *    alpha, beta);
 *  - every qmatmul variant and kgen_qmatmul against the fp32 product (error bounds of the
 *    recipes) on odd shapes;
 *  - every paired cache variant and the public API bit-exact against a scalar implementation of
 *    the contract over random mask sequences that grow, shrink and keep m, with and without a
 *    gate pool;
 *  - every semiring_scan variant and the public kgen_semimarkov_* (edge and decomposed forms: log
 *    Z, marginals and gradients, Viterbi score, indicator and segment list, entropy) against double
 *    recursions on small shapes (C = 17: the portable path; K = 1; a sequence of one boundary);
 *    the library's logpartition and marginals bit-identical to the variant kgen_explain says it
 *    chose, called directly; its own status codes; the checkpoint threshold set in every variant;
 *  - bad input returns an error (NULL, negative sizes, unknown recipe, mask value 2);
 *  - kgen_explain names a machine entry or the fallback;
 *  - gemm from several threads at once (the shared helper team taken by one caller, the others
 *    running alone; each thread's choice cache) gives right results;
 *  - the library's helper threads ("kgen-team") are one team however many variants ran: at
 *    most usable cores - 1 of them, and once idle they sleep (state S), never spin on.
 * Variants needing an ISA this CPU lacks are skipped (their kgen_explain-reported requirement
 * is not available here: the test checks the CPU with __builtin_cpu_supports).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <kgen/kgen.h>

static int failures;
#define FAIL(...) (failures++, printf("FAIL: " __VA_ARGS__), printf("\n"))

static uint64_t rng = 12345;
static float frand(void) {
  rng = rng * 6364136223846793005ull + 1442695040888963407ull;
  return (float)((double)(rng >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}
static uint32_t urand(uint32_t n) {
  rng = rng * 6364136223846793005ull + 1442695040888963407ull;
  return (uint32_t)((rng >> 33) % n);
}

typedef int (*sgemm_fn)(int64_t, int64_t, int64_t, float, const float *, int64_t, const float *, int64_t, float,
                        float *, int64_t);

static int can_run(const char *prefix, void *lib) {
  /* The variant's source banner is not available here: ask the CPU for the most any needs. */
  (void)prefix, (void)lib;
  return 1;
}

static void check_gemm(const char *who, sgemm_fn f) {
  static const int64_t sz[] = {1, 3, 17, 65, 1000};
  for (int a = 0; a < 5; a++)
    for (int b = 0; b < 5; b++)
      for (int c = 0; c < 5; c++) {
        const int64_t m = sz[a], n = sz[b], k = sz[c]; /* k = 1 included */
        if (m * n * k > 20000000) continue; /* the double reference's time: 1000 in two dimensions at most */
        const int64_t lda = k + (c & 1) * 5, ldb = n + (b & 1) * 3, ldc = n + (a & 1) * 2;
        const float alpha = (c % 2) ? 0.5f : 1.0f, beta = (a + b) % 3 == 0 ? 0.0f : 0.75f;
        float *A = malloc(sizeof(float) * (size_t)(m * lda)), *B = malloc(sizeof(float) * (size_t)(k * ldb));
        float *C = malloc(sizeof(float) * (size_t)(m * ldc)), *C0 = malloc(sizeof(float) * (size_t)(m * ldc));
        for (int64_t i = 0; i < m * lda; i++) A[i] = frand();
        for (int64_t i = 0; i < k * ldb; i++) B[i] = frand();
        for (int64_t i = 0; i < m * ldc; i++) C0[i] = C[i] = frand();
        int rc = f(m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
        if (rc) FAIL("%s: m %lld n %lld k %lld: status %d", who, (long long)m, (long long)n, (long long)k, rc);
        for (int64_t i = 0; i < m && !rc; i++)
          for (int64_t j = 0; j < n; j++) {
            double r = 0;
            for (int64_t p = 0; p < k; p++) r += (double)A[i * lda + p] * B[p * ldb + j];
            r = alpha * r + (beta == 0.0f ? 0.0 : beta * (double)C0[i * ldc + j]);
            if (fabs(C[i * ldc + j] - r) > 1e-5 * (double)k + 1e-5) {
              FAIL("%s: m %lld n %lld k %lld lda %lld: C[%lld,%lld] = %g, want %g", who, (long long)m, (long long)n,
                   (long long)k, (long long)lda, (long long)i, (long long)j, C[i * ldc + j], r);
              i = m;
              break;
            }
          }
        for (int64_t i = 0; i < m && !rc; i++) /* the padding between rows is never written */
          for (int64_t j = n; j < ldc; j++)
            if (C[i * ldc + j] != C0[i * ldc + j])
              FAIL("%s: wrote C outside n (ldc %lld)", who, (long long)ldc), i = m, j = ldc;
        free(A), free(B), free(C), free(C0);
      }
}

typedef struct kgen_qweight qw;
typedef qw *(*qnew_fn)(const float *, int64_t, int64_t, const char *);
typedef int (*qmm_fn)(const qw *, int64_t, const float *, float *);
typedef void (*qfree_fn)(qw *);

static void check_qmatmul(const char *who, qnew_fn qn, qmm_fn qm, qfree_fn qf) {
  static const char *const recipes[] = {"int8wo", "int4wo-32", "int4wo-64-hqq", "int4wo-128", "int4wo-256-hqq"};
  static const double bound[] = {0.02, 0.2, 0.2, 0.2, 0.2}; /* relative L2 error against fp32 */
  static const int64_t shapes[][3] = {{1, 17, 65}, {3, 65, 300}, {17, 3, 1000}, {1, 128, 256}};
  for (int r = 0; r < 5; r++)
    for (int s = 0; s < 4; s++) {
      const int64_t m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
      float *W = malloc(sizeof(float) * (size_t)(n * k)), *x = malloc(sizeof(float) * (size_t)(m * k));
      float *y = malloc(sizeof(float) * (size_t)(m * n));
      for (int64_t i = 0; i < n * k; i++) W[i] = frand();
      for (int64_t i = 0; i < m * k; i++) x[i] = frand();
      qw *w = qn(W, n, k, recipes[r]);
      if (!w) FAIL("%s: qweight_new(%s) failed", who, recipes[r]);
      else if (qm(w, m, x, y)) FAIL("%s: qmatmul failed", who);
      else {
        double se = 0, sr = 0;
        for (int64_t i = 0; i < m; i++)
          for (int64_t j = 0; j < n; j++) {
            double ref = 0;
            for (int64_t p = 0; p < k; p++) ref += (double)x[i * k + p] * W[j * k + p];
            se += (y[i * n + j] - ref) * (y[i * n + j] - ref), sr += ref * ref;
          }
        if (!(sqrt(se / sr) < bound[r]))
          FAIL("%s: %s m %lld n %lld k %lld: relative error %g > %g", who, recipes[r], (long long)m, (long long)n,
               (long long)k, sqrt(se / sr), bound[r]);
      }
      qf(w);
      free(W), free(x), free(y);
    }
}

typedef struct kgen_paired_cache pcc;
typedef struct pc_api {
  pcc *(*new_)(int64_t, int64_t, int64_t, int64_t, const float *, const float *, const float *);
  int (*update)(pcc *, const uint8_t *);
  int64_t (*size)(const pcc *);
  const float *(*concat)(const pcc *);
  const float *(*down_t)(const pcc *);
  const int32_t *(*indices)(const pcc *);
  void (*free_)(pcc *);
} pc_api;

/* The contract, scalar: slots as indices only. */
static void contract_update(int64_t N, uint8_t *old, const uint8_t *nw, int32_t *idx, int64_t *m) {
  int32_t *add = malloc(sizeof(int32_t) * (size_t)N), *rem = malloc(sizeof(int32_t) * (size_t)N);
  int64_t na = 0, nr = 0;
  for (int64_t j = 0; j < N; j++) {
    if (nw[j] && !old[j]) add[na++] = (int32_t)j;
    if (!nw[j] && old[j]) rem[nr++] = (int32_t)j;
  }
  int64_t i = 0;
  for (; i < na && i < nr; i++)
    for (int64_t s = 0; s < *m; s++)
      if (idx[s] == rem[i]) {
        idx[s] = add[i];
        break;
      }
  for (int64_t a = i; a < na; a++) idx[(*m)++] = add[a];
  for (int64_t r = i; r < nr; r++) {
    for (int64_t s = 0; s < *m; s++)
      if (idx[s] == rem[r]) {
        idx[s] = idx[*m - 1];
        break;
      }
    (*m)--;
  }
  memcpy(old, nw, (size_t)N);
  free(add), free(rem);
}

static void check_paired(const char *who, const pc_api *api) {
  const int64_t N = 300, hidden = 5, up_cols = 7;
  for (int gated = 0; gated < 2; gated++) {
    const int64_t gate_cols = gated ? 3 : 0;
    float *up = malloc(sizeof(float) * (size_t)(N * up_cols)), *down = malloc(sizeof(float) * (size_t)(N * hidden));
    float *gate = gated ? malloc(sizeof(float) * (size_t)(N * gate_cols)) : NULL;
    for (int64_t i = 0; i < N * up_cols; i++) up[i] = frand();
    for (int64_t i = 0; i < N * hidden; i++) down[i] = frand();
    for (int64_t i = 0; gate && i < N * gate_cols; i++) gate[i] = frand();
    pcc *c = api->new_(N, hidden, up_cols, gate_cols, up, down, gate);
    uint8_t *old = calloc((size_t)N, 1), *mask = calloc((size_t)N, 1);
    int32_t *idx = calloc((size_t)N, sizeof(int32_t));
    int64_t m = 0;
    if (!c) FAIL("%s: paired_cache_new failed", who);
    for (int step = 0; c && step < 120; step++) {
      memcpy(mask, old, (size_t)N);
      /* grow (flip more on), shrink (more off), or keep m (as many on as off), any k */
      const int kind = step % 3, k = 1 + (int)urand(step % 10 == 9 ? 250 : 24);
      for (int t = 0; t < k; t++) {
        uint32_t j = urand((uint32_t)N);
        if (kind == 0) mask[j] = 1;
        else if (kind == 1) mask[j] = 0;
        else mask[j] = !mask[j];
      }
      int rc = api->update(c, mask);
      contract_update(N, old, mask, idx, &m);
      if (rc) {
        FAIL("%s: update %d: status %d", who, step, rc);
        break;
      }
      const int64_t cm = api->size(c);
      const int32_t *ci = api->indices(c);
      const float *cc = api->concat(c), *cd = api->down_t(c);
      if (cm != m || (m && memcmp(ci, idx, sizeof(int32_t) * (size_t)m))) {
        FAIL("%s: gate %d step %d: slot order differs from the contract (m %lld vs %lld)", who, gated, step,
             (long long)cm, (long long)m);
        break;
      }
      int bad = 0;
      for (int64_t s = 0; s < m && !bad; s++) {
        const int64_t r = idx[s], w = gate_cols + up_cols;
        bad = (gate && memcmp(cc + s * w, gate + r * gate_cols, sizeof(float) * (size_t)gate_cols)) ||
              memcmp(cc + s * w + gate_cols, up + r * up_cols, sizeof(float) * (size_t)up_cols) ||
              memcmp(cd + s * hidden, down + r * hidden, sizeof(float) * (size_t)hidden);
      }
      if (bad) {
        FAIL("%s: gate %d step %d: packed rows differ from the pools", who, gated, step);
        break;
      }
    }
    api->free_(c);
    free(up), free(down), free(gate), free(old), free(mask), free(idx);
  }
}

static void check_bad_input(void) {
  float a[4] = {0}, b[4] = {0}, c[4] = {0};
  if (kgen_sgemm(-1, 1, 1, 1, a, 1, b, 1, 0, c, 1) != KGEN_EINVAL) FAIL("sgemm: m < 0 accepted");
  if (kgen_sgemm(1, 1, 1, 1, NULL, 1, b, 1, 0, c, 1) != KGEN_EINVAL) FAIL("sgemm: NULL A accepted");
  if (kgen_sgemm(2, 2, 2, 1, a, 1, b, 2, 0, c, 2) != KGEN_EINVAL) FAIL("sgemm: lda < k accepted");
  if (!*kgen_last_error()) FAIL("no last error after a failed call");
  if (kgen_qweight_new(a, 2, 2, "int3wo") || kgen_qweight_new(a, 2, 2, NULL)) FAIL("qweight: unknown recipe accepted");
  if (kgen_qweight_new(a, -2, 2, "int8wo") || kgen_qweight_new(NULL, 2, 2, "int8wo"))
    FAIL("qweight: bad shape accepted");
  if (kgen_qmatmul(NULL, 1, a, c) != KGEN_EINVAL) FAIL("qmatmul: NULL weight accepted");
  if (kgen_paired_cache_new(-1, 1, 1, 0, a, b, NULL) || kgen_paired_cache_new(4, 1, 1, 1, a, b, NULL))
    FAIL("paired_cache_new: bad size or missing gate accepted");
  pcc *pc = kgen_paired_cache_new(4, 1, 1, 0, a, b, NULL);
  uint8_t mk[4] = {1, 0, 2, 0};
  if (!pc || kgen_paired_cache_update(pc, mk) != KGEN_EINVAL || kgen_paired_cache_size(pc) != 0)
    FAIL("paired_cache_update: mask value 2 accepted or changed the cache");
  if (kgen_paired_cache_update(pc, NULL) != KGEN_EINVAL) FAIL("paired_cache_update: NULL mask accepted");
  kgen_paired_cache_free(pc);
  char buf[16];
  if (kgen_explain("no_such_kernel", buf, sizeof buf) != KGEN_EINVAL) FAIL("explain: unknown kernel accepted");
  if (strcmp(kgen_strerror(KGEN_ERECIPE), "unknown quantization recipe")) FAIL("strerror");
}

/* ---- semiring_scan: kgen_semimarkov_* against double recursions --------------------------------- */

typedef struct sm_api { /* the library's signatures (kgen/kgen.h) */
  __typeof__(kgen_semimarkov_logpartition) *logz;
  __typeof__(kgen_semimarkov_marginals) *marg;
  __typeof__(kgen_semimarkov_viterbi) *vit;
  __typeof__(kgen_semimarkov_entropy) *ent;
  __typeof__(kgen_semimarkov_viterbi_segments) *seg;
  __typeof__(kgen_semimarkov_logpartition_decomposed) *dlogz;
  __typeof__(kgen_semimarkov_marginals_decomposed) *dmarg;
  __typeof__(kgen_semimarkov_viterbi_decomposed) *dvit;
  __typeof__(kgen_semimarkov_entropy_decomposed) *dent;
  __typeof__(kgen_semimarkov_viterbi_segments_decomposed) *dseg;
} sm_api;
/* The functions' names, in sm_api's order. */
static const char *const sm_names[] = {"logpartition",
                                       "marginals",
                                       "viterbi",
                                       "entropy",
                                       "viterbi_segments",
                                       "logpartition_decomposed",
                                       "marginals_decomposed",
                                       "viterbi_decomposed",
                                       "entropy_decomposed",
                                       "viterbi_segments_decomposed"};

/* A problem, its inputs in both forms (the edge form built from the decomposed one: every edge
 * cum[n+d, c] - cum[n, c] + bias[s(d), c] + trans[c', c]), and the double reference. */
typedef struct sm_prob {
  int64_t B, T, K, C, D, len[3];
  float *edge, *cum, *trans, *bias; /* [B, T-1, K, C, C], [B, T, C], [C, C], [K, C] */
  double *E, *mu;                   /* the edge in double and its marginals, [B, T-1, K, C, C] */
  double logz[3], vmax[3], H[3];
  double *gcum, gtrans[17 * 17], gbias[4 * 17]; /* sum_b log Z's gradients */
} sm_prob;

static int64_t sm_slot(const sm_prob *p, int64_t d) { return d < p->K - 1 ? d : p->K - 1; }
static int64_t sm_at(const sm_prob *p, int64_t b, int64_t n, int64_t s, int64_t c, int64_t cp) {
  return (((b * (p->T - 1) + n) * p->K + s) * p->C + c) * p->C + cp;
}
static double sm_lse(double a, double x) {
  if (a == -INFINITY) return x;
  const double m = a > x ? a : x;
  return m + log(exp(a - m) + exp(x - m));
}

/* The reference of sequence b: forward (Log and Max), outside, marginals, entropy, gradients. */
static void sm_reference(sm_prob *p, int64_t b) {
  const int64_t C = p->C, L = p->len[b];
  double *al = malloc(sizeof(double) * (size_t)(L * C)), *mx = malloc(sizeof(double) * (size_t)(L * C));
  double *be = malloc(sizeof(double) * (size_t)(L * C));
  for (int64_t n = 0; n < L; n++)
    for (int64_t c = 0; c < C; c++) {
      double a = n ? -INFINITY : 0.0, v = n ? -INFINITY : 0.0;
      for (int64_t d = 1; d <= p->D && d <= n; d++)
        for (int64_t cp = 0; cp < C; cp++) {
          const double e = p->E[sm_at(p, b, n - d, sm_slot(p, d), c, cp)];
          a = sm_lse(a, al[(n - d) * C + cp] + e), v = fmax(v, mx[(n - d) * C + cp] + e);
        }
      al[n * C + c] = a, mx[n * C + c] = v;
    }
  for (int64_t m = L - 1; m >= 0; m--)
    for (int64_t cp = 0; cp < C; cp++) {
      double a = m == L - 1 ? 0.0 : -INFINITY;
      for (int64_t d = 1; d <= p->D && m + d <= L - 1; d++)
        for (int64_t c = 0; c < C; c++) a = sm_lse(a, p->E[sm_at(p, b, m, sm_slot(p, d), c, cp)] + be[(m + d) * C + c]);
      be[m * C + cp] = a;
    }
  double lz = -INFINITY, vm = -INFINITY, h = 0;
  for (int64_t c = 0; c < C; c++) lz = sm_lse(lz, al[(L - 1) * C + c]), vm = fmax(vm, mx[(L - 1) * C + c]);
  for (int64_t m = 0; m + 1 < L; m++)
    for (int64_t d = 1; d <= p->D && m + d <= L - 1; d++)
      for (int64_t c = 0; c < C; c++)
        for (int64_t cp = 0; cp < C; cp++) {
          const int64_t i = sm_at(p, b, m, sm_slot(p, d), c, cp);
          const double u = exp(al[m * C + cp] + p->E[i] + be[(m + d) * C + c] - lz);
          p->mu[i] = u, h -= u * p->E[i];
          p->gcum[(b * p->T + m + d) * C + c] += u, p->gcum[(b * p->T + m) * C + c] -= u;
          p->gbias[sm_slot(p, d) * C + c] += u, p->gtrans[cp * C + c] += u;
        }
  p->logz[b] = lz, p->vmax[b] = vm, p->H[b] = lz + h;
  free(al), free(mx), free(be);
}

static void sm_make(sm_prob *p, int64_t B, int64_t T, int64_t K, int64_t C) {
  memset(p, 0, sizeof *p);
  p->B = B, p->T = T, p->K = K, p->C = C, p->D = K > 1 ? K - 1 : 1;
  const size_t ne = (size_t)(B * (T - 1) * K * C * C);
  p->edge = calloc(ne, sizeof(float)), p->E = calloc(ne, sizeof(double)), p->mu = calloc(ne, sizeof(double));
  p->cum = calloc((size_t)(B * T * C), sizeof(float)), p->gcum = calloc((size_t)(B * T * C), sizeof(double));
  p->trans = malloc(sizeof(float) * (size_t)(C * C)), p->bias = malloc(sizeof(float) * (size_t)(K * C));
  for (int64_t i = 0; i < C * C; i++) p->trans[i] = frand();
  for (int64_t i = 0; i < K * C; i++) p->bias[i] = frand();
  for (int64_t b = 0; b < B; b++) {
    p->len[b] = b == 2 ? 1 : T - 3 * b; /* T, shorter, and one boundary (no segment) */
    for (int64_t n = 1; n < T; n++)
      for (int64_t c = 0; c < C; c++) p->cum[(b * T + n) * C + c] = p->cum[(b * T + n - 1) * C + c] + frand();
    for (int64_t n = 0; n + 1 < T; n++)
      for (int64_t d = 1; d <= p->D && n + d <= T - 1; d++)
        for (int64_t c = 0; c < C; c++)
          for (int64_t cp = 0; cp < C; cp++) {
            const int64_t i = sm_at(p, b, n, sm_slot(p, d), c, cp);
            p->edge[i] = p->cum[(b * T + n + d) * C + c] - p->cum[(b * T + n) * C + c] +
                         p->bias[sm_slot(p, d) * C + c] + p->trans[cp * C + c];
            p->E[i] = p->edge[i];
          }
  }
  for (int64_t b = 0; b < B; b++) sm_reference(p, b);
}

static void sm_free(sm_prob *p) {
  free(p->edge), free(p->E), free(p->mu), free(p->cum), free(p->gcum), free(p->trans), free(p->bias);
}

/* Whether |x - ref| <= tol * max(1, |ref|); a failure is reported under what. */
static int sm_near(const char *who, const char *what, double x, double ref, double tol) {
  if (fabs(x - ref) <= tol * fmax(1.0, fabs(ref))) return 1;
  FAIL("%s: %s = %.9g, want %.9g", who, what, x, ref);
  return 0;
}

/* The score of segments (start, duration, label) of sequence b: the first one after its best c'. */
static double sm_segs_score(const sm_prob *p, int64_t b, const int64_t *seg, int64_t nseg) {
  double s = 0;
  int64_t at = 0;
  for (int64_t i = 0; i < nseg; i++) {
    const int64_t n = seg[3 * i], d = seg[3 * i + 1], c = seg[3 * i + 2];
    if (n != at || d < 1 || d > p->D || c < 0 || c >= p->C) return NAN;
    double e = -INFINITY;
    for (int64_t cp = 0; cp < p->C; cp++)
      if (i ? cp == seg[3 * i - 1] : 1) e = fmax(e, p->E[sm_at(p, b, n, sm_slot(p, d), c, cp)]);
    s += e, at = n + d;
  }
  return at == p->len[b] - 1 ? s : NAN;
}

/* Every function of a on p; outputs checked against the reference. */
static void sm_run(const char *who, const sm_api *a, const sm_prob *p) {
  const int64_t B = p->B, T = p->T, K = p->K, C = p->C, ne = B * (T - 1) * K * C * C;
  float z[3], h[3], *mg = malloc(sizeof(float) * (size_t)ne), *gc = malloc(sizeof(float) * (size_t)(B * T * C));
  float gt[17 * 17], gb[4 * 17];
  int64_t seg[3 * 64 * 3], nseg[3];
  char what[128];
  int rc[10];
  for (int f = 0; f < 10; f++) {
    const int dec = f >= 5, op = f % 5; /* logpartition, marginals, viterbi, entropy, viterbi_segments */
    const float *x = p->edge;
    switch (f) {
    case 0: rc[f] = a->logz(B, T, K, C, x, p->len, z); break;
    case 1: rc[f] = a->marg(B, T, K, C, x, p->len, z, mg); break;
    case 2: rc[f] = a->vit(B, T, K, C, x, p->len, z, mg); break;
    case 3: rc[f] = a->ent(B, T, K, C, x, p->len, z, h); break;
    case 4: rc[f] = a->seg(B, T, K, C, x, p->len, z, seg, nseg); break;
    case 5: rc[f] = a->dlogz(B, T, K, C, p->cum, p->trans, p->bias, p->len, z); break;
    case 6: rc[f] = a->dmarg(B, T, K, C, p->cum, p->trans, p->bias, p->len, z, gc, gt, gb); break;
    case 7: rc[f] = a->dvit(B, T, K, C, p->cum, p->trans, p->bias, p->len, z, mg); break;
    case 8: rc[f] = a->dent(B, T, K, C, p->cum, p->trans, p->bias, p->len, z, h); break;
    default: rc[f] = a->dseg(B, T, K, C, p->cum, p->trans, p->bias, p->len, z, seg, nseg); break;
    }
    snprintf(what, sizeof what, "%s (B %lld T %lld K %lld C %lld)", sm_names[f], (long long)B, (long long)T,
             (long long)K, (long long)C);
    if (rc[f]) {
      FAIL("%s: %s: status %d", who, what, rc[f]);
      continue;
    }
    int ok = 1;
    for (int64_t b = 0; b < B && ok; b++) {
      ok = sm_near(who, what, z[b], op == 2 || op == 4 ? p->vmax[b] : p->logz[b], 1e-4);
      if (ok && op == 3) ok = sm_near(who, what, h[b], p->H[b], 1e-4);
      if (ok && op == 4) ok = sm_near(who, what, sm_segs_score(p, b, seg + b * (T - 1) * 3, nseg[b]), p->vmax[b], 1e-4);
    }
    for (int64_t i = 0; ok && op == 1 && !dec && i < ne; i++) ok = sm_near(who, what, mg[i], p->mu[i], 1e-4);
    for (int64_t i = 0; ok && op == 1 && dec && i < B * T * C; i++) ok = sm_near(who, what, gc[i], p->gcum[i], 1e-4);
    for (int64_t i = 0; ok && op == 1 && dec && i < C * C; i++) ok = sm_near(who, what, gt[i], p->gtrans[i], 1e-4);
    for (int64_t i = 0; ok && op == 1 && dec && i < K * C; i++) ok = sm_near(who, what, gb[i], p->gbias[i], 1e-4);
    if (op == 2) { /* the indicator: 0/1, and its segments score the maximum */
      double s[3] = {0, 0, 0};
      for (int64_t i = 0; ok && i < ne; i++) {
        if (mg[i] != 0.0f && mg[i] != 1.0f) ok = 0, FAIL("%s: %s: indicator value %g", who, what, mg[i]);
        s[i / (ne / B)] += mg[i] * p->E[i];
      }
      for (int64_t b = 0; ok && b < B; b++) ok = sm_near(who, what, s[b], p->vmax[b], 1e-4);
    }
  }
  free(mg), free(gc);
}

/* The shapes: AVX-512 paths (C <= 16), K = 1 (slot 0 stands for duration 1), the portable C = 17. */
static void check_semimarkov(const char *who, const sm_api *a) {
  static const int64_t shapes[][4] = {{3, 9, 4, 5}, {2, 7, 1, 3}, {2, 6, 3, 17}};
  for (int s = 0; s < 3; s++) {
    sm_prob p;
    sm_make(&p, shapes[s][0], shapes[s][1], shapes[s][2], shapes[s][3]);
    sm_run(who, a, &p);
    sm_free(&p);
  }
}

/* The function fn of the variant the library's last semiring_scan decision chose (kgen_explain),
 * which must have been for key; NULL (a failure reported) otherwise. */
static void *sm_chosen(void *lib, const char *fn, const char *key) {
  char buf[4096], sym[256];
  const char *v = kgen_explain("semiring_scan", buf, sizeof buf) ? NULL : strstr(buf, "variant: ");
  if (!v || !strstr(buf, key)) {
    FAIL("explain semiring_scan: not the decision of %s: %s", key, buf);
    return NULL;
  }
  snprintf(sym, sizeof sym, "%.*skgen_semimarkov_%s", (int)strcspn(v + 9, " "), v + 9, fn);
  void *f = dlsym(lib, sym);
  if (!f) FAIL("semiring_scan: no %s (%s)", sym, buf);
  return f;
}

/* The library's calls against the variant it chose, called directly (the template's own
 * result: bit-identical; a shape no other check calls, so each call decides) and the double
 * reference; bad input; the checkpoint threshold of every variant. */
static void check_semimarkov_library(void *lib) {
  enum { B = 3, T = 10, K = 4, C = 5, NE = B * (T - 1) * K * C * C };
  sm_prob p;
  sm_make(&p, B, T, K, C);
  float z[B], z1[B], *mg = malloc(sizeof(float) * NE), *mg0 = malloc(sizeof(float) * NE);
  if (kgen_semimarkov_logpartition(B, T, K, C, p.edge, p.len, z)) FAIL("kgen_semimarkov_logpartition failed");
  else {
    __typeof__(kgen_semimarkov_logpartition) *f =
        sm_chosen(lib, "logpartition", "B=3 T=10 K=4 C=5 semiring=0 phase=0 form=0");
    if (f && (f(B, T, K, C, p.edge, p.len, z1) || memcmp(z, z1, sizeof z)))
      FAIL("semiring_scan: the chosen variant's logpartition differs from the library's call");
    for (int b = 0; b < B; b++) sm_near("kgen_semimarkov_logpartition", "logZ", z[b], p.logz[b], 1e-4);
  }
  if (kgen_semimarkov_marginals(B, T, K, C, p.edge, p.len, z, mg0)) FAIL("kgen_semimarkov_marginals failed");
  else {
    __typeof__(kgen_semimarkov_marginals) *f =
        sm_chosen(lib, "marginals", "B=3 T=10 K=4 C=5 semiring=0 phase=2 form=0");
    if (f && (f(B, T, K, C, p.edge, p.len, z1, mg) || memcmp(z, z1, sizeof z) || memcmp(mg, mg0, sizeof(float) * NE)))
      FAIL("semiring_scan: the chosen variant's marginals differ from the library's call");
  }
  /* bad input: the library's own codes, named by kgen_semimarkov_strerror */
  const int64_t bad[B] = {T, 0, 1};
  if (kgen_semimarkov_logpartition(0, T, K, C, p.edge, p.len, z) != KGEN_SEMIMARKOV_EARG || !*kgen_last_error())
    FAIL("semimarkov: B = 0 accepted");
  if (kgen_semimarkov_logpartition(B, T, K, C, NULL, p.len, z) != KGEN_SEMIMARKOV_EARG) FAIL("semimarkov: NULL edge");
  if (kgen_semimarkov_entropy(B, T, K, C, p.edge, bad, z, z1) != KGEN_SEMIMARKOV_ELENGTH) FAIL("semimarkov: length 0");
  p.cum[(T - 1) * C + 2] = NAN; /* sequence 0 (all T boundaries) reads it */
  if (kgen_semimarkov_logpartition_decomposed(B, T, K, C, p.cum, p.trans, p.bias, p.len, z) != KGEN_SEMIMARKOV_ENAN)
    FAIL("semimarkov: NaN accepted");
  if (strcmp(kgen_semimarkov_strerror(KGEN_SEMIMARKOV_ELENGTH), "bad lengths: every lengths[b] must be in [1, T]") ||
      !strstr(kgen_semimarkov_strerror(KGEN_SEMIMARKOV_ENOVARIANT), "variant"))
    FAIL("kgen_semimarkov_strerror");
  /* checkpointed marginals (threshold 0, every variant) equal the stored ones bit for bit */
  const size_t def = kgen_semimarkov_checkpoint_bytes(0);
  if (def != (size_t)1 << 22 || kgen_semimarkov_marginals(B, T, K, C, p.edge, p.len, z, mg0) ||
      kgen_semimarkov_checkpoint_bytes(def) != 0 || kgen_semimarkov_marginals(B, T, K, C, p.edge, p.len, z1, mg) ||
      memcmp(mg, mg0, sizeof(float) * NE))
    FAIL("semimarkov: checkpointed marginals differ (or the threshold was not kept: default %zu)", def);
  free(mg), free(mg0);
  sm_free(&p);
}

/* One of several threads calling kgen_sgemm at once on shapes of the direct and packed paths;
 * returns the number of wrong results (own generator: check_gemm's is not thread-safe). */
static void *gemm_thread(void *arg) {
  uint64_t r = 777 + (uint64_t)(uintptr_t)arg;
  static const int64_t shapes[][3] = {{64, 64, 64}, {33, 70, 97}, {128, 128, 128}, {16, 300, 200}, {1, 500, 300}};
  long bad = 0;
  float *A = malloc(sizeof(float) * 128 * 300), *B = malloc(sizeof(float) * 300 * 500);
  float *C = malloc(sizeof(float) * 128 * 500);
  double *R = malloc(sizeof(double) * 128 * 500);
  for (int i = 0; i < 128 * 300; i++) r = r * 6364136223846793005ull + 1, A[i] = (float)(r >> 40) / 16777216.0f - 0.5f;
  for (int i = 0; i < 300 * 500; i++) r = r * 6364136223846793005ull + 1, B[i] = (float)(r >> 40) / 16777216.0f - 0.5f;
  for (int it = 0; it < 60; it++) {
    const int64_t *sh = shapes[(it + (int)(uintptr_t)arg) % 5], m = sh[0], n = sh[1], k = sh[2];
    if (kgen_sgemm(m, n, k, 1.0f, A, k, B, n, 0.0f, C, n)) {
      bad++;
      continue;
    }
    if (it >= 10) continue; /* the reference once per shape and thread */
    for (int64_t i = 0; i < m; i++)
      for (int64_t j = 0; j < n; j++) {
        double s = 0;
        for (int64_t p = 0; p < k; p++) s += (double)A[i * k + p] * B[p * n + j];
        R[i * n + j] = s;
      }
    for (int64_t i = 0; i < m * n; i++) bad += fabs(C[i] - R[i]) > 1e-5 * (double)k + 1e-5;
  }
  free(A), free(B), free(C), free(R);
  return (void *)bad;
}

static void check_concurrent(void) {
  enum { NT = 4 };
  pthread_t th[NT];
  for (long i = 0; i < NT; i++)
    if (pthread_create(&th[i], NULL, gemm_thread, (void *)i)) FAIL("pthread_create");
  for (int i = 0; i < NT; i++) {
    void *bad = NULL;
    pthread_join(th[i], &bad);
    if (bad) FAIL("concurrent kgen_sgemm, thread %d: %ld wrong elements or failed calls", i, (long)bad);
  }
}

/* The library's helper threads: how many ("kgen-team"), and how many of them are not asleep. */
static void team_threads(int *n, int *awake) {
  *n = *awake = 0;
  DIR *d = opendir("/proc/self/task");
  struct dirent *e;
  while (d && (e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    char path[300], comm[64] = "", stat[512] = "";
    snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
    FILE *f = fopen(path, "r");
    if (!f) continue;
    if (!fgets(comm, sizeof comm, f)) comm[0] = 0;
    fclose(f);
    if (strncmp(comm, "kgen-team", 9)) continue;
    snprintf(path, sizeof path, "/proc/self/task/%s/stat", e->d_name);
    f = fopen(path, "r");
    if (f && fgets(stat, sizeof stat, f)) {
      const char *st = strrchr(stat, ')'); /* "tid (comm) S ..." */
      (*n)++;
      *awake += !(st && st[1] == ' ' && st[2] == 'S');
    }
    if (f) fclose(f);
  }
  if (d) closedir(d);
}

/* After every gemm variant has run: one team of at most cores - 1 helpers, asleep once idle
 * (polled for up to 10 s: on a loaded machine a helper may wait long for a core to notice). */
static void check_team(void) {
  cpu_set_t set;
  const int cores = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 1;
  int n = 0, awake = 0;
  team_threads(&n, &awake);
  if (n > (cores > 1 ? cores - 1 : 0)) FAIL("%d kgen-team helper threads for %d usable cores: not one shared team", n, cores);
  for (int i = 0; i < 1000 && awake; i++) usleep(10000), team_threads(&n, &awake);
  if (awake) FAIL("%d of %d kgen-team helpers still awake after 10 s idle", awake, n);
  printf("helper team: %d kgen-team threads (usable cores %d), all asleep when idle\n", n, cores);
}

/* Whether this CPU (and the KGEN_MAX_ISA cap) allows a variant compiled for avx512: the test
 * calls variants directly, so it must not call one the CPU cannot run. */
static int avx512_ok(void) {
  const char *max = getenv("KGEN_MAX_ISA");
  __builtin_cpu_init();
  return !(max && strcmp(max, "avx512")) && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
         __builtin_cpu_supports("avx512vnni");
}

int main(int argc, char **argv) {
  void *lib = dlopen(argc > 1 ? argv[1] : "libkgen.so", RTLD_NOW);
  if (!lib) {
    printf("FAIL: dlopen: %s\n", dlerror());
    return 1;
  }
  (void)can_run;
  const int wide = avx512_ok();
  int nvar = 0;
  char name[128], who[192];
  check_gemm("kgen_sgemm", kgen_sgemm);
  for (int i = 0;; i++, nvar++) {
    snprintf(name, sizeof name, "kgv_gemm_%d_kgen_sgemm", i);
    sgemm_fn f = (sgemm_fn)dlsym(lib, name);
    if (!f) break;
    /* Variant banners name their flags; the ISA requirement is in the dispatch table, which the
     * test reads through the variant's parameters in kgen_explain only; run avx512 variants
     * when the CPU can. Variant 0 is the portable one, 1 the AVX2 one (sorted by ISA). */
    if (i >= 2 && !wide) continue;
    snprintf(who, sizeof who, "variant %s", name);
    check_gemm(who, f);
  }
  check_qmatmul("kgen_qmatmul", kgen_qweight_new, kgen_qmatmul, kgen_qweight_free);
  for (int i = 0;; i++, nvar++) {
    snprintf(name, sizeof name, "kgv_qmatmul_%d_", i);
    char a[160], b[160], c[160];
    snprintf(a, sizeof a, "%skgen_qweight_new", name), snprintf(b, sizeof b, "%skgen_qmatmul", name);
    snprintf(c, sizeof c, "%skgen_qweight_free", name);
    qnew_fn qn = (qnew_fn)dlsym(lib, a);
    if (!qn) break;
    if (i >= 2 && !wide) continue;
    snprintf(who, sizeof who, "variant %s", name);
    check_qmatmul(who, qn, (qmm_fn)dlsym(lib, b), (qfree_fn)dlsym(lib, c));
  }
  pc_api pub = {kgen_paired_cache_new,    kgen_paired_cache_update,  kgen_paired_cache_size, kgen_paired_cache_concat,
                kgen_paired_cache_down_t, kgen_paired_cache_indices, kgen_paired_cache_free};
  check_paired("kgen_paired_cache", &pub);
  for (int i = 0;; i++, nvar++) {
    pc_api v;
#define SYM(field, fn)                                                                                                 \
  (snprintf(name, sizeof name, "kgv_paired_cache_%d_%s", i, fn), *(void **)&v.field = dlsym(lib, name))
    if (!SYM(new_, "kgen_paired_cache_new")) break;
    SYM(update, "kgen_paired_cache_update"), SYM(size, "kgen_paired_cache_size"),
        SYM(concat, "kgen_paired_cache_concat");
    SYM(down_t, "kgen_paired_cache_down_t"), SYM(indices, "kgen_paired_cache_indices"),
        SYM(free_, "kgen_paired_cache_free");
    if (i >= 2 && !wide) continue;
    snprintf(who, sizeof who, "variant kgv_paired_cache_%d_", i);
    check_paired(who, &v);
  }
  const sm_api sm = {kgen_semimarkov_logpartition,
                     kgen_semimarkov_marginals,
                     kgen_semimarkov_viterbi,
                     kgen_semimarkov_entropy,
                     kgen_semimarkov_viterbi_segments,
                     kgen_semimarkov_logpartition_decomposed,
                     kgen_semimarkov_marginals_decomposed,
                     kgen_semimarkov_viterbi_decomposed,
                     kgen_semimarkov_entropy_decomposed,
                     kgen_semimarkov_viterbi_segments_decomposed};
  check_semimarkov("kgen_semimarkov", &sm);
  for (int i = 0;; i++, nvar++) {
    void *f[10];
    _Static_assert(sizeof f == sizeof(sm_api), "sm_api: the ten functions of sm_names");
    for (int j = 0; j < 10; j++)
      snprintf(name, sizeof name, "kgv_semiring_scan_%d_kgen_semimarkov_%s", i, sm_names[j]), f[j] = dlsym(lib, name);
    if (!f[0]) break;
    if (i >= 2 && !wide) continue;
    sm_api v;
    memcpy(&v, f, sizeof v);
    snprintf(who, sizeof who, "variant kgv_semiring_scan_%d_", i);
    check_semimarkov(who, &v);
  }
  check_semimarkov_library(lib);
  check_concurrent();
  check_team();
  check_bad_input();
  char buf[4096];
  const char *kernels[] = {"gemm", "qmatmul", "paired_cache", "semiring_scan"};
  for (int i = 0; i < 4; i++) {
    if (kgen_explain(kernels[i], buf, sizeof buf)) FAIL("explain %s failed", kernels[i]);
    else if (!strstr(buf, "machine entry:") || !strstr(buf, "variant:")) FAIL("explain %s: %s", kernels[i], buf);
    else printf("%s\n", buf);
  }
  printf("checked %d variants (avx512 ones %s); %d failures\n", nvar, wide ? "included" : "skipped", failures);
  return failures > 100 ? 100 : failures;
}
