/*
 * moe_paired_cache.c - a MoE-style FFN loop over kgen's shipped library: each token's router
 * picks a set of active neurons (the mask), the Paired Replacement cache keeps their up and
 * down rows packed, and two GEMMs run on the packed rows only:
 *   h[T, m] = relu(x[T, hidden] * up_packed[m, hidden]^T),  y[T, hidden] = h * down_packed[m, hidden].
 * Checked against the same computation on the pools.  Uses only <kgen/kgen.h>.
 */
#include <kgen/kgen.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
  const int64_t N = 2048, hidden = 64, T = 4; /* neurons, model width, tokens per step */
  float *up = malloc(sizeof(float) * N * hidden), *down_t = malloc(sizeof(float) * N * hidden);
  float *x = malloc(sizeof(float) * T * hidden), *h = malloc(sizeof(float) * T * N), *y = malloc(sizeof(float) * T * hidden);
  float *upT = malloc(sizeof(float) * hidden * N);
  uint8_t *mask = calloc(N, 1);
  unsigned s = 1;
  for (int64_t i = 0; i < N * hidden; i++) up[i] = (float)((s = s * 1103515245 + 12345) >> 16 & 255) / 256.0f - 0.5f;
  for (int64_t i = 0; i < N * hidden; i++) down_t[i] = (float)((s = s * 1103515245 + 12345) >> 16 & 255) / 256.0f - 0.5f;
  kgen_paired_cache *c = kgen_paired_cache_new(N, hidden, hidden, 0, up, down_t, NULL);
  if (!c) {
    fprintf(stderr, "kgen_paired_cache_new: %s\n", kgen_last_error());
    return 1;
  }
  double worst = 0;
  for (int step = 0; step < 20; step++) {
    for (int64_t j = 0; j < N; j++) mask[j] = ((s = s * 1103515245 + 12345) >> 16) % 8 == 0; /* ~1/8 active */
    for (int64_t i = 0; i < T * hidden; i++) x[i] = (float)((s = s * 1103515245 + 12345) >> 16 & 255) / 256.0f - 0.5f;
    if (kgen_paired_cache_update(c, mask)) {
      fprintf(stderr, "update: %s\n", kgen_last_error());
      return 1;
    }
    const int64_t m = kgen_paired_cache_size(c);
    const float *upk = kgen_paired_cache_concat(c), *downk = kgen_paired_cache_down_t(c);
    const int32_t *idx = kgen_paired_cache_indices(c);
    /* up_packed^T: [hidden, m] */
    for (int64_t r = 0; r < m; r++)
      for (int64_t t = 0; t < hidden; t++) upT[t * m + r] = upk[r * hidden + t];
    if (kgen_sgemm(T, m, hidden, 1.0f, x, hidden, upT, m, 0.0f, h, m)) {
      fprintf(stderr, "sgemm: %s\n", kgen_last_error());
      return 1;
    }
    for (int64_t i = 0; i < T * m; i++) h[i] = h[i] > 0 ? h[i] : 0;
    if (kgen_sgemm(T, hidden, m, 1.0f, h, m, downk, hidden, 0.0f, y, hidden)) {
      fprintf(stderr, "sgemm: %s\n", kgen_last_error());
      return 1;
    }
    for (int64_t t = 0; t < T; t++) /* the same on the pools, in double */
      for (int64_t o = 0; o < hidden; o++) {
        double acc = 0;
        for (int64_t r = 0; r < m; r++) {
          double a = 0;
          for (int64_t q = 0; q < hidden; q++) a += (double)x[t * hidden + q] * up[idx[r] * hidden + q];
          acc += (a > 0 ? a : 0) * down_t[idx[r] * hidden + o];
        }
        worst = fmax(worst, fabs(acc - y[t * hidden + o]));
      }
  }
  char buf[2048];
  kgen_explain("paired_cache", buf, sizeof buf);
  printf("%s", buf);
  printf("moe: 20 steps, %lld active rows at the end, max |error| %.3g\n", (long long)kgen_paired_cache_size(c), worst);
  kgen_paired_cache_free(c);
  free(up), free(down_t), free(x), free(h), free(y), free(upT), free(mask);
  return worst < 1e-3 ? 0 : 1;
}
