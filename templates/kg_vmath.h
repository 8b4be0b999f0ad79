/*
 * kg_vmath.h - vectorised exp and log for fp32 lanes, shared by the templates (semiring_scan.c,
 * fusion_linear.c).  Inlined by the expander (templates/ is searched).
 *
 *   kg_exp16(x), kg_log16(x)   16 lanes (AVX-512F)
 *   kg_exp8(x),  kg_log8(x)    8 lanes (AVX2 + FMA)
 *
 * exp: Cody-Waite reduction and a degree-6 Taylor core (relative error <= 1.3e-7 on the reduced
 * range); log: Cephes' logf (Moshier, Cephes Mathematical Library) on the mantissa in
 * [sqrt(1/2), sqrt 2).  Special values as noted at each function.
 */
#ifndef KG_VMATH_H
#define KG_VMATH_H

#include <float.h>
#include <math.h>
#if defined(__AVX2__) || defined(__AVX512F__)
#include <immintrin.h>
#endif

#if defined(__AVX512F__)
/*
 * exp(x): n = round(x / ln 2), r = x - n ln 2 (|r| <= ln 2 / 2; one fused step, exact enough for
 * |n| <= 150), e^r by its degree-6 Taylor polynomial (relative error <= 1.3e-7 on that range), then
 * 2^n by scalef (which also gives 0 and inf beyond float's range).  Cephes' expf has the same
 * reduction with a two-constant ln 2 and a degree-5 minimax core; one fewer step and no upper clamp
 * here (x = +inf gives NaN, any other overflow gives inf).  x = -inf and NaN: 0 and NaN.
 */
static inline __m512 kg_exp16(__m512 x) {
  x = _mm512_max_ps(_mm512_set1_ps(-103.9721f), x); /* NaN stays NaN (second operand) */
  __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                  _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693147180559945f), x);
  __m512 y = _mm512_set1_ps(1.0f / 720.0f);
  y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(1.0f / 120.0f));
  y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(1.0f / 24.0f));
  y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(1.0f / 6.0f));
  y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(0.5f));
  y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(1.0f));
  y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(1.0f));
  return _mm512_scalef_ps(y, n);
}

static inline __m512 kg_log16(__m512 x) {
  /* x = m 2^e, m in [0.5, 1) */
  __m512 e = _mm512_add_ps(_mm512_getexp_ps(x), _mm512_set1_ps(1.0f));
  __m512 m = _mm512_getmant_ps(x, _MM_MANT_NORM_p5_1, _MM_MANT_SIGN_zero);
  __mmask16 small = _mm512_cmp_ps_mask(m, _mm512_set1_ps(0.707106781186547524f), _CMP_LT_OQ);
  e = _mm512_mask_sub_ps(e, small, e, _mm512_set1_ps(1.0f));
  m = _mm512_mask_add_ps(m, small, m, m);
  m = _mm512_sub_ps(m, _mm512_set1_ps(1.0f));
  __m512 z = _mm512_mul_ps(m, m);
  __m512 y = _mm512_set1_ps(7.0376836292E-2f);
  y = _mm512_fmadd_ps(y, m, _mm512_set1_ps(-1.1514610310E-1f));
  y = _mm512_fmadd_ps(y, m, _mm512_set1_ps(1.1676998740E-1f));
  y = _mm512_fmadd_ps(y, m, _mm512_set1_ps(-1.2420140846E-1f));
  y = _mm512_fmadd_ps(y, m, _mm512_set1_ps(1.4249322787E-1f));
  y = _mm512_fmadd_ps(y, m, _mm512_set1_ps(-1.6668057665E-1f));
  y = _mm512_fmadd_ps(y, m, _mm512_set1_ps(2.0000714765E-1f));
  y = _mm512_fmadd_ps(y, m, _mm512_set1_ps(-2.4999993993E-1f));
  y = _mm512_fmadd_ps(y, m, _mm512_set1_ps(3.3333331174E-1f));
  y = _mm512_mul_ps(_mm512_mul_ps(y, m), z);
  y = _mm512_fmadd_ps(e, _mm512_set1_ps(-2.12194440e-4f), y);
  y = _mm512_fnmadd_ps(z, _mm512_set1_ps(0.5f), y);
  __m512 r = _mm512_fmadd_ps(e, _mm512_set1_ps(0.693359375f), _mm512_add_ps(m, y));
  /* special values: log 0 = -inf, log inf = inf, log of a negative or NaN = NaN */
  r = _mm512_mask_mov_ps(r, _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_EQ_OQ), _mm512_set1_ps(-INFINITY));
  r = _mm512_mask_mov_ps(r, _mm512_cmp_ps_mask(x, _mm512_set1_ps(INFINITY), _CMP_EQ_OQ), x);
  r = _mm512_mask_mov_ps(r, _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_NGE_UQ), _mm512_set1_ps(NAN));
  return r;
}
#endif /* __AVX512F__ */

#if defined(__AVX2__) && defined(__FMA__)
/* kg_exp16 on 8 lanes: the same reduction and Taylor core; 2^n without scalef, as 2^(n/2) 2^(n - n/2)
 * built in the exponent field (both factors normal for n in [-150, 128]).  x is clamped to
 * [-103.97, 88.72]: beyond float's range the result is 0 or FLT_MAX (not inf); NaN stays NaN. */
static inline __m256 kg_exp8(__m256 x) {
  x = _mm256_max_ps(_mm256_set1_ps(-103.9721f), x); /* NaN stays NaN (second operand) */
  x = _mm256_min_ps(_mm256_set1_ps(88.7228f), x);
  __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                             _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693147180559945f), x);
  __m256 y = _mm256_set1_ps(1.0f / 720.0f);
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.0f / 120.0f));
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.0f / 24.0f));
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.0f / 6.0f));
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(0.5f));
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.0f));
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.0f));
  const __m256i ni = _mm256_cvtps_epi32(n), n1 = _mm256_srai_epi32(ni, 1), n2 = _mm256_sub_epi32(ni, n1);
  const __m256i bias = _mm256_set1_epi32(127);
  const __m256 p1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, bias), 23));
  const __m256 p2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, bias), 23));
  return _mm256_mul_ps(_mm256_mul_ps(y, p1), p2);
}

/* ss_log on 8 lanes: frexp from the bits (subnormals scaled by 2^23 first), then Cephes' logf as
 * kg_log16; log 0 = -inf, log inf = inf, log of a negative or NaN = NaN. */
static inline __m256 kg_log8(__m256 x) {
  const __m256 sub = _mm256_cmp_ps(x, _mm256_set1_ps(FLT_MIN), _CMP_LT_OQ);
  const __m256 xs = _mm256_blendv_ps(x, _mm256_mul_ps(x, _mm256_set1_ps(8388608.0f)), sub);
  const __m256i bits = _mm256_castps_si256(xs);
  __m256 e = _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_srli_epi32(bits, 23), _mm256_set1_epi32(126)));
  e = _mm256_sub_ps(e, _mm256_and_ps(sub, _mm256_set1_ps(23.0f)));
  __m256 m = _mm256_castsi256_ps(_mm256_or_si256(_mm256_and_si256(bits, _mm256_set1_epi32(0x007fffff)),
                                                 _mm256_set1_epi32(0x3f000000))); /* [0.5, 1) */
  const __m256 small = _mm256_cmp_ps(m, _mm256_set1_ps(0.707106781186547524f), _CMP_LT_OQ);
  e = _mm256_sub_ps(e, _mm256_and_ps(small, _mm256_set1_ps(1.0f)));
  m = _mm256_add_ps(m, _mm256_and_ps(small, m));
  m = _mm256_sub_ps(m, _mm256_set1_ps(1.0f));
  __m256 z = _mm256_mul_ps(m, m);
  __m256 y = _mm256_set1_ps(7.0376836292E-2f);
  y = _mm256_fmadd_ps(y, m, _mm256_set1_ps(-1.1514610310E-1f));
  y = _mm256_fmadd_ps(y, m, _mm256_set1_ps(1.1676998740E-1f));
  y = _mm256_fmadd_ps(y, m, _mm256_set1_ps(-1.2420140846E-1f));
  y = _mm256_fmadd_ps(y, m, _mm256_set1_ps(1.4249322787E-1f));
  y = _mm256_fmadd_ps(y, m, _mm256_set1_ps(-1.6668057665E-1f));
  y = _mm256_fmadd_ps(y, m, _mm256_set1_ps(2.0000714765E-1f));
  y = _mm256_fmadd_ps(y, m, _mm256_set1_ps(-2.4999993993E-1f));
  y = _mm256_fmadd_ps(y, m, _mm256_set1_ps(3.3333331174E-1f));
  y = _mm256_mul_ps(_mm256_mul_ps(y, m), z);
  y = _mm256_fmadd_ps(e, _mm256_set1_ps(-2.12194440e-4f), y);
  y = _mm256_fnmadd_ps(z, _mm256_set1_ps(0.5f), y);
  __m256 r = _mm256_fmadd_ps(e, _mm256_set1_ps(0.693359375f), _mm256_add_ps(m, y));
  r = _mm256_blendv_ps(r, _mm256_set1_ps(-INFINITY), _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_EQ_OQ));
  r = _mm256_blendv_ps(r, x, _mm256_cmp_ps(x, _mm256_set1_ps(INFINITY), _CMP_EQ_OQ));
  r = _mm256_blendv_ps(r, _mm256_set1_ps(NAN), _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_NGE_UQ));
  return r;
}
#endif /* __AVX2__ && __FMA__ */

#endif /* KG_VMATH_H */
