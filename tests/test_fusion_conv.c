/*
 * test_fusion_conv.c - templates/fusion_conv.c (Conv2d + BatchNorm (+ ReLU), BN folded), every
 * variant of tests/specs/fusion_conv_small.lua compiled in-process:
 *   - BN folding (kgen_conv2d_bn_fold) equals BN applied after the convolution: a double
 *     convolution with the folded float weights and bias against the raw convolution followed by
 *     BN, within the rounding of the folded weights; a perturbed fold is caught by the same check;
 *   - every variant's harness verification (kg_verify: the unfused double reference) passes on
 *     every problem of the small spec (channels off the vector width and the unroll, widths off
 *     the pixel tile, rectangular filters, stride 2, pad 2, 1 x 1), before and after kg_run;
 *   - the baselines (unfused, openblas_unfused, onednn, onednn_2t) compute the same thing;
 *   - the public API (kgen_conv2d_bn_new / _run) against this file's own double reference, and a
 *     result with another BN is refused by the same check;
 *   - bad shapes are refused: zero sizes, channels mismatch (weights vs input, BN vs output), a
 *     filter larger than the padded input, a bad BN variance.
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

#include "kg_abi.h"
#include "kg_compile.h"
#include "kg_jit_test.h"
#include "kg_spec.h"
#include "kg_template.h"

/* The public API's shape, as templates/fusion_conv.c declares it. */
typedef struct desc {
  int64_t b, c, h, w, k, wc, r, s, stride, pad, bn;
  int relu;
} desc;
typedef int (*fold_fn)(int64_t, int64_t, const float *, const float *, const float *, const float *, const float *,
                       const float *, float, float *, float *);
typedef int (*new_fn)(const desc *, const float *, const float *, const float *, const float *, const float *, float,
                      void **, char *, size_t);
typedef int (*run_fn)(void *, const float *, float *);
typedef void (*free_fn)(void *);
typedef int (*check_fn)(void *, char *, size_t);

enum { MAXV = 64 };
static kg_spec *g_spec;
static kg_compiler *g_cc;
static kg_module *g_mod[MAXV];
static char g_names[MAXV][160];
static int g_nvar;

static uint64_t rng = 99;
static float frand(void) { /* uniform [-1, 1) */
  rng = rng * 6364136223846793005ull + 1442695040888963407ull;
  return (float)((double)(rng >> 40) / (double)(1ull << 24) * 2.0 - 1.0);
}

static void *sym(int v, const char *name) {
  void *p = kg_module_sym(g_mod[v], name);
  if (!p) fail_msg("%s: no symbol %s", g_names[v], name);
  return p;
}

static int setup(void **state) {
  (void)state;
  if (kg_test_load("tests/specs/fusion_conv_small.lua", &g_spec, &g_cc)) return -1;
  kg_ctx ctx = {0};
  g_nvar = (int)g_spec->npoints;
  if (g_nvar > MAXV) return -1;
  for (int v = 0; v < g_nvar; v++) {
    const int32_t *pt = g_spec->points + (size_t)v * (size_t)g_spec->nparams;
    kg_spec_format_point(g_spec, pt, g_names[v], sizeof g_names[v]);
    char *src = NULL, *diag = NULL;
    if (kg_template_emit(g_spec, pt, &src, NULL, &ctx) != KG_OK) {
      fprintf(stderr, "emit %s: %s\n", g_names[v], ctx.msg);
      return -1;
    }
    kg_status st = kg_compiler_compile(g_cc, g_names[v], src, &g_mod[v], &diag, &ctx);
    free(src);
    if (st != KG_OK) {
      fprintf(stderr, "compile %s: %s\n", g_names[v], diag ? diag : ctx.msg);
      free(diag);
      return -1;
    }
    free(diag);
  }
  printf("fusion_conv: %d variants compiled\n", g_nvar);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  for (int v = 0; v < g_nvar; v++) kg_module_free(g_mod[v]);
  kg_compiler_free(g_cc);
  kg_spec_free(g_spec);
  return 0;
}

/* ---- a double reference of our own: NHWC x, OIHW w, optional per-channel affine after --------- */

static void out_hw(const desc *d, int64_t *ho, int64_t *wo) {
  *ho = (d->h + 2 * d->pad - d->r) / d->stride + 1;
  *wo = (d->w + 2 * d->pad - d->s) / d->stride + 1;
}

/* y[b, ho, wo, k] = conv(x, w) + bias (bias NULL: 0), and sum |x||w| per output into aab. */
static void conv_ref(const desc *d, const float *x, const float *w, const float *bias, double *y, double *aab) {
  int64_t ho, wo;
  out_hw(d, &ho, &wo);
  for (int64_t n = 0; n < d->b; n++)
    for (int64_t oh = 0; oh < ho; oh++)
      for (int64_t ow = 0; ow < wo; ow++)
        for (int64_t o = 0; o < d->k; o++) {
          double acc = bias ? bias[o] : 0.0, ab = 0.0;
          for (int64_t r = 0; r < d->r; r++)
            for (int64_t q = 0; q < d->s; q++) {
              const int64_t ih = oh * d->stride - d->pad + r, iw = ow * d->stride - d->pad + q;
              if (ih < 0 || ih >= d->h || iw < 0 || iw >= d->w) continue;
              for (int64_t c = 0; c < d->c; c++) {
                const double t = (double)x[((n * d->h + ih) * d->w + iw) * d->c + c] *
                                 (double)w[((o * d->c + c) * d->r + r) * d->s + q];
                acc += t, ab += fabs(t);
              }
            }
          const int64_t i = ((n * ho + oh) * wo + ow) * d->k + o;
          y[i] = acc;
          if (aab) aab[i] = ab;
        }
}

typedef struct bn {
  float *gamma, *beta, *mean, *var;
  float eps;
} bn;

static bn bn_new(int64_t k) {
  bn p = {malloc(k * sizeof(float)), malloc(k * sizeof(float)), malloc(k * sizeof(float)), malloc(k * sizeof(float)),
          1e-5f};
  for (int64_t o = 0; o < k; o++) {
    p.gamma[o] = 1.0f + 0.5f * frand(), p.beta[o] = 0.5f * frand();
    p.mean[o] = 0.5f * frand(), p.var[o] = 1.0f + 0.5f * frand();
  }
  return p;
}
static void bn_free(bn *p) { free(p->gamma), free(p->beta), free(p->mean), free(p->var); }

static float *rand_buf(size_t n, float scale) {
  float *p = malloc(n * sizeof(float));
  for (size_t i = 0; i < n; i++) p[i] = frand() * scale;
  return p;
}

/* ---- BN folding equals BN applied after the convolution --------------------------------------- */

/* Largest |folded - after| / bound over the outputs (folded: conv with wf, bf in double; after:
 * BN(conv(x, w)) in double; bound: (crs + 3) 2^-24 (sum |x||wf| + |bf|)). */
static double fold_gap(const desc *d, const float *x, const float *w, const bn *p, const float *wf, const float *bf) {
  int64_t ho, wo;
  out_hw(d, &ho, &wo);
  const size_t ny = (size_t)(d->b * ho * wo * d->k);
  double *yf = malloc(ny * sizeof(double)), *ya = malloc(ny * sizeof(double)), *ab = malloc(ny * sizeof(double));
  conv_ref(d, x, wf, bf, yf, ab);
  conv_ref(d, x, w, NULL, ya, NULL);
  double worst = 0.0;
  const double crs = (double)(d->c * d->r * d->s);
  for (size_t i = 0; i < ny; i++) {
    const int64_t o = (int64_t)(i % (size_t)d->k);
    const double scale = (double)p->gamma[o] / sqrt((double)p->var[o] + (double)p->eps);
    const double after = (ya[i] - p->mean[o]) * scale + p->beta[o];
    const double bound = (crs + 3.0) * ldexp(1.0, -24) * (ab[i] + fabs(bf[o])) + 1e-12;
    const double g = fabs(yf[i] - after) / bound;
    if (g > worst) worst = g;
  }
  free(yf), free(ya), free(ab);
  return worst;
}

static void test_fold_equals_bn_after(void **state) {
  (void)state;
  const desc d = {2, 7, 6, 5, 19, 7, 3, 3, 1, 1, 19, 0};
  const int64_t nw = d.k * d.c * d.r * d.s;
  float *x = rand_buf((size_t)(d.b * d.h * d.w * d.c), 1.0f), *w = rand_buf((size_t)nw, 0.3f);
  float *wf = malloc((size_t)nw * sizeof(float)), *bf = malloc((size_t)d.k * sizeof(float));
  bn p = bn_new(d.k);
  for (int v = 0; v<g_nvar; v += g_nvar - 1> 0 ? g_nvar - 1 : 1) { /* the first and last variant */
    fold_fn fold = (fold_fn)sym(v, "kgen_conv2d_bn_fold");
    assert_int_equal(fold(d.k, d.c * d.r * d.s, w, NULL, p.gamma, p.beta, p.mean, p.var, p.eps, wf, bf), 0);
    const double gap = fold_gap(&d, x, w, &p, wf, bf);
    printf("%s: fold vs BN after: worst |diff| / bound = %.3g\n", g_names[v], gap);
    assert_true(gap <= 1.0);
    /* the check catches a fold that misses the mean of one channel */
    bf[3] += p.mean[3] * p.gamma[3] / sqrtf(p.var[3] + p.eps) + 1e-3f;
    assert_true(fold_gap(&d, x, w, &p, wf, bf) > 1.0);
    /* a convolution bias folds too: BN(conv + cb) = conv(x, wf) + bf */
    float *cb = rand_buf((size_t)d.k, 1.0f);
    assert_int_equal(fold(d.k, d.c * d.r * d.s, w, cb, p.gamma, p.beta, p.mean, p.var, p.eps, wf, bf), 0);
    for (int64_t o = 0; o < d.k; o++) p.mean[o] -= cb[o]; /* BN(t + cb) with mean m == BN(t) with mean m - cb */
    assert_true(fold_gap(&d, x, w, &p, wf, bf) <= 1.0);
    for (int64_t o = 0; o < d.k; o++) p.mean[o] += cb[o];
    free(cb);
    /* bad BN: var + eps <= 0 is refused */
    const float v0 = p.var[5];
    p.var[5] = -1.0f;
    assert_int_equal(fold(d.k, d.c * d.r * d.s, w, NULL, p.gamma, p.beta, p.mean, p.var, p.eps, wf, bf), 1);
    p.var[5] = v0;
    if (g_nvar == 1) break;
  }
  bn_free(&p);
  free(x), free(w), free(wf), free(bf);
}

/* ---- every variant through the harness ABI, and the baselines ---------------------------------- */

static void test_variants_verify(void **state) {
  (void)state;
  for (int pi = 0; pi < (int)g_spec->nproblems; pi++) {
    const kg_spec_problem *sp = &g_spec->problems[pi];
    kg_problem p = {sp->ndims, (const char *const *)sp->dim_names, sp->dims, 42, 0, 0};
    void *st = ((kg_create_fn)sym(0, "kg_create"))(&p);
    assert_non_null(st);
    ((kg_prepare_fn)sym(0, "kg_prepare"))(st);
    for (int v = 0; v < g_nvar; v++) {
      char msg[512] = "";
      kg_verify_fn verify = (kg_verify_fn)sym(v, "kg_verify");
      int rc = verify(st, msg, sizeof msg);
      if (rc) printf("%s on %s: %s\n", g_names[v], sp->name, msg);
      assert_int_equal(rc, 0);
      assert_non_null(strstr(msg, "err_over_bound")); /* the accuracy figure */
      ((kg_run_fn)sym(v, "kg_run"))(st);
      ((kg_run_fn)sym(v, "kg_run"))(st);
      rc = verify(st, msg, sizeof msg);
      if (rc) printf("%s on %s after kg_run: %s\n", g_names[v], sp->name, msg);
      assert_int_equal(rc, 0);
    }
    static const char *const bls[] = {"unfused", "openblas_unfused", "onednn", "onednn_2t"};
    check_fn check = (check_fn)sym(g_nvar - 1, "kg_conv_check_baseline");
    char msg[512] = "";
    assert_int_equal(check(st, msg, sizeof msg), 1); /* nothing has run yet */
    for (size_t b = 0; b < sizeof bls / sizeof bls[0]; b++) {
      char name[64];
      snprintf(name, sizeof name, "kg_baseline_%s", bls[b]);
      for (int v = 0; v<g_nvar; v += g_nvar - 1> 0 ? g_nvar - 1 : 1) {
        ((kg_run_fn)sym(v, name))(st);
        int rc = check(st, msg, sizeof msg);
        if (rc) printf("baseline %s (%s) on %s: %s\n", bls[b], g_names[v], sp->name, msg);
        assert_int_equal(rc, 0);
        if (g_nvar == 1) break;
      }
    }
    ((kg_destroy_fn)sym(0, "kg_destroy"))(st);
  }
}

/* The public API of every variant against this file's own double reference (conv, BN after, ReLU);
 * the same check refuses the output of a different BN (one channel's beta moved). */
static void test_public_api(void **state) {
  (void)state;
  const desc ds[] = {{2, 5, 7, 9, 20, 5, 3, 3, 1, 1, 20, 1},
                     {1, 3, 8, 6, 33, 3, 1, 1, 1, 0, 33, 0},
                     {2, 8, 9, 9, 16, 8, 3, 3, 2, 1, 16, 1},
                     {1, 4, 5, 7, 17, 4, 2, 3, 1, 0, 17, 0}};
  for (size_t i = 0; i < sizeof ds / sizeof ds[0]; i++) {
    const desc *d = &ds[i];
    int64_t ho, wo;
    out_hw(d, &ho, &wo);
    const size_t nx = (size_t)(d->b * d->h * d->w * d->c), nw = (size_t)(d->k * d->c * d->r * d->s);
    const size_t ny = (size_t)(d->b * ho * wo * d->k);
    float *x = rand_buf(nx, 1.0f), *w = rand_buf(nw, 0.4f), *y = malloc(ny * sizeof(float));
    bn p = bn_new(d->k);
    /* our reference: conv, then BN, then ReLU, in double; bound from the folded weights */
    float *wf = malloc(nw * sizeof(float)), *bf = malloc((size_t)d->k * sizeof(float));
    double *ya = malloc(ny * sizeof(double)), *ab = malloc(ny * sizeof(double)), *tmp = malloc(ny * sizeof(double));
    assert_int_equal(((fold_fn)sym(0, "kgen_conv2d_bn_fold"))(d->k, d->c * d->r * d->s, w, NULL, p.gamma, p.beta,
                                                              p.mean, p.var, p.eps, wf, bf),
                     0);
    conv_ref(d, x, w, NULL, ya, NULL);
    conv_ref(d, x, wf, bf, tmp, ab);
    for (int v = 0; v < g_nvar; v++) {
      void *cv = NULL;
      char msg[256] = "";
      assert_int_equal(
          ((new_fn)sym(v, "kgen_conv2d_bn_new"))(d, w, p.gamma, p.beta, p.mean, p.var, p.eps, &cv, msg, sizeof msg), 0);
      for (size_t j = 0; j < ny; j++) y[j] = NAN;
      assert_int_equal(((run_fn)sym(v, "kgen_conv2d_run"))(cv, x, y), 0);
      for (size_t j = 0; j < ny; j++) {
        const int64_t o = (int64_t)(j % (size_t)d->k);
        const double scale = (double)p.gamma[o] / sqrt((double)p.var[o] + (double)p.eps);
        double want = (ya[j] - p.mean[o]) * scale + p.beta[o];
        if (d->relu && want < 0.0) want = 0.0;
        const double bound = (double)(d->c * d->r * d->s + 3) * ldexp(1.0, -24) * (ab[j] + fabs(bf[o])) + 1e-6;
        if (!(fabs(y[j] - want) <= bound))
          fail_msg("%s, shape %zu, y[%zu] = %.9g, expected %.9g (bound %.3g)", g_names[v], i, j, (double)y[j], want,
                   bound);
      }
      ((free_fn)sym(v, "kgen_conv2d_free"))(cv);
    }
    /* a different BN (one channel's beta) gives a result the same check refuses */
    p.beta[d->k - 1] += 0.25f;
    void *cv = NULL;
    assert_int_equal(((new_fn)sym(0, "kgen_conv2d_bn_new"))(d, w, p.gamma, p.beta, p.mean, p.var, p.eps, &cv, NULL, 0),
                     0);
    assert_int_equal(((run_fn)sym(0, "kgen_conv2d_run"))(cv, x, y), 0);
    int off = 0;
    for (size_t j = d->k - 1; j < ny; j += (size_t)d->k) {
      const int64_t o = d->k - 1;
      const double scale = (double)p.gamma[o] / sqrt((double)p.var[o] + (double)p.eps);
      double want = (ya[j] - p.mean[o]) * scale + (p.beta[o] - 0.25f);
      if (d->relu && want < 0.0) want = 0.0;
      off += fabs(y[j] - want) > 0.1;
    }
    assert_true(off > 0);
    ((free_fn)sym(0, "kgen_conv2d_free"))(cv);
    bn_free(&p);
    free(x), free(w), free(y), free(wf), free(bf), free(ya), free(ab), free(tmp);
  }
}

/* ---- bad shapes ----------------------------------------------------------------------------------- */

static void test_bad_shapes(void **state) {
  (void)state;
  static const char *const names[] = {"b", "bn", "c", "h", "k", "pad", "r", "relu", "s", "stride", "w", "wc"};
  /* b bn c h k pad r relu s stride w wc (sorted by name) */
  static const int64_t bad[][12] = {
      {0, 8, 4, 6, 8, 1, 3, 0, 3, 1, 6, 4},  /* zero batch */
      {1, 8, 0, 6, 8, 1, 3, 0, 3, 1, 6, 0},  /* zero channels */
      {1, 8, 4, 6, 8, 1, 3, 0, 3, 0, 6, 4},  /* zero stride */
      {1, 8, 4, 6, 8, 1, 3, 0, 3, 1, 6, 5},  /* weights' channels 5 != input's 4 */
      {1, 9, 4, 6, 8, 1, 3, 0, 3, 1, 6, 4},  /* BN over 9 channels, conv has 8 */
      {1, 8, 4, 2, 8, 0, 3, 0, 3, 1, 6, 4},  /* 3 x 3 filter over 2 rows, no padding */
      {1, 8, 4, 6, 8, 1, 3, 2, 3, 1, 6, 4},  /* relu 2 */
      {1, 8, 4, 6, 8, -1, 3, 0, 3, 1, 6, 4}, /* negative padding */
  };
  static const int64_t good[12] = {1, 8, 4, 6, 8, 1, 3, 1, 3, 1, 6, 4};
  kg_problem gp = {12, names, good, 42, 0, 0};
  void *st = ((kg_create_fn)sym(0, "kg_create"))(&gp);
  assert_non_null(st); /* the same dimensions, consistent, are accepted */
  ((kg_destroy_fn)sym(0, "kg_destroy"))(st);
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    kg_problem p = {12, names, bad[i], 42, 0, 0};
    assert_null(((kg_create_fn)sym(0, "kg_create"))(&p));
  }
  /* the public API says why */
  const desc ok = {1, 4, 6, 6, 8, 4, 3, 3, 1, 1, 8, 1};
  float *w = rand_buf(8 * 4 * 9, 1.0f);
  bn p = bn_new(9);
  char msg[256];
  void *cv = NULL;
  new_fn mk = (new_fn)sym(0, "kgen_conv2d_bn_new");
  assert_int_equal(mk(&ok, w, p.gamma, p.beta, p.mean, p.var, p.eps, &cv, msg, sizeof msg), 0);
  ((free_fn)sym(0, "kgen_conv2d_free"))(cv);
  desc d = ok;
  d.wc = 5;
  assert_int_equal(mk(&d, w, p.gamma, p.beta, p.mean, p.var, p.eps, &cv, msg, sizeof msg), 1);
  assert_null(cv);
  assert_non_null(strstr(msg, "channels mismatch"));
  d = ok, d.bn = 9;
  assert_int_equal(mk(&d, w, p.gamma, p.beta, p.mean, p.var, p.eps, &cv, msg, sizeof msg), 1);
  assert_non_null(strstr(msg, "BatchNorm"));
  d = ok, d.k = 0, d.bn = 0;
  assert_int_equal(mk(&d, w, p.gamma, p.beta, p.mean, p.var, p.eps, &cv, msg, sizeof msg), 1);
  assert_non_null(strstr(msg, ">= 1"));
  d = ok;
  p.var[2] = -1.0f;
  assert_int_equal(mk(&d, w, p.gamma, p.beta, p.mean, p.var, p.eps, &cv, msg, sizeof msg), 1);
  assert_non_null(strstr(msg, "BatchNorm"));
  assert_int_equal(((run_fn)sym(0, "kgen_conv2d_run"))(NULL, w, w), 1);
  bn_free(&p);
  free(w);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fold_equals_bn_after),
      cmocka_unit_test(test_variants_verify),
      cmocka_unit_test(test_public_api),
      cmocka_unit_test(test_bad_shapes),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
