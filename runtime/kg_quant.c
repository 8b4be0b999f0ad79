/* kg_quant.c - the library face of templates/kg_quant.h (one implementation for both). */
#include "kg_quant.h"

#include "../templates/kg_quant.h"

int64_t kg_quant_kpad(int64_t k, int64_t mult) { return kgq_kpad(k, mult); }

kg_status kg_quant_int8(const float *w, int64_t n, int64_t k, int8_t *q, float *scale) {
  if (!w || !q || !scale || n < 1 || k < 1) return KG_EINVAL;
  kgq_int8(w, n, k, q, scale);
  return KG_OK;
}

static kg_status int4(const float *w, int64_t n, int64_t k, int64_t g, int hqq, uint8_t *q,
                      float *scale, float *zero) {
  if (!w || !q || !scale || !zero || n < 1 || k < 1 || g < 32 || g % 32) return KG_EINVAL;
  kgq_int4(w, n, k, g, hqq, q, scale, zero);
  return KG_OK;
}

kg_status kg_quant_int4(const float *w, int64_t n, int64_t k, int64_t g, uint8_t *q, float *scale,
                        float *zero) {
  return int4(w, n, k, g, 0, q, scale, zero);
}

kg_status kg_quant_int4_hqq(const float *w, int64_t n, int64_t k, int64_t g, uint8_t *q,
                            float *scale, float *zero) {
  return int4(w, n, k, g, 1, q, scale, zero);
}

void kg_dequant_int8(const int8_t *q, const float *scale, int64_t n, int64_t k, float *out) {
  kgq_dequant_int8(q, scale, n, k, out);
}

void kg_dequant_int4(const uint8_t *q, const float *scale, const float *zero, int64_t n, int64_t k,
                     int64_t g, float *out) {
  kgq_dequant_int4(q, scale, zero, n, k, g, out);
}

void kg_quant_error(const float *exact, const float *approx, size_t n, double *rmse, double *maxabs,
                    double *rel) {
  kgq_error(exact, approx, n, rmse, maxabs, rel);
}
