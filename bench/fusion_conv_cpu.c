/*
 * fusion_conv_cpu.c - one variant of templates/fusion_conv.c against its baselines (unfused and
 * oneDNN with 1 thread) on one problem, timed in thread CPU time (CLOCK_THREAD_CPUTIME_ID, the
 * minimum of N rounds, each calling the three in turn, after a warm-up call): on a shared machine this leaves out the time the
 * thread waits for a core, which wall-clock figures (kgen bench, kgen tune) include.
 * Single-threaded variants only (threads=1; oneDNN is set to 1 thread).
 *   bench_fusion_conv_cpu b c h w k r s stride pad relu [reps]
 * bench/fusion_conv_cpu.sh compiles it with -O3 -march=native around a variant that `kgen emit`
 * expanded (-DKG_VARIANT_SOURCE="path"); the CMake build compiles the unexpanded template.
 */
#ifdef KG_VARIANT_SOURCE
#include KG_VARIANT_SOURCE
#else
#include "../templates/fusion_conv.c"
#endif

#include <time.h>

static double cpu_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* The minimum over reps rounds of one call of each of fns[0..n) in turn (after a warm-up call of
 * each), so a slow stretch of the machine hits every function alike. */
static void best_of(void (*const *fns)(void *), int n, void *s, int reps, double *best) {
  for (int f = 0; f < n; f++) fns[f](s), best[f] = 1e30; /* warm-up: packs weights, builds oneDNN's primitive */
  for (int i = 0; i < reps; i++)
    for (int f = 0; f < n; f++) {
      const double t0 = cpu_s();
      fns[f](s);
      const double t = cpu_s() - t0;
      best[f] = t < best[f] ? t : best[f];
    }
}

int main(int argc, char **argv) {
  static const char *const names[] = {"b", "c", "h", "k", "pad", "r", "relu", "s", "stride", "w"};
  if (argc < 11) {
    fprintf(stderr, "usage: %s b c h w k r s stride pad relu [reps]\n", argv[0]);
    return 2;
  }
  int64_t v[10];
  for (int i = 0; i < 10; i++) v[i] = atoll(argv[i + 1]);
  /* argv order b c h w k r s stride pad relu -> names' (sorted) order */
  const int64_t dims[10] = {v[0], v[1], v[2], v[4], v[8], v[5], v[9], v[6], v[7], v[3]};
  const int reps = argc > 11 ? atoi(argv[11]) : 7;
  kg_problem p = {10, names, dims, 42, 0, 0};
  void *s = kg_create(&p);
  if (!s) return 1;
  char msg[256];
  if (kg_verify(s, msg, sizeof msg)) {
    fprintf(stderr, "variant failed verification: %s\n", msg);
    return 1;
  }
  const double flops = 2.0 * (double)dims[0] * (double)dims[3] * (double)((conv_state *)s)->ho *
                       (double)((conv_state *)s)->wo * (double)dims[1] * (double)dims[5] * (double)dims[7];
  void (*const fns[3])(void *) = {kg_run, kg_baseline_unfused, kg_baseline_onednn};
  double best[3];
  best_of(fns, 3, s, reps, best);
  const double tv = best[0], tu = best[1], td = best[2];
  printf("variant %.3f ms (%.1f GFLOP/s)  unfused %.3f ms (%.2fx)  onednn %.3f ms (%.2fx)\n", tv * 1e3,
         flops / tv * 1e-9, tu * 1e3, tu / tv, td * 1e3, td / tv);
  kg_destroy(s);
  return 0;
}
