/*
 * after.c - what the library's idle helper threads cost the program's next step (built by
 * bench/ship_bench.sh against an installed `kgen ship` library).  The next step is a fixed
 * piece of work on every usable core (one pthread each, ~2 ms of arithmetic); it is timed right
 * after ~5 ms of kgen_sgemm calls on d x d x d (argument; default 64, whose variants use the
 * library's helper team; larger ones use OpenMP variants), and, as the baseline of the same
 * run, after 50 ms of sleep (helpers asleep) then 5 ms busy on the calling thread alone (the
 * same recent history for the scheduler), interleaved, 21 times each: the medians and their
 * ratio; and the CPU time the library's helper threads ran during the next step (from
 * /proc/self/task/<tid>/schedstat), the direct measure of what idle helpers take, which a
 * loaded machine's noise does not hide.  Run it with KGEN_SPIN_US set to compare helper spin times.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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

static volatile double sink;
static void *work(void *arg) {
  double s = 1.0;
  for (long i = 0; i < (long)(intptr_t)arg; i++) s = s * 1.0000001 + 1e-9;
  sink = s;
  return NULL;
}

/* CPU ns the library's helper threads ("kgen-team") have run so far (schedstat), or -1. */
static double helpers_cpu_ns(void) {
  double sum = -1;
  DIR *d = opendir("/proc/self/task");
  struct dirent *e;
  while (d && (e = readdir(d))) {
    char path[300], comm[64] = "";
    snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
    FILE *f = fopen(path, "r");
    if (!f) continue;
    if (!fgets(comm, sizeof comm, f)) comm[0] = 0;
    fclose(f);
    if (strncmp(comm, "kgen-team", 9)) continue;
    snprintf(path, sizeof path, "/proc/self/task/%s/schedstat", e->d_name);
    double ns = 0;
    if ((f = fopen(path, "r"))) {
      if (fscanf(f, "%lf", &ns) == 1) sum = (sum < 0 ? 0 : sum) + ns;
      fclose(f);
    }
  }
  if (d) closedir(d);
  return sum;
}

/* The next step: the same work on each of n threads; wall ns. */
static double step(int n, long iters) {
  pthread_t th[64];
  double t0 = now_ns();
  for (int i = 0; i < n; i++) pthread_create(&th[i], NULL, work, (void *)(intptr_t)iters);
  for (int i = 0; i < n; i++) pthread_join(th[i], NULL);
  return now_ns() - t0;
}

int main(int argc, char **argv) {
  const int64_t d = argc > 1 ? atoll(argv[1]) : 64; /* the gemm shape: d x d x d */
  cpu_set_t set;
  int n = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 2;
  if (n > 64) n = 64;
  float *A = malloc(sizeof(float) * (size_t)(d * d)), *B = malloc(sizeof(float) * (size_t)(d * d));
  float *C = malloc(sizeof(float) * (size_t)(d * d));
  for (int64_t i = 0; i < d * d; i++) A[i] = B[i] = 0.25f;
  kgen_sgemm(d, d, d, 1, A, d, B, d, 0, C, d);
  double t0 = now_ns();
  kgen_sgemm(d, d, d, 1, A, d, B, d, 0, C, d);
  const int calls = (int)(5e6 / (now_ns() - t0 + 1)) + 1; /* ~5 ms of calls */
  long iters = 1000000;
  while (step(n, iters) < 2e6 && iters < (1L << 30)) iters *= 2; /* ~2 ms or more */
  enum { R = 21 };
  double idle[R], after[R], burned[R];
  for (int r = 0; r < R; r++) {
    usleep(50000); /* the helpers fall asleep */
    /* The baseline: the same history for the scheduler (5 ms busy on this thread), no helper. */
    for (t0 = now_ns(); now_ns() - t0 < 5e6;) sink = sink + 1.0;
    idle[r] = step(n, iters);
    for (int i = 0; i < calls; i++) kgen_sgemm(d, d, d, 1, A, d, B, d, 0, C, d);
    const double h0 = helpers_cpu_ns();
    after[r] = step(n, iters);
    burned[r] = helpers_cpu_ns() - h0; /* CPU the idle helpers took from the next step */
  }
  qsort(idle, R, sizeof(double), cmp), qsort(after, R, sizeof(double), cmp), qsort(burned, R, sizeof(double), cmp);
  const char *spin = getenv("KGEN_SPIN_US");
  printf("next step on %d threads (gemm %lld^3, KGEN_SPIN_US=%s): right after 5 ms of kgen_sgemm %.0f us, after 5 ms "
         "busy on this thread alone %.0f us (baseline, same run, helpers asleep); ratio %.3f\n",
         n, (long long)d, spin ? spin : "default 100", after[R / 2] / 1e3, idle[R / 2] / 1e3, after[R / 2] / idle[R / 2]);
  free(A), free(B), free(C);
  printf("  CPU the library's idle helper threads ran during that next step: median %.0f us (max %.0f us)%s\n",
         burned[R / 2] / 1e3, burned[R - 1] / 1e3, helpers_cpu_ns() < 0 ? " (no kgen-team thread: OpenMP variant)" : "");
  return 0;
}
