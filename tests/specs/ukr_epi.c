/* ukr_epi.c - gemm_ukr.h with an epilogue (tests/specs/ukr_epi.lua): C[m, n] = epi(A[m, k] W[n, k]^T)
 * with epi(v, i, j) = max(v + bias[j], 0) + i, packed with gemm_pack_a / gemm_pack_bt in KC = 16
 * blocks (the last one applies the epilogue with beta 1), every tile through gemm_tile_epi. */
#include "../../templates/kg_util.h"

#include <math.h>
#include <stdlib.h>

typedef struct gemm_epi {
  const float *bias;
} gemm_epi;

static inline float gemm_epi1(float v, const gemm_epi *e, int64_t i, int64_t j) {
  v += e->bias[j];
  return (v > 0 ? v : 0.0f) + (float)i;
}
#if defined(__AVX512F__)
#include <immintrin.h>
static inline __m512 gemm_epi16(__m512 v, const gemm_epi *e, int64_t i, int64_t j) {
  v = _mm512_max_ps(_mm512_add_ps(v, _mm512_loadu_ps(e->bias + j)), _mm512_setzero_ps());
  return _mm512_add_ps(v, _mm512_set1_ps((float)i));
}
#endif
#if defined(__AVX2__)
#include <immintrin.h>
static inline __m256 gemm_epi8(__m256 v, const gemm_epi *e, int64_t i, int64_t j) {
  v = _mm256_max_ps(_mm256_add_ps(v, _mm256_loadu_ps(e->bias + j)), _mm256_setzero_ps());
  return _mm256_add_ps(v, _mm256_set1_ps((float)i));
}
#endif

#define GEMM_UKR_EPILOGUE 1
/*$slot gemm_ukr_config
GEMM_UKR_EPILOGUE = true
$*/
/*$end*/
#include "../../templates/gemm_ukr.h"

#define UE_KC 16

typedef struct ue {
  int64_t m, k, n;
  float *a, *w, *bias, *c, *ap, *bp;
} ue;

void *kg_create(const kg_problem *p) {
  int64_t m = kg_dim(p, "m", 0), k = kg_dim(p, "k", 0), n = kg_dim(p, "n", 0);
  if (m < 1 || k < 1 || n < 1) return NULL;
  ue *s = calloc(1, sizeof *s);
  s->m = m, s->k = k, s->n = n;
  s->a = malloc((size_t)(m * k) * 4), s->w = malloc((size_t)(n * k) * 4), s->bias = malloc((size_t)(n + 64) * 4);
  s->c = malloc((size_t)(m * n) * 4);
  s->ap = malloc((size_t)(UE_KC * MR) * 4), s->bp = malloc((size_t)(UE_KC * NR) * 4);
  uint64_t seed = p->seed;
  kg_fill_float(s->a, (size_t)(m * k), &seed);
  kg_fill_float(s->w, (size_t)(n * k), &seed);
  kg_fill_float(s->bias, (size_t)(n + 64), &seed);
  return s;
}

void kg_run(void *state) {
  ue *s = state;
  const gemm_epi e = {s->bias};
  for (int64_t pc = 0; pc < s->k; pc += UE_KC) {
    const int64_t kc = GEMM_MIN(UE_KC, s->k - pc);
    const int last = pc + UE_KC >= s->k;
    for (int64_t j0 = 0; j0 < s->n; j0 += NR) {
      const int64_t nr = GEMM_MIN(NR, s->n - j0);
      gemm_pack_bt(kc, nr, s->w + j0 * s->k + pc, s->k, s->bp);
      for (int64_t i0 = 0; i0 < s->m; i0 += MR) {
        const int64_t mr = GEMM_MIN(MR, s->m - i0);
        gemm_pack_a(mr, kc, s->a + i0 * s->k + pc, s->k, s->ap);
        float *c = s->c + i0 * s->n + j0;
        if (last) gemm_tile_epi(kc, mr, nr, s->ap, s->bp, c, s->n, pc ? 1.0f : 0.0f, &e, i0, j0);
        else gemm_tile(kc, mr, nr, s->ap, s->bp, c, s->n, 1.0f, pc ? 1.0f : 0.0f);
      }
    }
  }
}

int kg_verify(void *state, char *msg, size_t cap) {
  ue *s = state;
  memset(s->c, 0xff, (size_t)(s->m * s->n) * 4);
  kg_run(s);
  for (int64_t i = 0; i < s->m; i++)
    for (int64_t j = 0; j < s->n; j++) {
      double acc = s->bias[j];
      for (int64_t p = 0; p < s->k; p++) acc += (double)s->a[i * s->k + p] * s->w[j * s->k + p];
      double ref = (acc > 0 ? acc : 0.0) + (double)i, got = s->c[i * s->n + j];
      if (!(fabs(got - ref) <= 1e-4)) {
        snprintf(msg, cap, "C[%lld, %lld] = %.7g, expected %.7g", (long long)i, (long long)j, got, ref);
        return 1;
      }
    }
  return 0;
}

void kg_destroy(void *state) {
  ue *s = state;
  free(s->a), free(s->w), free(s->bias), free(s->c), free(s->ap), free(s->bp), free(s);
}
