/* kg_calibrate_sgemm.c - the BLAS figures: OpenBLAS cblas_sgemm in a child process per core
 * type (kg_calibrate.h). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "kg_calibrate_internal.h"

#include <errno.h>
#include <string.h>

#include <cblas.h>

#include "kg_timer.h"
#include "kg_proc.h"
#include "kg_worker.h"

extern char **environ;
/* ---- sgemm ---------------------------------------------------------------------------------- */

/* Run `exe __sgemm ...` with OPENBLAS_CORETYPE = coretype (NULL: unset) and parse its JSON. */
static json_t *kg_sgemm_child(const char *exe, const char *coretype, const char *sizes, const char *threads,
                              double min_time, char *err, size_t errcap) {
  /* The environment without the variables OpenBLAS sizes its thread pool by (the child sets the
   * threads itself), and with the core type when one is forced.  Unforced, the child keeps the
   * caller's OPENBLAS_CORETYPE: the default dispatch is what the user's programs get. */
  size_t ne = 0;
  while (environ[ne]) ne++;
  char **env = calloc(ne + 2, sizeof *env), core[64];
  if (!env) {
    snprintf(err, errcap, "out of memory");
    return NULL;
  }
  size_t k = 0;
  for (size_t i = 0; i < ne; i++)
    if ((!coretype || strncmp(environ[i], "OPENBLAS_CORETYPE=", 18)) &&
        strncmp(environ[i], "OPENBLAS_NUM_THREADS=", 21) && strncmp(environ[i], "OMP_NUM_THREADS=", 16))
      env[k++] = environ[i];
  if (coretype) {
    snprintf(core, sizeof core, "OPENBLAS_CORETYPE=%s", coretype);
    env[k++] = core;
  }
  char mt[32];
  snprintf(mt, sizeof mt, "%g", min_time);
  char *argv[] = {(char *)exe,     "__sgemm",    "--sizes", (char *)sizes, "--threads",
                  (char *)threads, "--min-time", mt,        NULL};
  char *buf = NULL;
  int wst = kg_proc_capture(argv, env, false, &buf);
  free(env);
  if (wst < 0) {
    snprintf(err, errcap, "spawn %s: %s", exe, strerror(errno));
    return NULL;
  }
  json_t *out = NULL;
  if (buf) {
    json_error_t je;
    out = json_loads(buf, 0, &je);
  }
  if (!out) snprintf(err, errcap, "the sgemm child (%s) failed (status %d)", coretype ? coretype : "default", wst);
  free(buf);
  return out;
}

json_t *kg_calibrate_sgemm(const kg_calibrate_opts *o, const kg_machine *m) {
  json_t *sg = json_pack("{s:s}", "library", "OpenBLAS"), *res = json_array();
  char threads[32];
  snprintf(threads, sizeof threads, m->cores > 1 ? "1,%d" : "%d", m->cores > 1 ? m->cores : 1);
  const char *sizes = o->quick ? "256" : "256,512,1024,2048";
  const char *types[2] = {NULL, "SkylakeX"};
  int ntypes = kg_machine_has(m, "avx512f") ? 2 : 1;
  for (int t = 0; t < ntypes; t++) {
    char err[256];
    json_t *c = kg_sgemm_child(o->self_exe ? o->self_exe : "/proc/self/exe", types[t], sizes, threads,
                               o->quick ? 0.02 : 0.2, err, sizeof err);
    const char *label = types[t] ? types[t] : "default";
    if (!c) {
      json_array_append_new(res, json_pack("{s:s, s:s}", "coretype", label, "error", err));
      continue;
    }
    const json_t *corename = json_object_get(c, "corename"), *x;
    size_t i;
    json_array_foreach(json_object_get(c, "results"), i, x) {
      json_t *e = json_pack("{s:s, s:s}", "coretype", label, "corename",
                            json_is_string(corename) ? json_string_value(corename) : "");
      if (!types[t]) /* what chose the default dispatch */
        json_object_set_new(e, "env_coretype",
                            getenv("OPENBLAS_CORETYPE") ? json_string(getenv("OPENBLAS_CORETYPE"))
                                                        : json_string("(unset: OpenBLAS's cpuid detection)"));
      json_object_update(e, (json_t *)x);
      json_array_append_new(res, e);
    }
    kg_calibrate_progress(o, "sgemm %s (%s) done\n", label,
                          json_is_string(corename) ? json_string_value(corename) : "?");
    json_decref(c);
  }
  json_object_set_new(sg, "results", res);
  return sg;
}

static int kg_parse_list(const char *s, int *out, int cap) {
  int n = 0;
  while (s && *s && n < cap) {
    char *end;
    long v = strtol(s, &end, 10);
    if (end == s) break;
    out[n++] = (int)v;
    s = *end == ',' ? end + 1 : end;
  }
  return n;
}

int kg_calibrate_sgemm_main(int argc, char **argv) {
  int sizes[16], threads[16], ns = 0, nt = 0;
  double min_time = 0.2;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--sizes")) ns = kg_parse_list(argv[i + 1], sizes, 16);
    else if (!strcmp(argv[i], "--threads")) nt = kg_parse_list(argv[i + 1], threads, 16);
    else if (!strcmp(argv[i], "--min-time")) min_time = atof(argv[i + 1]);
  }
  if (ns == 0 || nt == 0) {
    fprintf(stderr, "usage: kgen __sgemm --sizes 256,512 --threads 1,2 [--min-time S]\n");
    return 2;
  }
  json_t *res = json_array();
  for (int s = 0; s < ns; s++) {
    int n = sizes[s];
    size_t nn = (size_t)n * (size_t)n;
    float *a = malloc(nn * sizeof *a), *b = malloc(nn * sizeof *b), *c = malloc(nn * sizeof *c);
    if (!a || !b || !c) {
      free(a), free(b), free(c);
      return 1;
    }
    uint64_t x = 42;
    for (size_t i = 0; i < nn; i++) {
      x = x * 6364136223846793005ull + 1442695040888963407ull;
      a[i] = (float)(x >> 40) / (float)(1 << 24) - 0.5f;
      b[i] = a[i] * 0.5f;
      c[i] = 0;
    }
    for (int t = 0; t < nt; t++) {
      openblas_set_num_threads(threads[t]);
      double samples[1000];
      size_t k = 0;
      double total = 0;
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n); /* warm */
      while (k < 1000 && (k < 5 || total < min_time * 1e9)) {
        uint64_t t0 = kg_now_ns();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        samples[k] = (double)(kg_now_ns() - t0);
        total += samples[k++];
      }
      kg_stats st;
      kg_stats_compute(samples, k, &st);
      json_array_append_new(res, json_pack("{s:i, s:i, s:f, s:f, s:f, s:i}", "n", n, "threads", threads[t], "gflops",
                                           2.0 * n * (double)n * n / st.p50, "p50_ns", st.p50, "ci95_rel",
                                           kg_stats_rel_ci(&st), "samples", (int)k));
    }
    free(a), free(b), free(c);
  }
  json_t *root = json_pack("{s:s, s:o}", "corename", openblas_get_corename(), "results", res);
  char *text = json_dumps(root, JSON_COMPACT);
  json_decref(root);
  if (!text) return 1;
  puts(text);
  free(text);
  return 0;
}
