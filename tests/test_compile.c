/* test_compile.c - the JIT and cc backends: results, OpenMP, errors, memory, PCH recovery. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kg_compile.h"
#include "kg_machine.h"

static const char *kSaxpy =
    "#include <stddef.h>\n"
    "#include <immintrin.h>\n"
    "void saxpy(size_t n, float a, const float *x, float *y) {\n"
    "  size_t i = 0;\n"
    "#ifdef __AVX512F__\n"
    "  __m512 va = _mm512_set1_ps(a);\n"
    "  for (; i + 16 <= n; i += 16)\n"
    "    _mm512_storeu_ps(y + i, _mm512_fmadd_ps(va, _mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i)));\n"
    "#endif\n"
    "  for (; i < n; i++) y[i] += a * x[i];\n"
    "}\n"
    "int has_avx512(void) {\n"
    "#ifdef __AVX512F__\n"
    "  return 1;\n"
    "#else\n"
    "  return 0;\n"
    "#endif\n"
    "}\n";

static const char *kOmp = "#include <omp.h>\n"
                          "double omp_sum(const double *x, long n, int *threads) {\n"
                          "  double s = 0;\n"
                          "  int t = 0;\n"
                          "#pragma omp parallel for reduction(+:s)\n"
                          "  for (long i = 0; i < n; i++) s += x[i] * 2.0;\n"
                          "#pragma omp parallel\n"
                          "  {\n"
                          "#pragma omp single\n"
                          "    t = omp_get_num_threads();\n"
                          "  }\n"
                          "  *threads = t;\n"
                          "  return s;\n"
                          "}\n";

typedef void (*saxpy_fn)(size_t, float, const float *, float *);
typedef int (*int_fn)(void);
typedef double (*omp_fn)(const double *, long, int *);

static kg_compiler *new_compiler(kg_backend b, bool no_prelude, const char *cache) {
  kg_ctx ctx = {0};
  kg_compile_opts o = {.backend = b, .no_prelude = no_prelude, .cache_dir = cache};
  kg_compiler *c = NULL;
  kg_status st = kg_compiler_new(&o, &c, &ctx);
  if (st != KG_OK) fprintf(stderr, "kg_compiler_new: %s\n", kg_ctx_message(&ctx));
  assert_int_equal(st, KG_OK);
  assert_non_null(c);
  return c;
}

static kg_module *compile_ok(kg_compiler *c, const char *name, const char *src) {
  kg_ctx ctx = {0};
  kg_module *m = NULL;
  char *diag = NULL;
  kg_status st = kg_compiler_compile(c, name, src, &m, &diag, &ctx);
  if (st != KG_OK) fprintf(stderr, "compile %s: %s\n%s\n", name, kg_ctx_message(&ctx), diag ? diag : "");
  free(diag);
  assert_int_equal(st, KG_OK);
  assert_non_null(m);
  return m;
}

/* y = 2x + y over a length that exercises both the vector body and the tail. */
static void check_saxpy(kg_module *m) {
  saxpy_fn f = (saxpy_fn)kg_module_sym(m, "saxpy");
  assert_non_null(f);
  enum { N = 1000 };
  static float x[N], y[N];
  for (int i = 0; i < N; i++) {
    x[i] = (float)i;
    y[i] = 1.0f;
  }
  f(N, 2.0f, x, y);
  for (int i = 0; i < N; i++) assert_true(y[i] == 2.0f * (float)i + 1.0f);
}

static void check_omp(kg_module *m) {
  omp_fn f = (omp_fn)kg_module_sym(m, "omp_sum");
  assert_non_null(f);
  enum { N = 100000 };
  double *x = malloc(N * sizeof *x);
  assert_non_null(x);
  for (int i = 0; i < N; i++) x[i] = i;
  int threads = 0;
  double s = f(x, N, &threads);
  assert_true(s == (double)N * (N - 1)); /* 2 * sum(0..N-1), exact in double */
  assert_true(threads >= 1);
  free(x);
}

static void test_backend_parse(void **state) {
  (void)state;
  kg_backend b = KG_BACKEND_CC;
  kg_ctx ctx = {0};
  assert_int_equal(kg_backend_parse("jit", &b, &ctx), KG_OK);
  assert_int_equal(b, KG_BACKEND_JIT);
  assert_int_equal(kg_backend_parse("cc", &b, &ctx), KG_OK);
  assert_int_equal(b, KG_BACKEND_CC);
  assert_int_equal(kg_backend_parse("gcc", &b, &ctx), KG_EINVAL);
  assert_non_null(strstr(ctx.msg, "gcc"));
  assert_int_equal(kg_backend_parse("", &b, &ctx), KG_EINVAL);
  assert_int_equal(kg_backend_parse(NULL, &b, &ctx), KG_EINVAL);
  assert_string_equal(kg_backend_name(KG_BACKEND_JIT), "jit");
  assert_string_equal(kg_backend_name(KG_BACKEND_CC), "cc");
}

static void test_jit_saxpy(void **state) {
  kg_compiler *c = *state;
  assert_non_null(strstr(kg_compiler_describe(c), "clang 16"));
  kg_module *m = compile_ok(c, "saxpy", kSaxpy);
  check_saxpy(m);
  int_fn avx = (int_fn)kg_module_sym(m, "has_avx512");
  assert_non_null(avx);
  /* The JIT targets the host's features: AVX-512 must be on when the host has it. */
  if (__builtin_cpu_supports("avx512f")) assert_int_equal(avx(), 1);
  assert_null(kg_module_sym(m, "no_such_symbol"));
  kg_module_free(m);
  /* A module defining only data, and one defining nothing, also work. */
  m = compile_ok(c, "data-only", "const int kg_answer = 42;\n");
  const int *ans = kg_module_sym(m, "kg_answer");
  assert_non_null(ans);
  assert_int_equal(*ans, 42);
  kg_module_free(m);
  m = compile_ok(c, "empty", "static int unused(void) { return 1; }\n");
  kg_module_free(m);
}

static void test_jit_no_prelude(void **state) {
  (void)state;
  kg_compiler *c = new_compiler(KG_BACKEND_JIT, true, NULL);
  kg_module *m = compile_ok(c, "saxpy-noprelude", kSaxpy);
  check_saxpy(m);
  kg_module_free(m);
  kg_compiler_free(c);
}

static void test_jit_openmp(void **state) {
  kg_compiler *c = *state;
  kg_module *m = compile_ok(c, "omp", kOmp);
  check_omp(m);
  kg_module_free(m);
}

static void test_compile_error(void **state) {
  kg_compiler *c = *state;
  const char *bad = "int f(int x) {\n"
                    "  int y = x;\n"
                    "  return y + undeclared_thing;\n"
                    "}\n";
  kg_ctx ctx = {0};
  kg_module *m = NULL;
  char *diag = NULL;
  kg_status st = kg_compiler_compile(c, "bad[unroll=4]", bad, &m, &diag, &ctx);
  assert_int_equal(st, KG_ECOMPILE);
  assert_null(m);
  assert_non_null(diag);
  assert_non_null(strstr(diag, "bad[unroll=4]:3:"));
  assert_non_null(strstr(diag, "undeclared_thing"));
  assert_non_null(strstr(ctx.msg, "bad[unroll=4]:3:"));
  free(diag);
  /* An undefined external is a link error of this compile, not a crash later. */
  const char *unresolved = "extern int kg_nowhere_defined(int);\n"
                           "int g(int x) { return kg_nowhere_defined(x); }\n";
  st = kg_compiler_compile(c, "unresolved", unresolved, &m, &diag, &ctx);
  assert_int_equal(st, KG_ECOMPILE);
  assert_non_null(diag);
  assert_non_null(strstr(diag, "kg_nowhere_defined"));
  free(diag);
  /* The compiler still works afterwards. */
  m = compile_ok(c, "after-error", kSaxpy);
  check_saxpy(m);
  kg_module_free(m);
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

static void compile_run_free(kg_compiler *c, int i) {
  char src[512], name[32];
  snprintf(
      src, sizeof src,
      "#include <stddef.h>\n"
      "long k%d(const long *x, size_t n) { long s = %d; for (size_t i = 0; i < n; i++) s += x[i] * %d; return s; }\n",
      i, i, i % 7 + 1);
  snprintf(name, sizeof name, "k%d", i);
  char sym[32];
  snprintf(sym, sizeof sym, "k%d", i);
  kg_module *m = compile_ok(c, name, src);
  long (*f)(const long *, size_t) = (long (*)(const long *, size_t))kg_module_sym(m, sym);
  assert_non_null(f);
  long x[4] = {1, 2, 3, 4};
  assert_int_equal(f(x, 4), i + 10 * (i % 7 + 1));
  kg_module_free(m);
}

struct thread_arg {
  kg_compiler *c;
  int base, failures;
};

static void *compile_thread(void *p) {
  struct thread_arg *a = p;
  for (int i = 0; i < 20; i++) {
    char src[256];
    snprintf(src, sizeof src, "int t%d(int x) { return x * %d; }\n", a->base + i, a->base + i);
    char sym[32];
    snprintf(sym, sizeof sym, "t%d", a->base + i);
    kg_module *m = NULL;
    if (kg_compiler_compile(a->c, sym, src, &m, NULL, NULL) != KG_OK) {
      a->failures++;
      continue;
    }
    int (*f)(int) = (int (*)(int))kg_module_sym(m, sym);
    if (!f || f(3) != 3 * (a->base + i)) a->failures++;
    kg_module_free(m);
  }
  return NULL;
}

/* Two threads compiling through one compiler (the default ORC compiler crashed here). */
static void test_jit_threads(void **state) {
  struct thread_arg a[2] = {{*state, 100, 0}, {*state, 200, 0}};
  pthread_t t[2];
  for (int i = 0; i < 2; i++) assert_int_equal(pthread_create(&t[i], NULL, compile_thread, &a[i]), 0);
  for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
  assert_int_equal(a[0].failures + a[1].failures, 0);
}

/* kg_compiler_compile_all on two threads, per backend: each job's result is its own (a failure, a
 * skipped job), and every module computes what its own source says. */
static void check_compile_all(kg_compiler *c) {
  enum { N = 7 };
  char srcs[N][128], names[N][32];
  kg_compile_job jobs[N];
  memset(jobs, 0, sizeof jobs);
  for (int i = 0; i < N; i++) {
    snprintf(names[i], sizeof names[i], "job%d", i);
    snprintf(srcs[i], sizeof srcs[i], "int kg_id(void) { return %d * 7; }\n", i);
    jobs[i].name = names[i];
    jobs[i].src = srcs[i];
  }
  snprintf(srcs[3], sizeof srcs[3], "int kg_id(void) {\n  return nope;\n}\n");
  jobs[5].src = NULL; /* skipped */
  kg_compiler_compile_all(c, jobs, N, 2);
  for (int i = 0; i < N; i++) {
    if (i == 5) {
      assert_null(jobs[i].module);
      assert_int_equal(jobs[i].status, KG_OK);
      continue;
    }
    if (i == 3) {
      assert_int_equal(jobs[i].status, KG_ECOMPILE);
      assert_null(jobs[i].module);
      assert_non_null(strstr(jobs[i].ctx.msg, "job3"));
      assert_non_null(jobs[i].diag);
      assert_non_null(strstr(jobs[i].diag, "job3:2:"));
      free(jobs[i].diag);
      continue;
    }
    assert_int_equal(jobs[i].status, KG_OK);
    assert_true(jobs[i].ms > 0);
    int_fn f = (int_fn)kg_module_sym(jobs[i].module, "kg_id");
    assert_non_null(f);
    assert_int_equal(f(), i * 7);
    kg_module_free(jobs[i].module);
    free(jobs[i].diag);
  }
}

static void test_compile_all(void **state) {
  check_compile_all(*state);
  kg_compiler *cc = new_compiler(KG_BACKEND_CC, false, NULL);
  check_compile_all(cc);
  kg_compiler_free(cc);
  assert_true(kg_usable_cpus() >= 1); /* what threads <= 0 means */
}

static void test_jit_memory(void **state) {
  kg_compiler *c = *state;
  for (int i = 0; i < 50; i++) compile_run_free(c, i);
  long before = rss_kb();
  for (int i = 50; i < 1050; i++) compile_run_free(c, i);
  long after = rss_kb();
  fprintf(stderr, "# RSS growth over 1000 variants: %.1f MB\n", (after - before) / 1024.0);
  assert_true(before > 0);
#if defined(__SANITIZE_ADDRESS__)
  /* ASan's quarantine holds freed memory, so RSS says little here; LeakSanitizer checks at exit. */
  assert_true(after - before < 200 * 1024);
#else
  assert_true(after - before < 20 * 1024);
#endif
}

static void test_cc_matches_jit(void **state) {
  kg_compiler *jit = *state;
  kg_compiler *cc = new_compiler(KG_BACKEND_CC, false, NULL);
  assert_non_null(strstr(kg_compiler_describe(cc), "-O3"));
  kg_module *a = compile_ok(cc, "saxpy-cc", kSaxpy);
  kg_module *b = compile_ok(jit, "saxpy-jit", kSaxpy);
  check_saxpy(a);
  check_saxpy(b);
  enum { N = 777 };
  static float x[N], y1[N], y2[N];
  for (int i = 0; i < N; i++) {
    x[i] = (float)(i % 13) * 0.25f;
    y1[i] = y2[i] = (float)(i % 5);
  }
  ((saxpy_fn)kg_module_sym(a, "saxpy"))(N, 1.5f, x, y1);
  ((saxpy_fn)kg_module_sym(b, "saxpy"))(N, 1.5f, x, y2);
  assert_memory_equal(y1, y2, sizeof y1);
  kg_module_free(a);
  kg_module_free(b);

  a = compile_ok(cc, "omp-cc", kOmp);
  b = compile_ok(jit, "omp-jit", kOmp);
  check_omp(a);
  check_omp(b);
  kg_module_free(a);
  kg_module_free(b);

  /* cc errors come back the same way, naming the variant. */
  kg_ctx ctx = {0};
  kg_module *m = NULL;
  char *diag = NULL;
  assert_int_equal(kg_compiler_compile(cc, "bad-cc", "int f(void) {\n  return nope;\n}\n", &m, &diag, &ctx),
                   KG_ECOMPILE);
  assert_non_null(diag);
  assert_non_null(strstr(diag, "bad-cc:2:"));
  free(diag);
  kg_compiler_free(cc);
}

/* A corrupt or stale PCH in the cache is rebuilt, never fatal. */
static void test_pch_recovery(void **state) {
  (void)state;
  char dir[] = "/tmp/kg-test-pch-XXXXXX";
  assert_non_null(mkdtemp(dir));
  kg_compiler *c = new_compiler(KG_BACKEND_JIT, false, dir);
  kg_compiler_free(c);
  DIR *d = opendir(dir);
  assert_non_null(d);
  struct dirent *e;
  int corrupted = 0;
  char path[512];
  while ((e = readdir(d))) {
    size_t n = strlen(e->d_name);
    if (n > 4 && strcmp(e->d_name + n - 4, ".pch") == 0) {
      snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
      FILE *f = fopen(path, "wb");
      assert_non_null(f);
      fputs("this is not a precompiled header", f);
      fclose(f);
      corrupted++;
    }
  }
  closedir(d);
  assert_int_equal(corrupted, 1);
  c = new_compiler(KG_BACKEND_JIT, false, dir);
  kg_module *m = compile_ok(c, "saxpy-after-corrupt", kSaxpy);
  check_saxpy(m);
  kg_module_free(m);
  kg_compiler_free(c);
  /* Clean up the private cache. */
  d = opendir(dir);
  while (d && (e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    unlink(path);
  }
  if (d) closedir(d);
  rmdir(dir);
}

static int setup_jit(void **state) {
  kg_ctx ctx = {0};
  kg_compile_opts o = {0};
  kg_compiler *c = NULL;
  if (kg_compiler_new(&o, &c, &ctx) != KG_OK) {
    fprintf(stderr, "kg_compiler_new: %s\n", kg_ctx_message(&ctx));
    return -1;
  }
  *state = c;
  return 0;
}

static int teardown_jit(void **state) {
  kg_compiler_free(*state);
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_backend_parse), cmocka_unit_test(test_jit_saxpy),     cmocka_unit_test(test_jit_no_prelude),
      cmocka_unit_test(test_jit_openmp),    cmocka_unit_test(test_compile_error), cmocka_unit_test(test_cc_matches_jit),
      cmocka_unit_test(test_pch_recovery),  cmocka_unit_test(test_jit_threads),   cmocka_unit_test(test_compile_all),
      cmocka_unit_test(test_jit_memory),
  };
  return cmocka_run_group_tests(tests, setup_jit, teardown_jit);
}
