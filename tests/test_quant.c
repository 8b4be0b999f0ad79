/*
 * test_quant.c - the quantizer of templates/kg_quant.h (the one qmatmul.c compiles): each recipe's quantize-then-dequantize error stays within its
 * bound (half a quantization step per weight), HQQ's reconstruction error is below min-max's at
 * every group size on seeded weights, edge shapes (k not a multiple of g, k < g, constant
 * groups); prints the accuracy of each recipe against fp32 (weights and the
 * matmul output y = x W^T), the figures reported for specs/qmatmul.lua.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../templates/kg_quant.h"

static uint64_t rng = 12345;
static float frand(void) {
  rng = rng * 6364136223846793005ull + 1442695040888963407ull;
  return (float)((double)(rng >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

/* Weights like a trained layer's: mostly small, a few outliers. */
static void fill_weights(float *w, size_t n) {
  for (size_t i = 0; i < n; i++) {
    float u = frand();
    w[i] = 0.02f * u * u * u + 0.01f * frand() + (i % 97 == 0 ? 0.05f * frand() : 0.0f);
  }
}

/* max |w - dequant(w)| <= step / 2 per weight (plus float slack). */
static void check_int4(int64_t n, int64_t k, int64_t g, int hqq) {
  float *w = malloc((size_t)(n * k) * sizeof(float)), *d = malloc((size_t)(n * k) * sizeof(float));
  int64_t kpad = kgq_kpad(k, g), ng = kpad / g;
  uint8_t *q = malloc((size_t)(n * kpad / 2));
  float *s = malloc((size_t)(n * ng) * sizeof(float)), *z = malloc((size_t)(n * ng) * sizeof(float));
  fill_weights(w, (size_t)(n * k));
  kgq_int4(w, n, k, g, hqq, q, s, z);
  kgq_dequant_int4(q, s, z, n, k, g, d);
  for (int64_t r = 0; r < n; r++)
    for (int64_t t = 0; t < k; t++) {
      double err = fabs((double)w[r * k + t] - d[r * k + t]), step = s[r * ng + t / g];
      /* min-max: half a step; HQQ moves the zero, so a code may clip: allow one step */
      if (!(err <= (hqq ? 1.0 : 0.5) * step * 1.0001 + 1e-7))
        fail_msg("int4 g=%lld hqq=%d: w[%lld,%lld] err %g > step %g", (long long)g, hqq, (long long)r, (long long)t,
                 err, step);
    }
  free(w), free(d), free(q), free(s), free(z);
}

static void test_int8(void **state) {
  const int64_t n = 7, k = 100; /* k not a multiple of 64 */
  float w[7 * 100], d[7 * 100], s[7];
  int8_t q[7 * 128];
  fill_weights(w, sizeof w / sizeof *w);
  w[3 * k + 5] = 0.0f;
  for (int64_t t = 0; t < k; t++) w[6 * k + t] = 0.0f; /* all-zero row */
  kgq_int8(w, n, k, q, s);
  kgq_dequant_int8(q, s, n, k, d);
  for (int64_t r = 0; r < n; r++)
    for (int64_t t = 0; t < k; t++) assert_true(fabs((double)w[r * k + t] - d[r * k + t]) <= 0.5 * s[r] * 1.0001);
  for (int64_t r = 0; r < n; r++)
    for (int64_t t = k; t < 128; t++) assert_int_equal(q[r * 128 + t], 0); /* padding */
}

static void test_int4_bounds(void **state) {
  const int64_t gs[] = {32, 64, 128, 256};
  for (int i = 0; i < 4; i++) {
    check_int4(5, 1000, gs[i], 0); /* 1000 is not a multiple of any g */
    check_int4(5, 1000, gs[i], 1);
    check_int4(3, 20, gs[i], 0); /* k < g */
    check_int4(3, 20, gs[i], 1);
  }
  /* constant groups reconstruct exactly */
  float w[64], d[64], s[2], z[2];
  uint8_t q[32];
  for (int t = 0; t < 32; t++) w[t] = -0.25f, w[32 + t] = 0.5f;
  kgq_int4(w, 1, 64, 32, 0, q, s, z);
  kgq_dequant_int4(q, s, z, 1, 64, 32, d);
  for (int t = 0; t < 64; t++) assert_float_equal(d[t], w[t], 1e-7);
}

/* Accuracy of each recipe against fp32, on weights and on y = x W^T; HQQ beats min-max. */
static void test_accuracy(void **state) {
  const int64_t n = 256, k = 4096, M = 1;
  float *w = malloc((size_t)(n * k) * sizeof(float)), *d = malloc((size_t)(n * k) * sizeof(float));
  float *x = malloc((size_t)(M * k) * sizeof(float)), y[256], yq[256];
  uint8_t *q = malloc((size_t)(n * k));
  float *s = malloc((size_t)(n * k / 32) * sizeof(float)), *z = malloc((size_t)(n * k / 32) * sizeof(float));
  fill_weights(w, (size_t)(n * k));
  for (int64_t t = 0; t < k; t++) x[t] = frand();
  for (int64_t r = 0; r < n; r++) {
    double a = 0;
    for (int64_t t = 0; t < k; t++) a += (double)x[t] * w[r * k + t];
    y[r] = (float)a;
  }
  printf("recipe          weight RMSE  weight max   weight rel   y RMSE       y max        y rel\n");
  double prev_minmax = 0;
  for (int rc = 0; rc < 9; rc++) {
    const int64_t g = rc == 0 ? 0 : 32 << ((rc - 1) / 2);
    const int hqq = rc > 0 && (rc - 1) % 2 == 1;
    if (rc == 0) {
      kgq_int8(w, n, k, (int8_t *)q, s);
      kgq_dequant_int8((int8_t *)q, s, n, k, d);
    } else {
      kgq_int4(w, n, k, g, hqq, q, s, z);
      kgq_dequant_int4(q, s, z, n, k, g, d);
    }
    for (int64_t r = 0; r < n; r++) {
      double a = 0;
      for (int64_t t = 0; t < k; t++) a += (double)x[t] * d[r * k + t];
      yq[r] = (float)a;
    }
    double wr, wm, wl, yr, ym, yl;
    kgq_error(w, d, (size_t)(n * k), &wr, &wm, &wl);
    kgq_error(y, yq, (size_t)n, &yr, &ym, &yl);
    char name[32];
    if (rc == 0) snprintf(name, sizeof name, "int8");
    else snprintf(name, sizeof name, "int4 g=%lld%s", (long long)g, hqq ? " hqq" : "");
    printf("%-15s %-12.4g %-12.4g %-12.4g %-12.4g %-12.4g %-12.4g\n", name, wr, wm, wl, yr, ym, yl);
    if (rc == 0) assert_true(wl < 0.02);
    else if (!hqq) {
      prev_minmax = wr;
      assert_true(wl < 0.2);
    } else if (!(wr < prev_minmax)) {
      fail_msg("HQQ g=%lld RMSE %g is not below min-max's %g", (long long)g, wr, prev_minmax);
    }
  }
  free(w), free(d), free(x), free(q), free(s), free(z);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_int8),
      cmocka_unit_test(test_int4_bounds),
      cmocka_unit_test(test_accuracy),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
