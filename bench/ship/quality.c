/*
 * quality.c - shipped quality of kgen_sgemm (built by bench/ship_bench.sh against an installed
 * `kgen ship` library).  For 20 shapes absent from tuned/, the library's call against every
 * shipped gemm variant this CPU can run (called directly through its namespaced symbol), all
 * measured in the same run, interleaved per shape: the library's slowdown against the best
 * shipped variant for that shape (median and worst over the shapes).  With arguments m n k
 * instead, prints the library's median time for that one shape and the parameters of the
 * variant it chose (the script sets it beside `kgen bench` of that variant).
 */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <kgen/kgen.h>

typedef int (*sgemm_fn)(int64_t, int64_t, int64_t, float, const float *, int64_t, const float *, int64_t, float,
                        float *, int64_t);

static double now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}
static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* Context switches of the process so far (all its threads, voluntary or not). */
static long switches(void) {
  struct rusage u;
  getrusage(RUSAGE_SELF, &u);
  return u.ru_nivcsw;
}

/* Median ns of one call of f on the shape, measured as `kgen bench` measures (runtime/
 * kg_measure.c): 50 ms of warm-up; samples of enough calls for 20 us; at least `reps` samples
 * and 0.2 s; a sample during which a thread of the process was preempted (an involuntary
 * switch: kgen's rule for samples under 1 ms; longer ones there tolerate 0.5% of run-queue
 * delay) is retaken, at most 100 times. */
static double time_call(sgemm_fn f, int64_t m, int64_t n, int64_t k, const float *A, const float *B, float *C, int reps) {
  /* Let the helper threads of the previous candidate (the library's team spins 0.1 ms after its
   * last job; OpenMP's pool spins longer) fall asleep: on 2 cores they would steal this one's. */
  usleep(60000);
  double t0 = now_ns();
  do f(m, n, k, 1, A, k, B, n, 0, C, n);
  while (now_ns() - t0 < 5e7);
  int calls = 1;
  for (;; calls *= 2) {
    t0 = now_ns();
    for (int i = 0; i < calls; i++) f(m, n, k, 1, A, k, B, n, 0, C, n);
    if (now_ns() - t0 >= 2e4 || calls >= (1 << 20)) break;
  }
  static double s[4096];
  int kept = 0, retaken = 0;
  double measured = 0;
  while (kept < 4096 && (kept < reps || measured < 2e8)) {
    const long cs = switches();
    t0 = now_ns();
    for (int i = 0; i < calls; i++) f(m, n, k, 1, A, k, B, n, 0, C, n);
    const double dt = now_ns() - t0;
    if (switches() != cs && retaken < 100) {
      retaken++;
      continue;
    }
    s[kept++] = dt / calls, measured += dt;
  }
  qsort(s, (size_t)kept, sizeof(double), cmp);
  return s[kept / 2];
}

int main(int argc, char **argv) {
  void *lib = dlopen(argc > 1 ? argv[1] : "libkgen.so", RTLD_NOW);
  if (!lib) return 1;
  /* Room for the largest operand: the 20 shapes' (1500^2), or the one shape's. */
  int64_t cap = 1500 * 1500;
  if (argc == 5) {
    const int64_t m = atoll(argv[2]), n = atoll(argv[3]), k = atoll(argv[4]);
    cap = m * k > cap ? m * k : cap, cap = k * n > cap ? k * n : cap, cap = m * n > cap ? m * n : cap;
  }
  /* 64-byte aligned, as kgen bench's inputs (kg_alloc): misaligned rows cost vector loads a line split */
  float *A = aligned_alloc(64, sizeof(float) * cap), *B = aligned_alloc(64, sizeof(float) * cap);
  float *C = aligned_alloc(64, sizeof(float) * cap);
  for (int64_t i = 0; i < cap; i++) A[i] = B[i] = (float)(i % 13) / 13.0f;
  if (argc == 5) { /* one shape: "<median ns> <params of the variant the library chose>" */
    const double ns = time_call(kgen_sgemm, atoll(argv[2]), atoll(argv[3]), atoll(argv[4]), A, B, C, 15);
    char buf[4096], params[1024] = "?";
    const char *pp = kgen_explain("gemm", buf, sizeof buf) ? NULL : strstr(buf, "(params ");
    if (pp) sscanf(pp + 8, "%1000[^;]", params);
    printf("%.1f %s\n", ns, params);
    return 0;
  }
  sgemm_fn vs[256];
  int nv = 0, wide = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vnni");
  for (int i = 0; i < 256; i++) {
    char sym[64];
    snprintf(sym, sizeof sym, "kgv_gemm_%d_kgen_sgemm", i);
    sgemm_fn f = (sgemm_fn)dlsym(lib, sym);
    if (!f) break;
    if (i >= 2 && !wide) continue; /* 0 portable, 1 AVX2, then the machines' (AVX-512 in tuned/) */
    vs[nv++] = f;
  }
  static const int64_t shapes[20][3] = {{1, 1000, 1000}, {1, 3000, 500}, {2, 2048, 512}, {3, 1000, 1000},
                                        {5, 700, 300}, {8, 4000, 1000}, {17, 65, 1000}, {24, 1024, 1024},
                                        {33, 333, 333}, {48, 96, 96}, {65, 65, 65}, {100, 100, 100},
                                        {96, 1500, 200}, {200, 200, 200}, {300, 64, 300}, {384, 384, 384},
                                        {500, 500, 100}, {640, 640, 640}, {1000, 1000, 100}, {1200, 1200, 1200}};
  double slow[20];
  printf("shipped quality: kgen_sgemm vs the best of %d shipped gemm variants, 20 shapes absent from tuned/\n", nv);
  printf("%-18s %12s %12s %8s\n", "m x n x k", "library ns", "best ns", "ratio");
  for (int s = 0; s < 20; s++) {
    const int64_t m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
    const int reps = m * n * k > 100000000 ? 5 : 11;
    double lib_ns = time_call(kgen_sgemm, m, n, k, A, B, C, reps), best = 1e300;
    for (int v = 0; v < nv; v++) {
      double t = time_call(vs[v], m, n, k, A, B, C, reps);
      if (t < best) best = t;
    }
    slow[s] = lib_ns / best;
    printf("%5lldx%5lldx%5lld %12.0f %12.0f %8.3f\n", (long long)m, (long long)n, (long long)k, lib_ns, best, slow[s]);
  }
  qsort(slow, 20, sizeof(double), cmp);
  printf("library / best shipped: median %.3f, worst %.3f\n", (slow[9] + slow[10]) / 2, slow[19]);
  return 0;
}
