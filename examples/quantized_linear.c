/*
 * quantized_linear.c - a weight-only quantized linear layer with kgen's shipped library:
 * W[n, k] (PyTorch's Linear layout) quantized once per recipe, then y = x W^T for a decode
 * step (m = 1) and a small batch; the error against the fp32 layer is printed and bounded.
 * Uses only <kgen/kgen.h>.
 */
#include <kgen/kgen.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

int main(void) {
  const int64_t n = 96, k = 256;
  float *W = malloc(sizeof(float) * n * k), *x = malloc(sizeof(float) * 8 * k), *y = malloc(sizeof(float) * 8 * n);
  unsigned s = 7;
  for (int64_t i = 0; i < n * k; i++) W[i] = (float)((s = s * 1103515245 + 12345) >> 16 & 1023) / 512.0f - 1.0f;
  for (int64_t i = 0; i < 8 * k; i++) x[i] = (float)((s = s * 1103515245 + 12345) >> 16 & 1023) / 512.0f - 1.0f;
  const char *recipes[] = {"int8wo", "int4wo-64", "int4wo-128-hqq"};
  const double bound[] = {0.02, 0.2, 0.2};
  int bad = 0;
  for (int r = 0; r < 3; r++) {
    kgen_qweight *w = kgen_qweight_new(W, n, k, recipes[r]);
    if (!w) {
      fprintf(stderr, "%s: %s\n", recipes[r], kgen_last_error());
      return 1;
    }
    const int64_t ms[] = {1, 8};
    for (int b = 0; b < 2; b++) {
      if (kgen_qmatmul(w, ms[b], x, y)) {
        fprintf(stderr, "qmatmul: %s\n", kgen_last_error());
        return 1;
      }
      double se = 0, sr = 0;
      for (int64_t i = 0; i < ms[b]; i++)
        for (int64_t j = 0; j < n; j++) {
          double ref = 0;
          for (int64_t t = 0; t < k; t++) ref += (double)x[i * k + t] * W[j * k + t];
          se += (y[i * n + j] - ref) * (y[i * n + j] - ref), sr += ref * ref;
        }
      printf("%-16s m %lld: relative error %.4f\n", recipes[r], (long long)ms[b], sqrt(se / sr));
      bad += !(sqrt(se / sr) < bound[r]);
    }
    kgen_qweight_free(w);
  }
  char buf[2048];
  kgen_explain("qmatmul", buf, sizeof buf);
  printf("%s", buf);
  free(W), free(x), free(y);
  return bad;
}
