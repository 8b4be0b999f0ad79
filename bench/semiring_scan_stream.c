/*
 * semiring_scan_stream.c - the decomposed (streaming) semi-Markov CRF log partition on one long
 * sequence, for bench/semiring_scan.sh: wall time, positions per second and peak resident memory
 * (getrusage ru_maxrss: the whole process, inputs included).
 *   bench_semiring_scan_stream [T K C B]     default 100000 500 24 1
 * Compiled by bench/semiring_scan.sh with -O3 -march=native (the JIT's flags); the CMake build
 * compiles it too (portable path) so it keeps compiling.
 */
#include "../templates/semiring_scan.c"

#include <sys/resource.h>
#include <time.h>

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
  const int64_t T = argc > 1 ? atoll(argv[1]) : 100000, K = argc > 2 ? atoll(argv[2]) : 500;
  const int64_t C = argc > 3 ? atoll(argv[3]) : 24, B = argc > 4 ? atoll(argv[4]) : 1;
  if (T < 1 || K < 1 || C < 1 || B < 1) {
    fprintf(stderr, "usage: %s [T K C B] (all >= 1)\n", argv[0]);
    return 2;
  }
  float *cum = calloc((size_t)(B * T * C), 4), *tr = malloc((size_t)(C * C) * 4), *bi = malloc((size_t)(K * C) * 4);
  float *lz = malloc((size_t)B * 4);
  int64_t *len = malloc((size_t)B * sizeof(int64_t));
  if (!cum || !tr || !bi || !lz || !len) {
    fprintf(stderr, "out of memory\n");
    return 1;
  }
  uint64_t seed = 42;
  for (int64_t b = 0; b < B; b++) {
    len[b] = T;
    for (int64_t n = 1; n < T; n++)
      for (int64_t c = 0; c < C; c++)
        cum[(b * T + n) * C + c] = cum[(b * T + n - 1) * C + c] + kg_rand_float(&seed);
  }
  kg_fill_float(tr, (size_t)(C * C), &seed);
  kg_fill_float(bi, (size_t)(K * C), &seed);
  struct rusage r0;
  getrusage(RUSAGE_SELF, &r0);
  const double t0 = now_s();
  const int rc = kgen_semimarkov_logpartition_decomposed(B, T, K, C, cum, tr, bi, len, lz);
  const double t1 = now_s();
  struct rusage r1;
  getrusage(RUSAGE_SELF, &r1);
  if (rc) {
    fprintf(stderr, "kgen_semimarkov_logpartition_decomposed: %s\n", kgen_semimarkov_strerror(rc));
    return 1;
  }
  const double el = (double)B * (double)(T - 1) * (double)K * (double)(C * C);
  printf("{\"T\": %lld, \"K\": %lld, \"C\": %lld, \"B\": %lld, \"logZ0\": %.8g, \"seconds\": %.4f, "
         "\"positions_per_s\": %.4g, \"ns_per_element\": %.4g, \"input_bytes\": %lld, "
         "\"maxrss_bytes_before\": %ld, \"maxrss_bytes\": %ld}\n",
         (long long)T, (long long)K, (long long)C, (long long)B, (double)lz[0], t1 - t0,
         (double)(B * (T - 1)) / (t1 - t0), (t1 - t0) / el * 1e9, (long long)(B * T * C * 4 + C * (C + K) * 4),
         r0.ru_maxrss * 1024L, r1.ru_maxrss * 1024L);
  free(cum), free(tr), free(bi), free(lz), free(len);
  return 0;
}
