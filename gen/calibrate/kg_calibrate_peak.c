/* kg_calibrate_peak.c - peak FLOP/s: a JIT-compiled FMA microkernel, fp32 and fp64, 1 thread to
 * all cores (kg_calibrate.h). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "kg_calibrate_internal.h"

#include "kg_worker.h"

/* ---- peak FLOP/s ---------------------------------------------------------------------------- */

char *kg_calibrate_peak_source(int vbytes, bool fp64, int nacc, int threads, long iters) {
  const char *t = fp64 ? "double" : "float";
  int esize = fp64 ? 8 : 4, lanes = vbytes / esize;
  size_t cap = 16384;
  char *s = malloc(cap);
  if (!s) return NULL;
  int n = snprintf(s, cap,
                   "#include <stdlib.h>\n#ifdef _OPENMP\n#include <omp.h>\n#endif\n"
                   "typedef %s T;\n",
                   t);
  if (lanes > 1) n += snprintf(s + n, cap - (size_t)n, "typedef T vt __attribute__((vector_size(%d)));\n", vbytes);
  else n += snprintf(s + n, cap - (size_t)n, "typedef T vt;\n");
  n += snprintf(s + n, cap - (size_t)n,
                "typedef struct { T b, c; double sink[256]; } st;\n"
                "void *kg_create(const void *p) { st *s = calloc(1, sizeof *s); (void)p;\n"
                "  if (s) { s->b = (T)0.9999999; s->c = (T)1e-7; } return s; }\n"
                "void kg_destroy(void *s) { free(s); }\n"
                "static double body(const st *s) {\n  vt zero = {0}; vt b = zero + s->b, c = zero + s->c;\n");
  for (int a = 0; a < nacc; a++) n += snprintf(s + n, cap - (size_t)n, "  vt a%d = zero + (T)%d;\n", a, a + 1);
  n += snprintf(s + n, cap - (size_t)n, "  for (long i = 0; i < %ldL; i++) {\n", iters);
  for (int a = 0; a < nacc; a++) n += snprintf(s + n, cap - (size_t)n, "    a%d = a%d * b + c;\n", a, a);
  n += snprintf(s + n, cap - (size_t)n, "    __asm__ volatile(\"\" ::: \"memory\");\n  }\n  vt sum = a0");
  for (int a = 1; a < nacc; a++) n += snprintf(s + n, cap - (size_t)n, " + a%d", a);
  n += snprintf(s + n, cap - (size_t)n, ";\n  double r = 0;\n");
  if (lanes > 1) n += snprintf(s + n, cap - (size_t)n, "  for (int k = 0; k < %d; k++) r += sum[k];\n", lanes);
  else n += snprintf(s + n, cap - (size_t)n, "  r = sum;\n");
  n += snprintf(s + n, cap - (size_t)n, "  return r;\n}\nvoid kg_run(void *p) {\n  st *s = p;\n");
  if (threads > 1)
    n += snprintf(s + n, cap - (size_t)n,
                  "#pragma omp parallel num_threads(%d)\n  { s->sink[omp_get_thread_num() & 255] = body(s); }\n",
                  threads);
  else n += snprintf(s + n, cap - (size_t)n, "  s->sink[0] = body(s);\n");
  snprintf(s + n, cap - (size_t)n,
           "}\ndouble kg_peak_result(const void *p, int thread) { return ((const st *)p)->sink[thread & 255]; }\n");
  return s;
}

/* One round of peak figures; those already confirmed in `prev` (the rounds so far, NULL in the
 * first) are not measured again. */
json_t *kg_calibrate_peak(const kg_calibrate_opts *o, const kg_machine *m, kg_compiler *cc, const json_t *prev,
                          kg_ctx *ctx) {
  int vbytes = kg_machine_has(m, "avx512f") ? 64 : kg_machine_has(m, "avx2") ? 32 : 8;
  const char *isa = vbytes == 64 ? "avx512" : vbytes == 32 ? "avx2" : "scalar";
  int nacc = vbytes == 64 ? 16 : vbytes == 32 ? 12 : 8;
  long iters = 1L << 15;
  int tl[16], nt = kg_thread_list(m->cores, tl, 16);
  json_t *peak = json_pack("{s:s, s:i, s:i, s:I}", "isa", isa, "vector_bits", vbytes == 8 ? 64 : vbytes * 8,
                           "accumulators", nacc, "iterations", (json_int_t)iters);
  kg_measure_opts mo;
  kg_measure_opts_default(&mo);
  mo.min_time_s = o->quick ? 0.03 : 0.25;
  mo.min_sample_ns = 1e6;
  for (int prec = 0; prec < 2; prec++) {
    json_t *arr = json_array();
    for (int i = 0; i < nt; i++) {
      json_t *e = json_pack("{s:i}", "threads", tl[i]);
      if (kg_confirmed(json_object_get(prev, prec ? "fp64" : "fp32"), e, kg_peak_keys)) {
        json_decref(e);
        continue;
      }
      /* scalar "vectors" of 8 bytes hold one double or, for fp32, a pair: keep one element */
      int vb = vbytes == 8 ? (prec ? 8 : 4) : vbytes;
      char *src = kg_calibrate_peak_source(vb, prec == 1, nacc, tl[i], iters);
      kg_module *mod = NULL;
      char name[64];
      snprintf(name, sizeof name, "peak_%s_%dt", prec ? "fp64" : "fp32", tl[i]);
      kg_ctx cctx = {0};
      if (!src || kg_compiler_compile(cc, name, src, &mod, NULL, &cctx) != KG_OK) {
        json_object_set_new(e, "error", json_string(src ? kg_ctx_message(&cctx) : "out of memory"));
      } else {
        kg_entry ent = {(kg_create_fn)kg_module_sym(mod, "kg_create"), (kg_run_fn)kg_module_sym(mod, "kg_run"), NULL,
                        (kg_destroy_fn)kg_module_sym(mod, "kg_destroy")};
        kg_problem prob = {0, NULL, NULL, 1, 0, 0};
        kg_measurement r;
        kg_measure(&prob, &ent, &mo, &r, ctx);
        double flops = 2.0 * (vb / (prec ? 8 : 4)) * nacc * (double)iters * tl[i];
        if (r.status == KG_OK) {
          json_object_set_new(e, "gflops", json_real(flops / r.stats.min));
          json_object_set_new(e, "min_ns", json_real(r.stats.min));
          json_object_set_new(e, "gflops_p50", json_real(flops / r.stats.p50));
          json_object_set_new(e, "p50_ns", json_real(r.stats.p50));
          json_object_set_new(e, "noisy", json_boolean(r.noisy));
          kg_calibrate_progress(o, "peak %s %d thread(s): %.1f GFLOP/s\n", prec ? "fp64" : "fp32", tl[i],
                                flops / r.stats.min);
        } else {
          json_object_set_new(e, "error", json_string(r.reason));
        }
      }
      kg_module_free(mod);
      free(src);
      json_array_append_new(arr, e);
    }
    json_object_set_new(peak, prec ? "fp64" : "fp32", arr);
  }
  return peak;
}
