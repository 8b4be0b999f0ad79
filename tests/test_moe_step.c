/*
 * test_moe_step.c - templates/moe_step.c (specs/moe_step.lua): variants covering the three top-m
 * selections, the gating and matmul tiles (Y also through gemm_ukr.h), threads and the cache's
 * copy and hybrid, emitted and compiled in-process, on small problems (N and hidden not
 * multiples of the tiles, a gate pool, m = N, m = 1, batch 1, drifting and fresh inputs):
 *   - the harness: kg_create, kg_verify (the active set of each step equals the rebuild
 *     baseline's and the reference's exactly, Y within the GEMM bound, the cache holds exactly its
 *     rows) before and after steps of kg_run and kg_baseline_rebuild; kg_phases names the four
 *     phases and reports time after steps;
 *   - the public API against this test's own computation: the active set of every step equals
 *     the top-m of the max-pooled logits computed here (the same FMA chains, a full sort with the
 *     lower index first on ties; W_g with duplicated rows forces ties at the threshold), Y within
 *     the GEMM bound of a double reference, and every variant gives the same active sets;
 *   - bad shapes are refused: zero sizes, m > N, batch 0, NULL pointers;
 *   - `kgen tune tests/specs/moe_small.lua` (env KGEN_BIN): the report carries each winner's and
 *     baseline's "phases" (the four names, shares summing to 1) and "phases_ns" (kg_abi.h's
 *     kg_phases, read by the worker after the final rounds' timing).
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
#include <jansson.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kg_abi.h"
#include "kg_compile.h"
#include "kg_jit_test.h"
#include "kg_spec.h"
#include "kg_template.h"

typedef struct kgen_moe kgen_moe;
typedef kgen_moe *(*new_fn)(int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, const float *, const float *,
                            const float *, const float *);
typedef int (*step_fn)(kgen_moe *, const float *, float *);
typedef void (*free_fn)(kgen_moe *);
typedef const int32_t *(*indices_fn)(const kgen_moe *, int64_t *);
typedef int (*phases_fn)(void *, const char **, double *, int);

typedef struct variant {
  char name[256];
  kg_module *mod;
  kg_create_fn create;
  kg_run_fn run, rebuild;
  kg_verify_fn verify;
  kg_destroy_fn destroy;
  phases_fn phases;
  new_fn mnew;
  step_fn step;
  free_fn mfree;
  indices_fn indices;
} variant;

/* Variants: every selection, other tiles (edge tiles on every problem below), threads, the cache's
 * copy and hybrid, Y through gemm_ukr.h's microkernel; those outside this machine's space are
 * skipped (at least two must compile). */
static const char *const SETS[] = {
    "select=quickselect",
    "select=partial_sort,gb=8,gnv=3,mb=8,ynv=2,threads=2",
    "select=histogram,gb=2,gnv=2,mb=4,ynv=4,copy=loop",
    "select=histogram,gnv=3,tau=50,threads=2",
    "select=partial_sort,ymm=ukr,mr=16,nr=16,threads=2",
    "select=quickselect,ymm=ukr,mr=4,nr=64,mb=8",
    /* AVX2 machines (8-float vectors, 12 accumulators; the AVX-512 tiles above are skipped there) */
    "select=partial_sort,gb=2,gnv=4,mb=4,ynv=2,threads=2",
    "select=histogram,gb=2,gnv=2,tau=50",
    "select=quickselect,ymm=ukr,mr=4,nr=24,threads=2",
};
#define NSETS (int)(sizeof SETS / sizeof SETS[0])

static kg_spec *g_spec;
static kg_compiler *g_cc;
static variant g_var[NSETS];
static int g_nvar;

static int setup(void **state) {
  (void)state;
  if (kg_test_load("specs/moe_step.lua", &g_spec, &g_cc)) return -1;
  kg_ctx ctx = {0};
  int32_t *pt = calloc((size_t)g_spec->nparams, sizeof *pt);
  if (!pt) return -1;
  for (int i = 0; i < NSETS; i++) {
    if (kg_spec_parse_set(g_spec, SETS[i], pt, &ctx) != KG_OK) {
      printf("skipped %s on this machine: %s\n", SETS[i], ctx.msg); /* e.g. threads=2 on one core */
      continue;
    }
    variant *v = &g_var[g_nvar];
    kg_spec_format_point(g_spec, pt, v->name, sizeof v->name);
    char *src = NULL, *diag = NULL;
    size_t len = 0;
    if (kg_template_emit(g_spec, pt, &src, &len, &ctx) != KG_OK) {
      fprintf(stderr, "emit %s: %s\n", v->name, ctx.msg);
      free(pt);
      return -1;
    }
    kg_status st = kg_compiler_compile(g_cc, v->name, src, &v->mod, &diag, &ctx);
    free(src);
    if (st != KG_OK) {
      fprintf(stderr, "compile %s: %s\n", v->name, diag ? diag : ctx.msg);
      free(diag), free(pt);
      return -1;
    }
    free(diag);
    kg_module *m = v->mod;
    v->create = (kg_create_fn)kg_module_sym(m, "kg_create");
    v->run = (kg_run_fn)kg_module_sym(m, "kg_run");
    v->rebuild = (kg_run_fn)kg_module_sym(m, "kg_baseline_rebuild");
    v->verify = (kg_verify_fn)kg_module_sym(m, "kg_verify");
    v->destroy = (kg_destroy_fn)kg_module_sym(m, "kg_destroy");
    v->phases = (phases_fn)kg_module_sym(m, "kg_phases");
    v->mnew = (new_fn)kg_module_sym(m, "kgen_moe_new");
    v->step = (step_fn)kg_module_sym(m, "kgen_moe_step");
    v->mfree = (free_fn)kg_module_sym(m, "kgen_moe_free");
    v->indices = (indices_fn)kg_module_sym(m, "kgen_moe_indices");
    if (!v->create || !v->run || !v->rebuild || !v->verify || !v->destroy || !v->phases || !v->mnew || !v->step ||
        !v->mfree || !v->indices) {
      fprintf(stderr, "%s: an entry point is missing\n", v->name);
      free(pt);
      return -1;
    }
    g_nvar++;
  }
  free(pt);
  printf("moe_step: %d variants compiled\n", g_nvar);
  return g_nvar >= 2 ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  for (int v = 0; v < g_nvar; v++) kg_module_free(g_var[v].mod);
  kg_compiler_free(g_cc);
  kg_spec_free(g_spec);
  return 0;
}

/* ---- the harness on small problems ----------------------------------------------------------------- */

typedef struct dims {
  int64_t N, batch, gate_cols, hidden, m, rho, steps, up_cols; /* sorted by name, as kg_problem wants */
} dims;
static const char *const DIM_NAMES[] = {"N", "batch", "gate_cols", "hidden", "m", "rho", "steps", "up_cols"};

static kg_problem problem_of(const dims *d) { return (kg_problem){8, DIM_NAMES, (const int64_t *)d, 7, 0, 0}; }

static const dims SMALL[] = {
    {1000, 16, 0, 72, 50, 0, 8, 100},  /* fresh inputs */
    {1000, 5, 33, 72, 50, 99, 8, 100}, /* a gate pool, sticky set */
    {257, 3, 5, 33, 257, 50, 4, 17},   /* m = N, hidden not a multiple of 16 */
    {300, 1, 0, 16, 1, 90, 6, 16},     /* m = 1, batch 1 */
    {130, 7, 0, 20, 64, 0, 3, 40},     /* N below one gating panel of some variants */
};

static void test_harness(void **state) {
  (void)state;
  for (int v = 0; v < g_nvar; v++)
    for (size_t p = 0; p < sizeof SMALL / sizeof SMALL[0]; p++) {
      const variant *x = &g_var[v];
      kg_problem pr = problem_of(&SMALL[p]);
      void *st = x->create(&pr);
      if (!st) fail_msg("%s, problem %zu: kg_create failed", x->name, p);
      char msg[1024] = "";
      if (x->verify(st, msg, sizeof msg)) fail_msg("%s, problem %zu: %s", x->name, p, msg);
      for (int i = 0; i < 7; i++) x->run(st);
      for (int i = 0; i < 3; i++) x->rebuild(st);
      for (int i = 0; i < 2; i++) x->run(st);
      if (x->verify(st, msg, sizeof msg)) fail_msg("%s, problem %zu, after steps: %s", x->name, p, msg);
      const char *names[8];
      double ns[8];
      assert_int_equal(x->phases(st, names, ns, 8), 4);
      const char *want[4] = {"gating", "selection", "update", "matmuls"};
      double total = 0;
      for (int i = 0; i < 4; i++) {
        assert_string_equal(names[i], want[i]);
        assert_true(ns[i] >= 0);
        total += ns[i];
      }
      assert_true(total > 0);
      x->destroy(st);
    }
}

static void test_bad_shapes(void **state) {
  (void)state;
  const dims good = {100, 4, 0, 16, 10, 0, 4, 16};
  const variant *x = &g_var[0];
  kg_problem pr = problem_of(&good);
  void *st = x->create(&pr);
  assert_non_null(st); /* the shape the bad ones are made from is fine */
  x->destroy(st);
  for (int i = 0; i < 9; i++) {
    dims d = good;
    switch (i) {
    case 0: d.N = 0; break;
    case 1: d.m = 0; break;
    case 2: d.m = d.N + 1; break;
    case 3: d.batch = 0; break;
    case 4: d.hidden = 0; break;
    case 5: d.up_cols = 0; break;
    case 6: d.gate_cols = -1; break;
    case 7: d.steps = 1; break;
    default: d.rho = 101; break;
    }
    pr = problem_of(&d);
    st = x->create(&pr);
    if (st) {
      x->destroy(st);
      fail_msg("kg_create accepted bad shape %d", i);
    }
  }
  float w[64] = {0}, y[16] = {0};
  kgen_moe *s = x->mnew(4, 4, 4, 0, 2, 1, w, w, w, NULL);
  assert_non_null(s);
  int64_t m0 = -1;
  assert_null(x->indices(s, &m0)); /* nothing cached before the first step */
  assert_int_equal(m0, 0);
  assert_int_equal(x->step(NULL, w, y), 1); /* KG_API_EINVAL */
  assert_int_equal(x->step(s, NULL, y), 1);
  assert_int_equal(x->step(s, w, y), 0);
  x->mfree(s);
  assert_null(x->mnew(0, 4, 4, 0, 1, 1, w, w, w, NULL));
  assert_null(x->mnew(4, 0, 4, 0, 1, 1, w, w, w, NULL));
  assert_null(x->mnew(4, 4, 0, 0, 1, 1, w, w, w, NULL));
  assert_null(x->mnew(4, 4, 4, 0, 0, 1, w, w, w, NULL));
  assert_null(x->mnew(4, 4, 4, 0, 5, 1, w, w, w, NULL)); /* m > N */
  assert_null(x->mnew(4, 4, 4, 0, 2, 0, w, w, w, NULL));
  assert_null(x->mnew(4, 4, 4, 1, 2, 1, w, w, w, NULL)); /* gate_cols without a gate pool */
  assert_null(x->mnew(4, 4, 4, 0, 2, 1, NULL, w, w, NULL));
  x->mfree(NULL);
}

/* ---- the public API against this test's own computation -------------------------------------------- */

static uint64_t rng = 99;
static float frand(void) { /* uniform [-1, 1) */
  rng = rng * 6364136223846793005ull + 1442695040888963407ull;
  return (float)((double)(rng >> 40) / (double)(1ull << 24) * 2.0 - 1.0);
}

typedef struct keyed {
  float v;
  int64_t n;
} keyed;
static int by_value_then_index(const void *a, const void *b) {
  const keyed *x = a, *y = b;
  if (x->v != y->v) return x->v > y->v ? -1 : 1;
  return x->n < y->n ? -1 : x->n > y->n;
}

static void test_public_api(void **state) {
  (void)state;
  const int64_t N = 200, K = 40, U = 24, G = 8, m = 37, B = 3, W = G + U, T = 12;
  float *wg = malloc(sizeof(float) * N * K), *up = malloc(sizeof(float) * N * U);
  float *dn = malloc(sizeof(float) * N * K), *gt = malloc(sizeof(float) * N * G);
  float *xs = malloc(sizeof(float) * T * B * K), *y = malloc(sizeof(float) * B * W);
  uint8_t *want = malloc((size_t)N), *first = malloc((size_t)(T * N));
  keyed *kv = malloc(sizeof(keyed) * N);
  assert_true(wg && up && dn && gt && xs && y && want && first && kv);
  for (int64_t i = 0; i < N * K; i++) wg[i] = frand(), dn[i] = frand();
  for (int64_t r = 1; r < N; r += 2) memcpy(wg + r * K, wg + (r - 1) * K, sizeof(float) * K); /* tied pairs */
  for (int64_t i = 0; i < N * U; i++) up[i] = frand();
  for (int64_t i = 0; i < N * G; i++) gt[i] = frand();
  for (int64_t i = 0; i < B * K; i++) xs[i] = frand();
  for (int64_t t = 1; t < T; t++) /* drifting inputs, rho 0.9 */
    for (int64_t i = 0; i < B * K; i++) xs[t * B * K + i] = 0.9f * xs[(t - 1) * B * K + i] + 0.43589f * frand();
  int ties_at_threshold = 0;
  /* Each variant steps an object it made, then (v > 0) one variant 0 made, as the harness runs
   * every variant on one variant's state: the gating panels are repacked to its width and the Y
   * scratch grown on its first step, with the same sets and Y. */
  for (int run = 0; run < 2 * g_nvar - 1; run++) {
    const int v = (run + 1) / 2;
    const variant *x = &g_var[v], *maker = run > 0 && run % 2 == 0 ? &g_var[0] : x;
    kgen_moe *s = maker->mnew(N, K, U, G, m, B, wg, up, dn, gt);
    assert_non_null(s);
    for (int64_t t = 0; t < T; t++) {
      const float *xt = xs + t * B * K;
      assert_int_equal(x->step(s, xt, y), 0);
      /* the expected set: the same FMA chains, max over the batch, full sort */
      for (int64_t n = 0; n < N; n++) {
        float best = -INFINITY;
        for (int64_t b = 0; b < B; b++) {
          float acc = 0.0f;
          for (int64_t k = 0; k < K; k++) acc = fmaf(xt[b * K + k], wg[n * K + k], acc);
          best = b == 0 || acc > best ? acc : best;
        }
        kv[n] = (keyed){best, n};
      }
      qsort(kv, (size_t)N, sizeof *kv, by_value_then_index);
      if (kv[m - 1].v == kv[m].v) ties_at_threshold++;
      memset(want, 0, (size_t)N);
      for (int64_t i = 0; i < m; i++) want[kv[i].n] = 1;
      int64_t got_m = -1;
      const int32_t *idx = x->indices(s, &got_m);
      assert_int_equal(got_m, m);
      assert_non_null(idx);
      uint8_t got[200] = {0};
      for (int64_t j = 0; j < m; j++) {
        assert_true(idx[j] >= 0 && idx[j] < N);
        got[idx[j]]++;
      }
      for (int64_t n = 0; n < N; n++)
        if (got[n] != want[n])
          fail_msg("%s, step %lld: row %lld is %s", x->name, (long long)t, (long long)n,
                   want[n] ? "missing" : "active but not in the top m");
      if (run == 0) memcpy(first + t * N, got, (size_t)N);
      else assert_memory_equal(first + t * N, got, (size_t)N); /* every variant the same sets */
      /* Y against double over the expected rows */
      for (int64_t b = 0; b < B; b++)
        for (int64_t col = 0; col < W; col++) {
          double acc = 0, mag = 0;
          for (int64_t r = 0; r < N; r++) {
            if (!want[r]) continue;
            double h = 0, ha = 0;
            for (int64_t k = 0; k < K; k++) {
              double p = (double)xt[b * K + k] * (double)dn[r * K + k];
              h += p, ha += fabs(p);
            }
            double c2 = col < G ? (double)gt[r * G + col] : (double)up[r * U + col - G];
            acc += h * c2, mag += ha * fabs(c2);
          }
          double bound = 2.0 * (double)(K + m) * ldexp(1.0, -24) * mag;
          if (!(fabs((double)y[b * W + col] - acc) <= bound))
            fail_msg("%s (object made by %s), step %lld: Y[%lld, %lld] = %.9g, want %.9g (bound %.3g)", x->name,
                     maker->name, (long long)t, (long long)b, (long long)col, (double)y[b * W + col], acc, bound);
        }
    }
    maker->mfree(s);
  }
  printf("steps with a tie at the threshold (the lower row taken): %d of %lld\n", ties_at_threshold,
         (long long)(T * (2 * g_nvar - 1)));
  assert_true(ties_at_threshold > 0); /* the duplicated rows did tie at the threshold */
  free(wg), free(up), free(dn), free(gt), free(xs), free(y), free(want), free(first), free(kv);
}

/* ---- phases in kgen tune's report ------------------------------------------------------------------- */

static void check_phases(const json_t *timing, const char *who) {
  const json_t *ph = json_object_get(timing, "phases"), *ns = json_object_get(timing, "phases_ns");
  if (!json_is_object(ph) || !json_is_object(ns)) fail_msg("%s: no phases in the report", who);
  const char *want[4] = {"gating", "selection", "update", "matmuls"};
  double sum = 0, sum_ns = 0;
  assert_int_equal(json_object_size(ph), 4);
  for (int i = 0; i < 4; i++) {
    const json_t *v = json_object_get(ph, want[i]), *n = json_object_get(ns, want[i]);
    if (!json_is_number(v) || !json_is_number(n)) fail_msg("%s: phase %s missing", who, want[i]);
    assert_true(json_number_value(v) >= 0 && json_number_value(v) <= 1);
    sum += json_number_value(v), sum_ns += json_number_value(n);
  }
  assert_true(fabs(sum - 1.0) < 1e-9);
  assert_true(sum_ns > 0);
}

static void test_tune_phases(void **state) {
  (void)state;
  const char *b = getenv("KGEN_BIN");
  char dir[] = "/tmp/kgen-test-moe-XXXXXX", cmd[8192], path[512];
  assert_non_null(mkdtemp(dir));
  snprintf(cmd, sizeof cmd,
           "'%s' tune '%s' --min-time 0.01 --rounds 1 --finalists 1 --out '%s/out' --db '%s/t.db' >/dev/null 2>&1",
           b ? b : "build/kgen", kg_test_path("tests/specs/moe_small.lua"), dir, dir);
  int st = system(cmd);
  assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  snprintf(cmd, sizeof cmd, "ls '%s'/out/moe_small/*.json", dir);
  FILE *ls = popen(cmd, "r");
  assert_non_null(ls);
  assert_non_null(fgets(path, sizeof path, ls));
  pclose(ls);
  path[strcspn(path, "\n")] = 0;
  json_error_t err;
  json_t *j = json_load_file(path, 0, &err);
  if (!j) fail_msg("%s: %s", path, err.text);
  const json_t *probs = json_object_get(j, "problems");
  assert_int_equal(json_array_size(probs), 2);
  for (size_t i = 0; i < json_array_size(probs); i++) {
    const json_t *p = json_array_get(probs, i);
    check_phases(json_object_get(p, "winner"), "winner");
    const json_t *bl = json_array_get(json_object_get(p, "baselines"), 0);
    assert_string_equal(json_string_value(json_object_get(bl, "name")), "rebuild");
    check_phases(bl, "rebuild");
  }
  json_decref(j);
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  assert_int_equal(system(cmd), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_harness),
      cmocka_unit_test(test_bad_shapes),
      cmocka_unit_test(test_public_api),
      cmocka_unit_test(test_tune_phases),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
