/*
 * gemm_stream_loop.c - gemm's PACK = 3 loop for m = 16 alone, on one core (issue 16: which bound
 * stops m = 16).  The template's 8 x 48 AVX-512 microkernel (templates/gemm.c gemm_ukr_stream: B
 * rows read in place, ldb apart; A packed [kc][8]; each A element broadcast into a register and
 * used by three FMAs), timed three ways against a loop of 24 independent register FMA chains:
 *   L1:    one 64-row sliver of B and its A, L1-resident, over and over (the microkernel's own
 *          rate), and the same with each FMA reading its A element as an embedded {1to16}
 *          broadcast (no broadcast into a register);
 *   loop:  the PACK = 3 walk over a 1024-deep B of N columns (row stride N): per depth block of
 *          KC rows, every 48-column tile twice (rows 0-7, then 8-15), C's tile loaded and stored
 *          per block.  N = 1008 keeps B (4 MB) in L3 (warm); N = 8208 (34 MB) streams it from
 *          DRAM, without the template's software prefetch (cold).
 * Prints GFLOP/s (best of 20 passes) for one core; run two at once (taskset -c 0 / -c 1) to see
 * both cores share L3 and DRAM.  Built with the JIT's compiler and flags (GCC -O2 keeps the
 * accumulator arrays in memory, and the figures would be GCC's):
 *   clang-16 -O3 -march=native bench/gemm_stream_loop.c -o /tmp/gsl && /tmp/gsl [N KC]
 * (default: the L1 figures, then N 1008 and 8208 at KC 32, 128, 256).  The CMake build (GCC -O2)
 * compiles only a main that says so.
 */
#include <stdio.h>
#if !defined(__clang__) || !defined(__OPTIMIZE__)
int main(int argc, char **argv) {
  (void)argc;
  fprintf(stderr, "%s: build it with clang -O3 -march=native as its header says\n", argv[0]);
  return 2;
}
#else
#include <immintrin.h>
#include <stdlib.h>
#include <time.h>

#define AVX512 __attribute__((target("avx512f")))

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

/* c[8, 48] += a[kc][8] b[kc rows, ldb apart][48]; emb: embedded broadcasts */
AVX512 __attribute__((noinline)) static void ukr(long kc, const float *a, const float *b, long ldb, float *c, long ldc,
                                                 int emb) {
  __m512 acc[8][3];
  for (int i = 0; i < 8; i++)
    for (int j = 0; j < 3; j++) acc[i][j] = _mm512_setzero_ps();
  for (long p = 0; p < kc; p++) {
    const float *bp = b + p * ldb;
    const __m512 b0 = _mm512_loadu_ps(bp), b1 = _mm512_loadu_ps(bp + 16), b2 = _mm512_loadu_ps(bp + 32);
    for (int i = 0; i < 8; i++) {
      const float *ai = a + p * 8 + i;
      if (emb) {
        __asm__("vfmadd231ps %1%{1to16%}, %2, %0" : "+v"(acc[i][0]) : "m"(*ai), "v"(b0));
        __asm__("vfmadd231ps %1%{1to16%}, %2, %0" : "+v"(acc[i][1]) : "m"(*ai), "v"(b1));
        __asm__("vfmadd231ps %1%{1to16%}, %2, %0" : "+v"(acc[i][2]) : "m"(*ai), "v"(b2));
      } else {
        const __m512 av = _mm512_set1_ps(*ai);
        acc[i][0] = _mm512_fmadd_ps(av, b0, acc[i][0]);
        acc[i][1] = _mm512_fmadd_ps(av, b1, acc[i][1]);
        acc[i][2] = _mm512_fmadd_ps(av, b2, acc[i][2]);
      }
    }
  }
  for (int i = 0; i < 8; i++)
    for (int j = 0; j < 3; j++)
      _mm512_storeu_ps(c + i * ldc + j * 16, _mm512_add_ps(_mm512_loadu_ps(c + i * ldc + j * 16), acc[i][j]));
}

/* 24 independent FMA chains in registers, 64 steps: the same FMA count as ukr at kc = 64 */
AVX512 __attribute__((noinline)) static void peak(float *c) {
  __m512 acc[24];
  const __m512 x = _mm512_set1_ps(1.0001f), y = _mm512_set1_ps(0.9999f);
  for (int i = 0; i < 24; i++) acc[i] = _mm512_setzero_ps();
  for (int p = 0; p < 64; p++)
    for (int i = 0; i < 24; i++) {
      __asm__ volatile("" : "+v"(acc[i]));
      acc[i] = _mm512_fmadd_ps(x, y, acc[i]);
    }
  for (int i = 0; i < 24; i++) _mm512_storeu_ps(c + i * 16, _mm512_add_ps(_mm512_loadu_ps(c + i * 16), acc[i]));
}

static float *falloc(long n, float v) {
  float *p = aligned_alloc(64, (size_t)(n + 16) * sizeof(float));
  if (!p) {
    fprintf(stderr, "gemm_stream_loop: out of memory\n");
    exit(1);
  }
  for (long i = 0; i < n + 16; i++) p[i] = v;
  return p;
}

static void l1_figures(void) {
  float *a = falloc(64 * 8, 1e-3f), *b = falloc(64 * 48, 1e-3f), *c = falloc(24 * 16, 0);
  const long reps = 400000;
  const double flops = 2.0 * 8 * 48 * 64 * reps;
  double best[3] = {1e9, 1e9, 1e9};
  for (int r = 0; r < 5; r++)
    for (int v = 0; v < 3; v++) {
      const double t = now();
      for (long n = 0; n < reps; n++) v == 0 ? peak(c) : ukr(64, a, b, 48, c, 48, v == 2);
      const double s = now() - t;
      if (s < best[v]) best[v] = s;
    }
  printf("L1: FMA peak loop %.1f, 8x48 microkernel %.1f, with embedded broadcasts %.1f GFLOP/s (1 core)\n",
         flops / best[0] / 1e9, flops / best[1] / 1e9, flops / best[2] / 1e9);
  free(a), free(b), free(c);
}

static void walk(long n, long kc) {
  const long kk = 1024, nt = n / 48;
  float *a = falloc(16 * kk, 1e-3f), *b = falloc(kk * n, 1e-3f), *c = falloc(16 * n, 0);
  double best = 1e9;
  for (int r = 0; r < 20; r++) {
    const double t = now();
    for (long pc = 0; pc < kk; pc += kc)
      for (long j = 0; j < nt; j++) {
        ukr(kc, a + pc * 8, b + pc * n + j * 48, n, c + j * 48, n, 0);
        ukr(kc, a + (kk + pc) * 8, b + pc * n + j * 48, n, c + 8 * n + j * 48, n, 0);
      }
    const double s = now() - t;
    if (s < best) best = s;
  }
  printf("loop: N %ld KC %ld (B %.1f MB): %.1f GFLOP/s (1 core)\n", n, kc, 4.0 * kk * n / 1e6,
         2.0 * 16 * kk * 48 * nt / best / 1e9);
  free(a), free(b), free(c);
}

int main(int argc, char **argv) {
  if (!__builtin_cpu_supports("avx512f")) {
    fprintf(stderr, "%s: needs AVX-512F\n", argv[0]);
    return 2;
  }
  if (argc == 3) {
    const long n = atol(argv[1]), kc = atol(argv[2]);
    if (n < 48 || kc < 1 || 1024 % kc) {
      fprintf(stderr, "usage: %s [N KC]   (N >= 48 columns, KC divides 1024)\n", argv[0]);
      return 2;
    }
    walk(n, kc);
    return 0;
  }
  l1_figures();
  static const long ns[] = {1008, 8208}, kcs[] = {32, 128, 256};
  for (int i = 0; i < 2; i++)
    for (int j = 0; j < 3; j++) walk(ns[i], kcs[j]);
  return 0;
}
#endif /* __clang__ && __OPTIMIZE__ */
