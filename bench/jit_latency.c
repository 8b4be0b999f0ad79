/*
 * jit_latency.c - compile latency of one small variant: JIT with the prelude PCH, JIT without
 * it, and the cc backend, side by side; then resident-memory growth over 1000 JIT
 * compile+release cycles.
 *
 *   bench_jit_latency [N_JIT [N_CC [N_LEAK]]]      defaults 30 10 1000
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kg_stats.h"
#include "kg_compile.h"

/* A small kernel of the kind templates produce: the usual headers, an intrinsic, a loop. */
static void variant_src(char *buf, size_t cap, int i) {
  snprintf(buf, cap,
           "#include <stddef.h>\n#include <stdint.h>\n#include <math.h>\n#include <immintrin.h>\n"
           "void kern(size_t n, const float *restrict x, float *restrict y) {\n"
           "  size_t i = 0;\n"
           "#ifdef __AVX2__\n"
           "  __m256 a = _mm256_set1_ps(%d.0f);\n"
           "  for (; i + 8 <= n; i += 8)\n"
           "    _mm256_storeu_ps(y + i, _mm256_fmadd_ps(a, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));\n"
           "#endif\n"
           "  for (; i < n; i++) y[i] += %d.0f * x[i] + sqrtf((float)%d);\n"
           "}\n",
           i + 1, i + 1, i);
}

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static long rss_kb(void) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  long kb = -1;
  while (f && fgets(line, sizeof line, f))
    if (strncmp(line, "VmRSS:", 6) == 0) kb = atol(line + 6);
  if (f) fclose(f);
  return kb;
}

static kg_compiler *make(kg_backend b, int no_prelude) {
  kg_ctx ctx = {0};
  kg_compile_opts o = {.backend = b, .no_prelude = no_prelude};
  kg_compiler *c = NULL;
  if (kg_compiler_new(&o, &c, &ctx) != KG_OK) {
    fprintf(stderr, "kg_compiler_new(%s): %s\n", kg_backend_name(b), kg_ctx_message(&ctx));
    exit(1);
  }
  return c;
}

/* Compile one variant (and release it); milliseconds, or exit on failure. */
static double compile_one(kg_compiler *c, int i) {
  char src[2048], name[32];
  variant_src(src, sizeof src, i);
  snprintf(name, sizeof name, "kern[%d]", i);
  kg_ctx ctx = {0};
  kg_module *m = NULL;
  double t0 = now_ms();
  kg_status st = kg_compiler_compile(c, name, src, &m, NULL, &ctx);
  double t = now_ms() - t0;
  if (st != KG_OK || !kg_module_sym(m, "kern")) {
    fprintf(stderr, "%s: %s\n", name, kg_ctx_message(&ctx));
    exit(1);
  }
  kg_module_free(m);
  return t;
}

/* Times n distinct variants; writes median and p90 (nearest rank). */
static void run(const char *label, kg_compiler *c, int n, int base, double *median) {
  double *t = malloc((size_t)n * sizeof *t);
  if (!t) exit(1);
  for (int i = 0; i < n; i++) t[i] = compile_one(c, base + i);
  qsort(t, (size_t)n, sizeof *t, kg_stats_cmp_double);
  double med = n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
  int k = (int)(0.9 * n + 0.999999);
  double p90 = t[(k > 0 ? k : 1) - 1];
  printf("%-18s n=%-4d median %8.1f ms   p90 %8.1f ms   min %8.1f ms\n", label, n, med, p90, t[0]);
  fflush(stdout);
  *median = med;
  free(t);
}

int main(int argc, char **argv) {
  int n_jit = argc > 1 ? atoi(argv[1]) : 30;
  int n_cc = argc > 2 ? atoi(argv[2]) : 10;
  int n_leak = argc > 3 ? atoi(argv[3]) : 1000;
  if (n_jit < 1 || n_cc < 1 || n_leak < 0) {
    fprintf(stderr, "usage: %s [N_JIT [N_CC [N_LEAK]]]\n", argv[0]);
    return 2;
  }
  kg_compiler *jp = make(KG_BACKEND_JIT, 0), *jn = make(KG_BACKEND_JIT, 1),
              *cc = make(KG_BACKEND_CC, 0);
  printf("jit: %s\ncc:  %s\n", kg_compiler_describe(jp), kg_compiler_describe(cc));
  compile_one(jp, 1000000); /* first-use costs (target set-up) are not per variant */
  compile_one(jn, 1000001);
  double m_jp, m_jn, m_cc;
  run("jit + prelude", jp, n_jit, 0, &m_jp);
  run("jit, no prelude", jn, n_jit, 10000, &m_jn);
  run("cc", cc, n_cc, 20000, &m_cc);
  printf("ratio cc / jit+prelude (median): %.1fx;  no-prelude / prelude: %.1fx\n", m_cc / m_jp,
         m_jn / m_jp);
  fflush(stdout);
  kg_compiler_free(jn);
  kg_compiler_free(cc);

  if (n_leak > 0) {
    for (int i = 0; i < 50; i++) compile_one(jp, 30000 + i);
    long before = rss_kb();
    double t0 = now_ms();
    for (int i = 0; i < n_leak; i++) compile_one(jp, 40000 + i);
    double dt = now_ms() - t0;
    long after = rss_kb();
    printf("jit + prelude, %d compile+release cycles: RSS %.1f -> %.1f MB, growth %.1f MB "
           "(%.1f ms/variant)\n",
           n_leak, before / 1024.0, after / 1024.0, (after - before) / 1024.0, dt / n_leak);
  }
  kg_compiler_free(jp);
  return 0;
}
