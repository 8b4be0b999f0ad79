/*
 * qmatmul_page_order.c - the int4 VNNI decode loop's memory access orders alone (issue 16): is a
 * 4 KB page read as two streams (adjacent 2 KB rows of one block) slower than in page order?
 * Reads ROWS x ROWBYTES bytes of int4 codes cold (a 512 MB sweep before every sample), THREADS
 * threads each over a contiguous half, with qmatmul's inner loop (two masks, a shift and two
 * vpdpbusd per 64 bytes), in 31 interleaved rounds; prints the median and best GB/s of each order
 * and the median's ratio to a plain 8-stream read pass measured in the same rounds.
 *   rows:   NB rows at a time, 64 bytes of each per step (qmatmul before the page order); pf =
 *           the next block's rows prefetched into L2 a step at a time
 *   phased: super-blocks of NB * S rows (S = 4096 / ROWBYTES), NB rows S apart per phase (qmatmul's
 *           page order, templates/qmatmul.c qm_page_rows)
 *   groups: phased, with g = 128 group scales and zero points as the template reads them: a scale
 *           broadcast, a convert and an FMA per row and step, the zero points' share once per row;
 *           scales [rows, ng] and zeros [rows, ng] apart (the template's layout), the next block's
 *           prefetched at its start
 *   groups1: the same with one table [rows][ng scales, ng zeros] (one short stream per row, not two)
 * GB/s counts the bytes each order reads (the group modes: codes, scales and zeros).
 * Standalone (needs AVX-512 VNNI):
 *   cc -O2 -fopenmp bench/qmatmul_page_order.c -o /tmp/po && /tmp/po 4096 2048 2
 * (int4 k = 4096 n = 4096: 2 KB rows; 7168 4096 2 is k = 8192 n = 7168, where the orders agree.)
 * The CMake build compiles it without OpenMP (so it keeps compiling); that binary says so and exits.
 */
#include <stdio.h>
#ifndef _OPENMP
int main(int argc, char **argv) {
  (void)argc;
  fprintf(stderr, "%s: built without OpenMP; build it as its header says (cc -O2 -fopenmp ...)\n", argv[0]);
  return 2;
}
#else
#include <immintrin.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}
static volatile int sink[64];
static const int8_t *XQ;
static const float *SC, *ZP, *XT; /* group tables (groups: scales, zeros; groups1: SC only), group sums of xq */

enum { READ, ROWS, PHASED, GROUPS, GROUPS1 };

__attribute__((target("avx512f,avx512bw,avx512vnni"))) static int run(const uint8_t *p, int64_t rows, int64_t rb,
                                                                      int mode, int NB, int pf) {
  const __m512i m4 = _mm512_set1_epi8(15);
  __m512i tot = _mm512_setzero_si512();
  if (mode == READ) { /* runtime/kg_roofline.c's read pass: 8 interleaved streams, 256 B per step */
    const int64_t n = rows * rb, sl = n / 8 / 256 * 256;
    __m512i a0 = tot, a1 = tot, a2 = tot, a3 = tot;
    for (int64_t i = 0; i < sl; i += 256)
      for (int s = 0; s < 8; s++) {
        const uint8_t *q = p + s * sl + i;
        a0 = _mm512_add_epi64(a0, _mm512_load_si512(q));
        a1 = _mm512_add_epi64(a1, _mm512_load_si512(q + 64));
        a2 = _mm512_add_epi64(a2, _mm512_load_si512(q + 128));
        a3 = _mm512_add_epi64(a3, _mm512_load_si512(q + 192));
      }
    return _mm512_reduce_add_epi32(_mm512_add_epi64(_mm512_add_epi64(a0, a1), _mm512_add_epi64(a2, a3)));
  }
  const int64_t S = mode == PHASED && 4096 / rb > 1 ? 4096 / rb : 1, sb = NB * S;
  for (int64_t r0 = 0; r0 < rows; r0 += sb)
    for (int64_t h = 0; h < S; h++) {
      __m512i acc[16];
      for (int s = 0; s < 16; s++) acc[s] = _mm512_setzero_si512();
      for (int64_t o = 0; o < rb; o += 64) {
        if (pf && r0 + sb < rows)
          for (int s = 0; s < NB; s++) _mm_prefetch((const char *)p + (r0 + sb + s * S + h) * rb + o, _MM_HINT_T1);
        const __m512i xlo = _mm512_loadu_si512(XQ + 2 * o), xhi = _mm512_loadu_si512(XQ + 2 * o + 64);
        for (int s = 0; s < NB; s++) {
          const __m512i w = _mm512_load_si512(p + (r0 + s * S + h) * rb + o);
          acc[s] = _mm512_dpbusd_epi32(acc[s], _mm512_and_si512(w, m4), xlo);
          acc[s] = _mm512_dpbusd_epi32(acc[s], _mm512_and_si512(_mm512_srli_epi16(w, 4), m4), xhi);
        }
      }
      for (int s = 0; s < NB; s++) tot = _mm512_add_epi32(tot, acc[s]);
    }
  return _mm512_reduce_add_epi32(tot);
}

/* The phased order with g = 128 groups (one per 64-byte step); rows [row0, row0 + rows) of the tables. */
__attribute__((target("avx512f,avx512bw,avx512vnni"))) static float run_groups(const uint8_t *p, int64_t rows,
                                                                             int64_t rb, int one_table, int NB,
                                                                             int pf, int64_t row0) {
  const __m512i m4 = _mm512_set1_epi8(15);
  const int64_t S = 4096 / rb > 1 ? 4096 / rb : 1, sb = NB * S, ng = rb / 64, st = one_table ? 2 * ng : ng;
  const float *sc0 = SC + row0 * st, *zp0 = one_table ? sc0 + ng : ZP + row0 * ng;
  float out = 0;
  for (int64_t r0 = 0; r0 < rows; r0 += sb)
    for (int64_t h = 0; h < S; h++) {
      const int64_t rn = r0 + sb < rows ? r0 + sb + h : -1; /* the next block's first row */
      if (pf && rn >= 0)
        for (int s = 0; s < NB; s++)
          for (int64_t o = 0; o < ng * 4; o += 64) {
            _mm_prefetch((const char *)(sc0 + (rn + s * S) * st) + o, _MM_HINT_T1);
            _mm_prefetch((const char *)(zp0 + (rn + s * S) * st) + o, _MM_HINT_T1);
          }
      __m512 facc[16];
      for (int s = 0; s < 16; s++) facc[s] = _mm512_setzero_ps();
      for (int64_t o = 0, ui = 0; o < rb; o += 64, ui++) {
        if (pf && rn >= 0)
          for (int s = 0; s < NB; s++) _mm_prefetch((const char *)p + (rn + s * S) * rb + o, _MM_HINT_T1);
        const __m512i xlo = _mm512_loadu_si512(XQ + 2 * o), xhi = _mm512_loadu_si512(XQ + 2 * o + 64);
        for (int s = 0; s < NB; s++) {
          const int64_t r = r0 + s * S + h;
          const __m512i w = _mm512_load_si512(p + r * rb + o);
          __m512i a = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_and_si512(w, m4), xlo);
          a = _mm512_dpbusd_epi32(a, _mm512_and_si512(_mm512_srli_epi16(w, 4), m4), xhi);
          facc[s] = _mm512_fmadd_ps(_mm512_set1_ps(sc0[r * st + ui]), _mm512_cvtepi32_ps(a), facc[s]);
        }
      }
      for (int s = 0; s < NB; s++) {
        const int64_t r = r0 + s * S + h;
        __m512 cv = _mm512_setzero_ps();
        int64_t gi = 0;
        for (; gi + 16 <= ng; gi += 16)
          cv = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_loadu_ps(sc0 + r * st + gi), _mm512_loadu_ps(zp0 + r * st + gi)),
                               _mm512_loadu_ps(XT + gi), cv);
        float corr = _mm512_reduce_add_ps(cv);
        for (; gi < ng; gi++) corr += sc0[r * st + gi] * zp0[r * st + gi] * XT[gi]; /* rows under 1 KB */
        out += _mm512_reduce_add_ps(facc[s]) - corr;
      }
    }
  return out;
}

static int cmp(const void *a, const void *b) {
  const double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: %s ROWS ROWBYTES THREADS   (e.g. 4096 2048 2)\n", argv[0]);
    return 2;
  }
  if (!__builtin_cpu_supports("avx512vnni") || !__builtin_cpu_supports("avx512bw")) {
    fprintf(stderr, "%s: needs AVX-512 VNNI and BW\n", argv[0]);
    return 2;
  }
  const int64_t rows = atol(argv[1]), rb = atol(argv[2]);
  const int th = atoi(argv[3]);
  const int64_t S = rb > 0 && rb < 4096 ? 4096 / rb : 1; /* the largest super-block: 16 x S rows */
  if (rows <= 0 || rb < 128 || rb % 64 || rb > 8192 || th < 1 || th > 64 || rows % (16 * S * th)) {
    fprintf(stderr, "%s: ROWBYTES 128..8192 in steps of 64, ROWS a multiple of 16 x THREADS x 4096 / ROWBYTES\n",
            argv[0]);
    return 2;
  }
  const size_t bytes = (size_t)(rows * rb), al = 2u << 20, alloc = (bytes + al - 1) / al * al, fl = 512u << 20;
  uint8_t *b = aligned_alloc(al, alloc), *f = aligned_alloc(al, fl);
  int8_t *xq = aligned_alloc(64, 16384);
  if (!b || !f || !xq) {
    fprintf(stderr, "%s: out of memory\n", argv[0]);
    return 1;
  }
  const int64_t ng = rb / 64; /* g = 128: a group per 64 bytes of a row */
  float *sc = aligned_alloc(64, (size_t)(rows * ng) * 8), *zp = aligned_alloc(64, (size_t)(rows * ng) * 4),
        *xt = aligned_alloc(64, (size_t)ng * 4 + 64);
  if (!sc || !zp || !xt) {
    fprintf(stderr, "%s: out of memory\n", argv[0]);
    return 1;
  }
  for (int64_t i = 0; i < rows * ng * 2; i++) sc[i] = 1.0f;
  for (int64_t i = 0; i < rows * ng; i++) zp[i] = 1.0f;
  for (int64_t i = 0; i < ng; i++) xt[i] = 1.0f;
  SC = sc, ZP = zp, XT = xt;
  madvise(b, alloc, MADV_HUGEPAGE), madvise(f, fl, MADV_HUGEPAGE);
  memset(xq, 1, 16384), memset(f, 1, fl), memset(b, 3, bytes);
  XQ = xq;
  static const struct { const char *name; int mode, nb, pf; } cf[] = {
      {"read", READ, 0, 0},     {"rows", ROWS, 4, 0},     {"rows", ROWS, 8, 0},     {"rows", ROWS, 8, 1},
      {"rows", ROWS, 16, 1},    {"phased", PHASED, 4, 0}, {"phased", PHASED, 8, 0}, {"phased", PHASED, 8, 1},
      {"phased", PHASED, 16, 1}, {"groups", GROUPS, 4, 1}, {"groups", GROUPS, 8, 1},
      {"groups1", GROUPS1, 4, 1}, {"groups1", GROUPS1, 8, 1}};
  enum { NC = sizeof cf / sizeof cf[0], R = 31 };
  static double t[NC][R];
  for (int r = 0; r < R; r++)
    for (int c = 0; c < NC; c++) {
      uint64_t x = 0;
#pragma omp parallel for num_threads(th) reduction(+ : x)
      for (size_t i = 0; i < fl; i += 64) x += f[i]; /* evict the weights */
      sink[63] = (int)x;
      const double t0 = now();
#pragma omp parallel num_threads(th)
      {
        const int tt = omp_get_thread_num();
        const int64_t lo = rows * tt / th, hi = rows * (tt + 1) / th;
        if (cf[c].mode >= GROUPS)
          sink[tt] = (int)run_groups(b + lo * rb, hi - lo, rb, cf[c].mode == GROUPS1, cf[c].nb, cf[c].pf, lo);
        else
          sink[tt] = run(b + lo * rb, hi - lo, rb, cf[c].mode, cf[c].nb, cf[c].pf);
      }
      t[c][r] = now() - t0;
    }
  double ref = 0;
  printf("%lld rows x %lld bytes (%.1f MB), %d threads, cold, %d rounds\n", (long long)rows, (long long)rb, bytes / 1e6, th, R);
  for (int c = 0; c < NC; c++) {
    qsort(t[c], R, sizeof(double), cmp);
    const double by = cf[c].mode >= GROUPS ? bytes + rows * ng * 8.0 : (double)bytes, p50 = by / t[c][R / 2] / 1e9;
    if (c == 0) ref = p50;
    printf("%-7s nb %2d pf %d: p50 %5.1f GB/s  best %5.1f  p50 / read %.2f\n", cf[c].name, cf[c].nb, cf[c].pf, p50,
           by / t[c][0] / 1e9, p50 / ref);
  }
  free(b), free(f), free(xq), free(sc), free(zp), free(xt);
  return 0;
}
#endif /* _OPENMP */
