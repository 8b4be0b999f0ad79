/*
 * fusion_attention_cpu.c - one variant of templates/fusion_attention.c against its single-thread
 * baselines (unfused, openblas_unfused, onednn) on one problem, timed in thread CPU time
 * (CLOCK_THREAD_CPUTIME_ID, the minimum of N calls, the variant and baselines interleaved per
 * round): on a shared machine this leaves out the time the thread waits for a core, which
 * wall-clock figures (kgen bench) include.  Single-threaded variants only (threads = 1).
 *   bench_fusion_attention_cpu b s d pattern causal [reps]
 * Prints one JSON line: milliseconds of each, the speedups of the variant, and its accuracy.
 * bench/fusion_attention.sh compiles it with -DKG_VARIANT="emitted.c" (a variant from `kgen
 * emit`) and the JIT's flags (-O3 -march=native -fopenmp); the CMake build compiles the
 * unexpanded template (portable kernels).
 */
#ifdef KG_VARIANT
#include KG_VARIANT
#else
#include "../templates/fusion_attention.c"
#endif

#include <time.h>

static double cpu_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

enum { NF = 4 };

int main(int argc, char **argv) {
  if (argc < 6) {
    fprintf(stderr, "usage: %s b s d pattern causal [reps]\n", argv[0]);
    return 2;
  }
  static const char *const names[] = {"b", "causal", "d", "pattern", "s"};
  const int64_t dims[5] = {atoll(argv[1]), atoll(argv[5]), atoll(argv[3]), atoll(argv[4]), atoll(argv[2])};
  const int reps = argc > 6 ? atoi(argv[6]) : 7;
  kg_problem p = {5, names, dims, 42, 0, 0};
  void *st = kg_create(&p);
  if (!st) return 2; /* kg_create said why */
  char msg[512];
  if (kg_verify(st, msg, sizeof msg)) {
    fprintf(stderr, "verify: %s\n", msg);
    return 1;
  }
  void (*const fn[NF])(void *) = {kg_run, kg_baseline_unfused, kg_baseline_openblas_unfused, kg_baseline_onednn};
  double best[NF];
  for (int f = 0; f < NF; f++) {
    fn[f](st); /* warm-up: workspaces, libraries, primitives */
    best[f] = 1e30;
  }
  for (int r = 0; r < reps; r++)
    for (int f = 0; f < NF; f++) {
      const double t0 = cpu_s();
      fn[f](st);
      const double t = cpu_s() - t0;
      best[f] = t < best[f] ? t : best[f];
    }
  printf("{\"b\": %s, \"s\": %s, \"d\": %s, \"pattern\": %s, \"causal\": %s, \"fused_ms\": %.3f, \"unfused_ms\": %.3f, "
         "\"openblas_unfused_ms\": %.3f, \"onednn_ms\": %.3f, \"speedup_unfused\": %.3f, \"speedup_openblas\": %.3f, "
         "\"speedup_onednn\": %.3f, \"accuracy\": %s}\n",
         argv[1], argv[2], argv[3], argv[4], argv[5], best[0] * 1e3, best[1] * 1e3, best[2] * 1e3, best[3] * 1e3,
         best[1] / best[0], best[2] / best[0], best[3] / best[0], msg);
  kg_destroy(st);
  return 0;
}
