/*
 * semiring_scan_cpu.c - one variant of templates/semiring_scan.c against its baselines on one
 * problem, timed in thread CPU time (CLOCK_THREAD_CPUTIME_ID, the minimum of N calls): on a
 * shared machine this leaves out the time the thread waits for a core, which wall-clock figures
 * (kgen bench) include.  Single-threaded variants only (THREADS 1).
 *   bench_semiring_scan_cpu T K C B semiring phase form [reps]
 * Compiled by bench/semiring_scan.sh with -O3 -march=native and -D for the variant's parameters
 * (VEC, SCAN as the expander defines them); the CMake build compiles the defaults.
 */
#include "../templates/semiring_scan.c"

#include <time.h>

static double cpu_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static double best_of(void (*f)(void *), void *s, int reps) {
  double b = 1e30;
  for (int i = 0; i < reps; i++) {
    const double t0 = cpu_s();
    f(s);
    const double t = cpu_s() - t0;
    b = t < b ? t : b;
  }
  return b;
}

int main(int argc, char **argv) {
  if (argc < 8) {
    fprintf(stderr, "usage: %s T K C B semiring phase form [reps]\n", argv[0]);
    return 2;
  }
  static const char *const names[] = {"B", "C", "K", "T", "form", "phase", "semiring"};
  int64_t dims[7] = {atoll(argv[4]), atoll(argv[3]), atoll(argv[2]), atoll(argv[1]),
                     atoll(argv[7]), atoll(argv[6]), atoll(argv[5])};
  const int reps = argc > 8 ? atoi(argv[8]) : 7;
  kg_problem p = {7, names, dims, 42, 1e-4, 1e-4};
  void *s = kg_create(&p);
  if (!s) {
    fprintf(stderr, "kg_create failed (dimensions out of range?)\n");
    return 2;
  }
  char msg[512];
  if (kg_verify(s, msg, sizeof msg)) {
    fprintf(stderr, "verify: %s\n", msg);
    return 1;
  }
  const double el = ss_elements(s);
  const double v = best_of(kg_run, s, reps), a = best_of(kg_baseline_scalar32, s, reps > 3 ? 3 : reps);
  const double w = best_of(kg_baseline_vec32, s, reps);
  printf("{\"T\": %s, \"K\": %s, \"C\": %s, \"B\": %s, \"semiring\": %s, \"phase\": %s, \"form\": %s, "
         "\"variant_ns_per_element\": %.4f, \"scalar32_ns_per_element\": %.4f, \"vec32_ns_per_element\": %.4f, "
         "\"variant_ms\": %.3f, \"accuracy\": %s}\n",
         argv[1], argv[2], argv[3], argv[4], argv[5], argv[6], argv[7], v / el * 1e9, a / el * 1e9, w / el * 1e9,
         v * 1e3, msg);
  kg_destroy(s);
  return 0;
}
