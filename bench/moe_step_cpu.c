/*
 * moe_step_cpu.c - one variant of templates/moe_step.c against its rebuild baseline on one
 * problem, timed in thread CPU time (CLOCK_THREAD_CPUTIME_ID): on a shared machine this leaves
 * out the time the thread waits for a core, which wall-clock figures (kgen bench) include.
 * Single-threaded variants only (THREADS 1: CPU time of the calling thread).  The variant and
 * the baseline step one state in alternating blocks of 10 steps (the baseline's first step of a
 * block rebuilds, the variant's first step updates from the baseline's ascending slot order, as
 * any step does), 2 x BLOCKS blocks; prints the median CPU ms per step of each, the ratio, and
 * each one's median phase times (wall clock, kg_phases' ring).
 *   bench_moe_step_cpu N hidden up_cols gate_cols m batch rho [blocks]
 * Compiled by bench/moe_step.sh from `kgen emit` output (-DMOE_VARIANT="file"), -O3 -march=native;
 * the CMake build compiles the template's defaults.
 */
/* The CMake build compiles this without OpenMP: the template's pragmas are then ignored. */
#pragma GCC diagnostic ignored "-Wunknown-pragmas"
#ifdef MOE_VARIANT
#include MOE_VARIANT
#else
#include "../templates/moe_step.c"
#endif

#include <time.h>

static double cpu_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return (double)t.tv_sec * 1e3 + (double)t.tv_nsec * 1e-6;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  return n ? v[n / 2] : 0;
}

#define BLOCK 10

int main(int argc, char **argv) {
  if (argc < 8) {
    fprintf(stderr, "usage: %s N hidden up_cols gate_cols m batch rho [blocks]\n", argv[0]);
    return 2;
  }
  static const char *const names[] = {"N", "batch", "gate_cols", "hidden", "m", "rho", "steps", "up_cols"};
  int64_t dims[8] = {atoll(argv[1]), atoll(argv[6]), atoll(argv[4]), atoll(argv[2]), atoll(argv[5]), atoll(argv[7]), 50,
                     atoll(argv[3])};
  const int blocks = argc > 8 ? atoi(argv[8]) : 10;
  if (blocks < 1 || blocks > 100) return 2;
  kg_problem p = {8, names, dims, 42, 0, 0};
  moe_state *s = kg_create(&p);
  if (!s) {
    fprintf(stderr, "kg_create failed (shape)\n");
    return 1;
  }
  char msg[1024] = "";
  if (kg_verify(s, msg, sizeof msg)) {
    fprintf(stderr, "verification failed: %s\n", msg);
    return 1;
  }
  for (int i = 0; i < 5; i++) kg_run(s), kg_baseline_rebuild(s); /* warm-up */
  const int n = blocks * BLOCK;
  double *tv = malloc(sizeof(double) * (size_t)n), *tb = malloc(sizeof(double) * (size_t)n);
  double *pv = malloc(sizeof(double) * (size_t)n * MOE_NPHASES), *pb = malloc(sizeof(double) * (size_t)n * MOE_NPHASES);
  if (!tv || !tb || !pv || !pb) return 1;
  for (int b = 0; b < blocks; b++)
    for (int who = 0; who < 2; who++)
      for (int i = 0; i < BLOCK; i++) {
        double t0 = cpu_ms();
        if (who == 0) kg_run(s);
        else kg_baseline_rebuild(s);
        double t = cpu_ms() - t0;
        const float *ph = s->moe->ring[(s->moe->nsteps - 1) % MOE_RING];
        const int at = b * BLOCK + i;
        (who == 0 ? tv : tb)[at] = t;
        for (int q = 0; q < MOE_NPHASES; q++) (who == 0 ? pv : pb)[q * n + at] = ph[q] * 1e-6;
      }
  if (kg_verify(s, msg, sizeof msg)) {
    fprintf(stderr, "verification failed after the run: %s\n", msg);
    return 1;
  }
  const double mv = median(tv, n), mbl = median(tb, n);
  printf("N=%s hidden=%s up_cols=%s gate_cols=%s m=%s batch=%s rho=%s: %d steps each, thread CPU time\n", argv[1],
         argv[2], argv[3], argv[4], argv[5], argv[6], argv[7], n);
  printf("  variant %.3f ms/step  rebuild %.3f ms/step  rebuild/variant %.2fx\n", mv, mbl, mbl / mv);
  for (int who = 0; who < 2; who++) {
    printf("  phases (%s, wall ms, median):", who == 0 ? "variant" : "rebuild");
    for (int q = 0; q < MOE_NPHASES; q++)
      printf(" %s %.3f", moe_phase_names[q], median((who == 0 ? pv : pb) + q * n, n));
    printf("\n");
  }
  free(tv), free(tb), free(pv), free(pb);
  kg_destroy(s);
  return 0;
}
