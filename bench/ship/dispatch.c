/*
 * dispatch.c - the shipped library's dispatch overhead (built by bench/ship_bench.sh against an
 * installed `kgen ship` library).  kgen_sgemm on a hot small shape against a direct call of the
 * variant the dispatch chose (its namespaced symbol, found with dlsym), interleaved in blocks
 * so drift affects both alike: median ns per call of each and the median extra ns; and the
 * first call's cost (machine detection, table set-up) against a warm call of the same shape.
 */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <kgen/kgen.h>

static double now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

typedef int (*sgemm_fn)(int64_t, int64_t, int64_t, float, const float *, int64_t, const float *, int64_t, float,
                        float *, int64_t);

int main(int argc, char **argv) {
  const int64_t m = argc > 2 ? atoll(argv[2]) : 4, n = m, k = m;
  float A[64 * 64], B[64 * 64], C[64 * 64];
  for (int i = 0; i < 64 * 64; i++) A[i] = B[i] = 0.5f, C[i] = 0;
  char buf[4096];
  double t0 = now_ns();
  kgen_explain("gemm", buf, sizeof buf); /* the first use: detection and machine choice */
  const double init = now_ns() - t0;
  t0 = now_ns();
  kgen_sgemm(m, n, k, 1, A, k, B, n, 0, C, n);
  const double first = now_ns() - t0;
  t0 = now_ns();
  kgen_sgemm(m, n, k, 1, A, k, B, n, 0, C, n);
  const double second = now_ns() - t0;
  kgen_explain("gemm", buf, sizeof buf);
  char *v = strstr(buf, "variant: ");
  char sym[128] = "";
  if (v) sscanf(v + 9, "%100[^ ]", sym);
  char *pp = strstr(buf, "(params ");
  char params[512] = "";
  if (pp) sscanf(pp + 8, "%500[^;]", params);
  strcat(sym, "kgen_sgemm");
  void *lib = dlopen(argc > 1 ? argv[1] : "libkgen.so", RTLD_NOW);
  sgemm_fn direct = lib ? (sgemm_fn)dlsym(lib, sym) : NULL;
  if (!direct) {
    fprintf(stderr, "dispatch: %s not found\n", sym);
    return 1;
  }
  enum { BLOCKS = 201, CALLS = 2000 };
  static double lib_ns[BLOCKS], dir_ns[BLOCKS], extra[BLOCKS];
  for (int b = 0; b < BLOCKS; b++) {
    t0 = now_ns();
    for (int i = 0; i < CALLS; i++) kgen_sgemm(m, n, k, 1, A, k, B, n, 0, C, n);
    double t1 = now_ns();
    for (int i = 0; i < CALLS; i++) direct(m, n, k, 1, A, k, B, n, 0, C, n);
    double t2 = now_ns();
    lib_ns[b] = (t1 - t0) / CALLS, dir_ns[b] = (t2 - t1) / CALLS, extra[b] = lib_ns[b] - dir_ns[b];
  }
  qsort(lib_ns, BLOCKS, sizeof(double), cmp), qsort(dir_ns, BLOCKS, sizeof(double), cmp), qsort(extra, BLOCKS, sizeof(double), cmp);
  printf("dispatch overhead, sgemm %lldx%lldx%lld (%s), %d blocks of %d calls, interleaved:\n", (long long)m,
         (long long)n, (long long)k, sym, BLOCKS, CALLS);
  printf("  kgen_sgemm      median %8.1f ns/call\n  direct variant  median %8.1f ns/call (baseline, same run)\n",
         lib_ns[BLOCKS / 2], dir_ns[BLOCKS / 2]);
  printf("  extra           median %8.1f ns/call (p10 %.1f, p90 %.1f); ratio %.3f\n", extra[BLOCKS / 2], extra[BLOCKS / 10],
         extra[BLOCKS * 9 / 10], lib_ns[BLOCKS / 2] / dir_ns[BLOCKS / 2]);
  printf("  params %s\n", params);
  printf("  first use       %8.0f ns (CPU detection, machine choice, thread caps: kgen_explain's first call)\n", init);
  printf("  first call      %8.0f ns (shape choice + the variant's own first use: workspace, helper threads);"
         " second call %.0f ns\n", first, second);
  return 0;
}
