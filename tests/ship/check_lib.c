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
  check_concurrent();
  check_team();
  check_bad_input();
  char buf[4096];
  const char *kernels[] = {"gemm", "qmatmul", "paired_cache"};
  for (int i = 0; i < 3; i++) {
    if (kgen_explain(kernels[i], buf, sizeof buf)) FAIL("explain %s failed", kernels[i]);
    else if (!strstr(buf, "machine entry:") || !strstr(buf, "variant:")) FAIL("explain %s: %s", kernels[i], buf);
    else printf("%s\n", buf);
  }
  printf("checked %d variants (avx512 ones %s); %d failures\n", nvar, wide ? "included" : "skipped", failures);
  return failures > 100 ? 100 : failures;
}
