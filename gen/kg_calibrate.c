/* kg_calibrate.c - peak FLOP/s, STREAM bandwidth and OpenBLAS sgemm of this machine (see
 * kg_calibrate.h). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "kg_calibrate.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <spawn.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cblas.h>

#include "kg_machine.h"
#include "kg_measure.h"
#include "kg_spec.h"
#include "kg_stats.h"
#include "kg_template.h"
#include "kg_timer.h"
#include "kg_worker.h"

#ifndef KG_VERSION
#define KG_VERSION "0"
#endif

extern char **environ;

#define KG_CALIBRATE_MAX_VARIANTS 4 /* stream variants measured per size */
#define KG_CALIBRATE_CALL_BYTES (8.0 * 1024 * 1024) /* a cache-level call moves at least this */
#define KG_CALIBRATE_ROUNDS 4 /* peak and bandwidth: at least this many rounds by default, each
                                 measuring every figure once, so they are spread over the run; then
                                 up to 3x as many for the figures not yet confirmed */
#define KG_CALIBRATE_AGREE 0.02 /* a best figure is confirmed when another round came this close */

static void kg_progress(const kg_calibrate_opts *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void kg_progress(const kg_calibrate_opts *o, const char *fmt, ...) {
  if (!o->progress) return;
  va_list ap;
  va_start(ap, fmt);
  vfprintf(o->progress, fmt, ap);
  va_end(ap);
  fflush(o->progress);
}

/* Thread counts to measure: 1, then doubling, then all cores. */
static int kg_thread_list(int cores, int *list, int cap) {
  int n = 0;
  for (int t = 1; t < cores && n < cap - 1; t *= 2) list[n++] = t;
  list[n++] = cores > 0 ? cores : 1;
  return n;
}

/* ---- rounds: the best of each figure ------------------------------------------------------- */

/* The keys that name one figure: a peak by its thread count, a bandwidth by these four. */
static const char *const kg_peak_keys[] = {"threads", NULL};
static const char *const kg_bw_keys[] = {"op", "level", "threads", "nt", NULL};

/* Whether a and b agree on every key in keys (NULL-terminated). */
static bool kg_same_entry(const json_t *a, const json_t *b, const char *const *keys) {
  for (; *keys; keys++)
    if (!json_equal(json_object_get(a, *keys), json_object_get(b, *keys))) return false;
  return true;
}

/* Fold one round's entries into acc: the entry with the highest `value` wins (the STREAM
 * convention: report the best rate), and "round_values" keeps every round's figure. */
static void kg_merge_best(json_t *acc, const json_t *round, const char *const *keys, const char *value) {
  size_t i, j;
  const json_t *x;
  json_t *y;
  json_array_foreach(round, i, x) {
    json_t *match = NULL;
    json_array_foreach(acc, j, y) if (kg_same_entry(x, y, keys)) match = y;
    const json_t *v = json_object_get(x, value);
    if (!match) {
      json_t *e = json_deep_copy(x);
      json_object_set_new(e, "round_values", json_array());
      if (json_is_number(v)) json_array_append(json_object_get(e, "round_values"), (json_t *)v);
      json_array_append_new(acc, e);
      continue;
    }
    json_t *values = json_incref(json_object_get(match, "round_values"));
    if (json_is_number(v)) json_array_append(values, (json_t *)v);
    const json_t *best = json_object_get(match, value);
    if (json_is_number(v) && (!json_is_number(best) || json_number_value(v) > json_number_value(best))) {
      json_object_clear(match);
      json_object_update(match, (json_t *)x);
    }
    json_object_set_new(match, "round_values", values);
  }
}

/* Whether the figure of `probe` (matched on keys) is settled in acc: its best was reproduced,
 * a second round within KG_CALIBRATE_AGREE of it.  NULL acc (the first round): no. */
static bool kg_confirmed(const json_t *acc, const json_t *probe, const char *const *keys) {
  size_t i;
  const json_t *y;
  json_array_foreach(acc, i, y) if (kg_same_entry(probe, y, keys)) return json_is_true(json_object_get(y, "confirmed"));
  return false;
}

/* Mark each entry of acc "confirmed" when at least two of its rounds reached within
 * KG_CALIBRATE_AGREE of its best; return how many are not. */
static int kg_mark_confirmed(json_t *acc, const char *value) {
  size_t i, j;
  json_t *y, *v;
  int open = 0;
  json_array_foreach(acc, i, y) {
    double best = json_number_value(json_object_get(y, value));
    int near = 0;
    json_array_foreach(json_object_get(y, "round_values"), j, v) near += json_number_value(v) >= best * (1 - KG_CALIBRATE_AGREE);
    bool ok = json_is_number(json_object_get(y, value)) && near >= 2;
    json_object_set_new(y, "confirmed", json_boolean(ok));
    open += !ok;
  }
  return open;
}

/* ---- peak FLOP/s ---------------------------------------------------------------------------- */

/* The FMA microkernel: NACC independent chains a = a * b + c (contracted to FMAs: clang's
 * default -ffp-contract=on fuses within an expression), ITERS steps, each thread its own chains. */
static char *kg_peak_source(int vbytes, bool fp64, int nacc, int threads, long iters) {
  const char *t = fp64 ? "double" : "float";
  int esize = fp64 ? 8 : 4, lanes = vbytes / esize;
  size_t cap = 16384;
  char *s = malloc(cap);
  if (!s) return NULL;
  int n = snprintf(s, cap,
                   "#include <stdlib.h>\n#ifdef _OPENMP\n#include <omp.h>\n#endif\n"
                   "typedef %s T;\n", t);
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
  snprintf(s + n, cap - (size_t)n, "}\n");
  return s;
}

/* One round of peak figures; those already confirmed in `prev` (the rounds so far, NULL in the
 * first) are not measured again. */
static json_t *kg_calibrate_peak(const kg_calibrate_opts *o, const kg_machine *m, kg_compiler *cc,
                                 const json_t *prev, kg_ctx *ctx) {
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
      char *src = kg_peak_source(vb, prec == 1, nacc, tl[i], iters);
      kg_module *mod = NULL;
      char name[64];
      snprintf(name, sizeof name, "peak_%s_%dt", prec ? "fp64" : "fp32", tl[i]);
      kg_ctx cctx = {0};
      if (!src || kg_compiler_compile(cc, name, src, &mod, NULL, &cctx) != KG_OK) {
        json_object_set_new(e, "error", json_string(src ? kg_ctx_message(&cctx) : "out of memory"));
      } else {
        kg_entry ent = {(kg_create_fn)kg_module_sym(mod, "kg_create"), (kg_run_fn)kg_module_sym(mod, "kg_run"),
                        NULL, (kg_destroy_fn)kg_module_sym(mod, "kg_destroy")};
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
          kg_progress(o, "peak %s %d thread(s): %.1f GFLOP/s\n", prec ? "fp64" : "fp32", tl[i], flops / r.stats.min);
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

/* ---- bandwidth ------------------------------------------------------------------------------ */

typedef struct kg_stream_variant {
  int threads, nt;
  char set[128];
  kg_module *mod;
} kg_stream_variant;

/* One round of bandwidth figures; those already confirmed in `prev` (the results of the rounds
 * so far, NULL in the first) are not measured again. */
static json_t *kg_calibrate_bandwidth(const kg_calibrate_opts *o, const kg_machine *m, kg_compiler *cc,
                                      const json_t *prev, kg_ctx *ctx) {
  json_t *bw = json_object();
  kg_spec *spec = NULL;
  kg_ctx sctx = {0};
  if (kg_spec_load(o->stream_spec, &spec, &sctx) != KG_OK) {
    json_object_set_new(bw, "error", json_string(kg_ctx_message(&sctx)));
    return bw;
  }
  int vec = kg_machine_has(m, "avx512f") ? 16 : kg_machine_has(m, "avx2") ? 8 : 1;
  int tall = m->cores > 0 ? m->cores : 1;
  int tp = kg_spec_param_index(spec, "threads");
  if (tp >= 0 && spec->params[tp].kind == KG_PARAM_INT) { /* the spec's largest thread count bounds it */
    int64_t mx = spec->params[tp].ivalues[spec->params[tp].nvalues - 1];
    if (tall > mx) tall = (int)mx;
  }
  kg_stream_variant vs[KG_CALIBRATE_MAX_VARIANTS];
  int nv = 0;
  for (int nt = 0; nt < (vec >= 8 ? 2 : 1); nt++)
    for (int t = 1; t <= tall; t = t == tall ? tall + 1 : (t * 2 > tall ? tall : t * 2)) {
      kg_stream_variant *v = &vs[nv];
      memset(v, 0, sizeof *v);
      v->threads = t;
      v->nt = nt;
      snprintf(v->set, sizeof v->set, "vec=%d,unroll=4,nt=%d,threads=%d", vec, nt, t);
      int32_t point[64] = {0};
      char *src = NULL;
      kg_ctx vctx = {0};
      if (spec->nparams <= 64 && kg_spec_parse_set(spec, v->set, point, &vctx) == KG_OK &&
          kg_template_emit(spec, point, &src, NULL, &vctx) == KG_OK &&
          kg_compiler_compile(cc, v->set, src, &v->mod, NULL, &vctx) == KG_OK)
        nv++;
      else
        kg_progress(o, "stream %s: %s\n", v->set, kg_ctx_message(&vctx));
      free(src);
      if (nv == KG_CALIBRATE_MAX_VARIANTS) break;
    }
  json_object_set_new(bw, "kernel", json_string(spec->name));
  json_object_set_new(bw, "variant", json_string(nv ? vs[0].set : ""));
  json_object_set_new(bw, "array_cap_bytes", json_real(KG_CALIBRATE_ARRAY_CAP));
  json_t *res = json_array();
  if (nv == 0) {
    json_object_set_new(bw, "error", json_string("no stream variant compiled"));
    goto done;
  }

  /* One size per level: half of L1d, half of L2, half of L3 (at most 64 MB), 4x L3 (capped). */
  struct { const char *level; double bytes; } lv[4];
  int nl = 0;
  double l1 = m->l1d ? (double)m->l1d : 32768, l2 = m->l2 ? (double)m->l2 : 1 << 20, l3 = (double)m->l3;
  lv[nl++] = (typeof(lv[0])){"l1", l1 / 2};
  lv[nl++] = (typeof(lv[0])){"l2", l2 / 2};
  if (o->quick) {
    lv[nl++] = (typeof(lv[0])){"dram", 32.0 * (1 << 20)};
  } else {
    if (l3 > l2) lv[nl++] = (typeof(lv[0])){"l3", fmin(l3 / 2, 64.0 * (1 << 20))};
    lv[nl++] = (typeof(lv[0])){"dram", l3 > 0 ? fmin(4 * l3, KG_CALIBRATE_ARRAY_CAP) : KG_CALIBRATE_ARRAY_CAP};
  }
  static const char *const ops[4] = {"copy", "scale", "add", "triad"};
  static const char *const dim_names[3] = {"n", "op", "passes"};
  kg_measure_opts mo;
  kg_measure_opts_default(&mo);
  mo.min_time_s = o->quick ? 0.02 : 0.1;
  mo.warmup_s = o->quick ? 0.01 : 0.05;
  for (int l = 0; l < nl; l++)
    for (int op = 0; op < 4; op++) {
      int arrays = op >= 2 ? 3 : 2;
      int64_t dims[3] = {(int64_t)(lv[l].bytes / (4.0 * arrays)) / 128 * 128, op, 1};
      double bytes = (double)(arrays * 4) * (double)dims[0];
      if (strcmp(lv[l].level, "dram") != 0) dims[2] = (int64_t)ceil(KG_CALIBRATE_CALL_BYTES / bytes);
      kg_problem prob = {3, dim_names, dims, spec->seed, spec->rtol, spec->atol};
      bool pending[KG_CALIBRATE_MAX_VARIANTS];
      int npending = 0;
      for (int v = 0; v < nv; v++) {
        json_t *probe = json_pack("{s:s, s:s, s:i, s:i}", "op", ops[op], "level", lv[l].level, "threads",
                                  vs[v].threads, "nt", vs[v].nt);
        /* streaming stores: for DRAM only */
        pending[v] = (!vs[v].nt || !strcmp(lv[l].level, "dram")) && !kg_confirmed(prev, probe, kg_bw_keys);
        npending += pending[v];
        json_decref(probe);
      }
      if (!npending) continue;
      kg_worker *w = NULL;
      kg_measurement fail;
      kg_create_fn create = (kg_create_fn)kg_module_sym(vs[0].mod, "kg_create");
      kg_destroy_fn destroy = (kg_destroy_fn)kg_module_sym(vs[0].mod, "kg_destroy");
      kg_prepare_fn prepare = (kg_prepare_fn)kg_module_sym(vs[0].mod, "kg_prepare");
      if (kg_worker_start(&prob, create, prepare, destroy, &mo, &w, &fail, ctx) != KG_OK || !w) {
        json_array_append_new(res, json_pack("{s:s, s:s, s:f, s:s}", "op", ops[op], "level", lv[l].level, "bytes",
                                             bytes, "error", w ? "" : fail.reason));
        continue;
      }
      for (int v = 0; v < nv; v++) {
        if (!pending[v]) continue;
        kg_measurement r;
        kg_measurement_init(&r, &mo);
        snprintf(r.reason, sizeof r.reason, "not measured: the worker ended earlier");
        if (kg_worker_alive(w))
          kg_worker_measure(w, (kg_run_fn)kg_module_sym(vs[v].mod, "kg_run"),
                            (kg_verify_fn)kg_module_sym(vs[v].mod, "kg_verify"), &r, ctx);
        json_t *e = json_pack("{s:s, s:s, s:f, s:I, s:i, s:i}", "op", ops[op], "level", lv[l].level, "bytes", bytes,
                              "passes", (json_int_t)dims[2], "threads", vs[v].threads, "nt", vs[v].nt);
        double moved = bytes * (double)dims[2];
        if (r.status == KG_OK) {
          json_object_set_new(e, "gbps", json_real(moved / r.stats.min));
          json_object_set_new(e, "min_ns", json_real(r.stats.min));
          json_object_set_new(e, "gbps_p50", json_real(moved / r.stats.p50));
          json_object_set_new(e, "p50_ns", json_real(r.stats.p50));
          json_object_set_new(e, "noisy", json_boolean(r.noisy));
        } else {
          json_object_set_new(e, "error", json_string(r.reason));
        }
        json_array_append_new(res, e);
      }
      kg_worker_stop(w);
      kg_progress(o, "bandwidth %s %s (%.3g MB) done\n", ops[op], lv[l].level, bytes / (1 << 20));
    }
done:
  json_object_set_new(bw, "results", res);
  for (int v = 0; v < nv; v++) kg_module_free(vs[v].mod);
  kg_spec_free(spec);
  return bw;
}

/* ---- sgemm ---------------------------------------------------------------------------------- */

/* Run `exe __sgemm ...` with OPENBLAS_CORETYPE = coretype (NULL: unset) and parse its JSON. */
static json_t *kg_sgemm_child(const char *exe, const char *coretype, const char *sizes, const char *threads,
                              double min_time, char *err, size_t errcap) {
  int fds[2];
  if (pipe(fds) != 0) {
    snprintf(err, errcap, "pipe: %s", strerror(errno));
    return NULL;
  }
  /* The environment without the variables OpenBLAS sizes its thread pool by (the child sets the
   * threads itself), and with the core type when one is forced.  Unforced, the child keeps the
   * caller's OPENBLAS_CORETYPE: the default dispatch is what the user's programs get. */
  size_t ne = 0;
  while (environ[ne]) ne++;
  char **env = calloc(ne + 2, sizeof *env), core[64];
  size_t k = 0;
  for (size_t i = 0; env && i < ne; i++)
    if ((!coretype || strncmp(environ[i], "OPENBLAS_CORETYPE=", 18)) &&
        strncmp(environ[i], "OPENBLAS_NUM_THREADS=", 21) && strncmp(environ[i], "OMP_NUM_THREADS=", 16))
      env[k++] = environ[i];
  if (env && coretype) {
    snprintf(core, sizeof core, "OPENBLAS_CORETYPE=%s", coretype);
    env[k++] = core;
  }
  char mt[32];
  snprintf(mt, sizeof mt, "%g", min_time);
  char *argv[] = {(char *)exe, "__sgemm", "--sizes", (char *)sizes, "--threads", (char *)threads,
                  "--min-time", mt, NULL};
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
  posix_spawn_file_actions_addclose(&fa, fds[0]);
  pid_t pid;
  fflush(NULL);
  int rc = env ? posix_spawn(&pid, exe, &fa, NULL, argv, env) : ENOMEM;
  posix_spawn_file_actions_destroy(&fa);
  close(fds[1]);
  free(env);
  if (rc != 0) {
    close(fds[0]);
    snprintf(err, errcap, "spawn %s: %s", exe, strerror(rc));
    return NULL;
  }
  size_t cap = 1 << 16, len = 0;
  char *buf = malloc(cap);
  for (ssize_t n; buf && (n = read(fds[0], buf + len, cap - len - 1)) != 0;) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    len += (size_t)n;
    if (len + 1 == cap) break;
  }
  close(fds[0]);
  int wst = 0;
  while (waitpid(pid, &wst, 0) < 0 && errno == EINTR) {
  }
  json_t *out = NULL;
  if (buf) {
    buf[len] = '\0';
    json_error_t je;
    out = json_loads(buf, 0, &je);
  }
  if (!out) snprintf(err, errcap, "the sgemm child (%s) failed (status %d)", coretype ? coretype : "default", wst);
  free(buf);
  return out;
}

static json_t *kg_calibrate_sgemm(const kg_calibrate_opts *o, const kg_machine *m) {
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
        json_object_set_new(e, "env_coretype", getenv("OPENBLAS_CORETYPE") ? json_string(getenv("OPENBLAS_CORETYPE"))
                                                                           : json_string("(unset: OpenBLAS's cpuid detection)"));
      json_object_update(e, (json_t *)x);
      json_array_append_new(res, e);
    }
    kg_progress(o, "sgemm %s (%s) done\n", label, json_is_string(corename) ? json_string_value(corename) : "?");
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
      json_array_append_new(res, json_pack("{s:i, s:i, s:f, s:f, s:f, s:i}", "n", n, "threads", threads[t],
                                           "gflops", 2.0 * n * (double)n * n / st.p50, "p50_ns", st.p50,
                                           "ci95_rel", kg_stats_rel_ci(&st), "samples", (int)k));
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

/* ---- the profile ---------------------------------------------------------------------------- */

/* The best figure among `results` matching op/level/threads (bandwidth) -- NAN when none. */
static double kg_best_bw(const json_t *results, const char *op, const char *level, int threads) {
  double best = NAN;
  size_t i;
  const json_t *x;
  json_array_foreach(results, i, x) {
    const json_t *g = json_object_get(x, "gbps");
    if (!json_is_number(g) || strcmp(json_string_value(json_object_get(x, "op")), op) ||
        strcmp(json_string_value(json_object_get(x, "level")), level) ||
        json_integer_value(json_object_get(x, "threads")) != threads)
      continue;
    if (!(json_number_value(g) <= best)) best = json_number_value(g);
  }
  return best;
}

static double kg_peak_of(const json_t *peak, const char *prec, int threads) {
  size_t i;
  const json_t *x;
  json_array_foreach(json_object_get(peak, prec), i, x) {
    const json_t *g = json_object_get(x, "gflops");
    if (json_integer_value(json_object_get(x, "threads")) == threads && json_is_number(g))
      return json_number_value(g);
  }
  return NAN;
}

static json_t *kg_num_or_null(double v) { return isfinite(v) ? json_real(v) : json_null(); }

kg_status kg_calibrate(const kg_calibrate_opts *o, json_t **out, kg_ctx *ctx) {
  kg_machine m;
  kg_compiler *cc = NULL;
  kg_status st;
  double t0 = (double)kg_now_ns();
  if ((st = kg_machine_detect(&m, ctx))) return st;
  if ((st = kg_compiler_new(&o->compile, &cc, ctx))) return st;
  kg_progress(o, "kgen calibrate: machine %s%s\n", m.id, o->quick ? " (quick)" : "");
  json_t *machine = kg_machine_to_json(&m);
  const char *desc = kg_compiler_describe(cc), *flags = strstr(desc, " -");
  json_object_set_new(machine, "compiler", json_stringn(desc, flags ? (size_t)(flags - desc) : strlen(desc)));
  json_object_set_new(machine, "flags", json_string(flags ? flags + 1 : ""));
  json_t *root = json_pack("{s:i, s:s, s:s, s:b, s:o}", "schema", 1, "kind", "machine-profile", "kgen_version",
                           KG_VERSION, "quick", o->quick, "machine", machine);
  /* Peak and bandwidth: rounds of every figure not yet confirmed, the best of each over its
   * rounds; at least `rounds` (KG_CALIBRATE_ROUNDS), at most 3x as many. */
  int min_rounds = o->rounds > 0 ? o->rounds : o->quick ? 1 : KG_CALIBRATE_ROUNDS;
  int max_rounds = o->rounds > 0 || !o->quick ? 3 * min_rounds : 1;
  int rounds = 0, open = 0;
  json_t *peak = NULL, *bw = NULL;
  for (; rounds < max_rounds && (rounds < min_rounds || open > 0); rounds++) {
    if (rounds < min_rounds) kg_progress(o, "round %d of %d\n", rounds + 1, min_rounds);
    else kg_progress(o, "round %d: %d figure%s not yet confirmed\n", rounds + 1, open, open == 1 ? "" : "s");
    /* the first rounds measure everything, so that a best figure is confirmed by rounds spread
     * over the run rather than by two back to back */
    const json_t *pp = rounds < min_rounds ? NULL : peak, *bp = rounds < min_rounds ? NULL : json_object_get(bw, "results");
    json_t *p = kg_calibrate_peak(o, &m, cc, pp, ctx), *b = kg_calibrate_bandwidth(o, &m, cc, bp, ctx);
    if (!peak) {
      peak = json_deep_copy(p), bw = json_deep_copy(b);
      json_object_set_new(peak, "fp32", json_array());
      json_object_set_new(peak, "fp64", json_array());
      json_object_set_new(bw, "results", json_array());
    }
    kg_merge_best(json_object_get(peak, "fp32"), json_object_get(p, "fp32"), kg_peak_keys, "gflops");
    kg_merge_best(json_object_get(peak, "fp64"), json_object_get(p, "fp64"), kg_peak_keys, "gflops");
    kg_merge_best(json_object_get(bw, "results"), json_object_get(b, "results"), kg_bw_keys, "gbps");
    json_decref(p);
    json_decref(b);
    if (max_rounds > 1) /* a single round has nothing to confirm a figure with */
      open = kg_mark_confirmed(json_object_get(peak, "fp32"), "gflops") +
             kg_mark_confirmed(json_object_get(peak, "fp64"), "gflops") +
             kg_mark_confirmed(json_object_get(bw, "results"), "gbps");
  }
  json_object_set_new(peak, "rounds", json_integer(rounds));
  json_object_set_new(bw, "rounds", json_integer(rounds));
  json_object_set_new(root, "peak", peak);
  json_object_set_new(root, "bandwidth", bw);
  json_object_set_new(root, "sgemm", kg_calibrate_sgemm(o, &m));
  int tall = m.cores > 0 ? m.cores : 1;
  double copy = kg_best_bw(json_object_get(bw, "results"), "copy", "dram", tall);
  json_object_set_new(root, "balance",
                      json_pack("{s:o, s:o, s:s}", "fp32_flops_per_byte",
                                kg_num_or_null(kg_peak_of(peak, "fp32", tall) / copy), "fp64_flops_per_byte",
                                kg_num_or_null(kg_peak_of(peak, "fp64", tall) / copy), "basis",
                                "all-cores peak over all-cores DRAM copy bandwidth"));
  json_object_set_new(root, "elapsed_s", json_real(((double)kg_now_ns() - t0) * 1e-9));
  kg_compiler_free(cc);
  *out = root;
  return KG_OK;
}

void kg_calibrate_print(const json_t *p, FILE *f) {
  const json_t *peak = json_object_get(p, "peak"), *bw = json_object_get(p, "bandwidth"),
               *sg = json_object_get(p, "sgemm"), *x;
  size_t i;
  fprintf(f, "machine %s: %s, %d cores%s\n", json_string_value(json_object_get(json_object_get(p, "machine"), "id")),
          json_string_value(json_object_get(json_object_get(p, "machine"), "cpu")),
          (int)json_integer_value(json_object_get(json_object_get(p, "machine"), "cores")),
          json_is_true(json_object_get(p, "quick")) ? " (quick run)" : "");
  fprintf(f, "\npeak FLOP/s (FMA microkernel, %s, %d accumulators)\n%-8s %12s %12s\n",
          json_string_value(json_object_get(peak, "isa")), (int)json_integer_value(json_object_get(peak, "accumulators")),
          "threads", "fp32 GF/s", "fp64 GF/s");
  json_array_foreach(json_object_get(peak, "fp32"), i, x) {
    int t = (int)json_integer_value(json_object_get(x, "threads"));
    fprintf(f, "%-8d %12.1f %12.1f\n", t, kg_peak_of(peak, "fp32", t), kg_peak_of(peak, "fp64", t));
  }
  fprintf(f, "\nbandwidth GB/s (%s %s; best of plain and streaming stores)\n%-6s %10s %8s %9s %9s %9s %9s\n",
          json_string_value(json_object_get(bw, "kernel")), json_string_value(json_object_get(bw, "variant")),
          "level", "bytes", "threads", "copy", "scale", "add", "triad");
  static const char *const levels[4] = {"l1", "l2", "l3", "dram"};
  const json_t *res = json_object_get(bw, "results");
  for (int l = 0; l < 4; l++)
    for (int t = 1; t <= 1024; t++) {
      double c = kg_best_bw(res, "copy", levels[l], t), s = kg_best_bw(res, "scale", levels[l], t),
             a = kg_best_bw(res, "add", levels[l], t), tr = kg_best_bw(res, "triad", levels[l], t);
      if (isnan(c) && isnan(s) && isnan(a) && isnan(tr)) continue;
      double bytes = 0;
      json_array_foreach(res, i, x) if (!strcmp(json_string_value(json_object_get(x, "level")), levels[l]) &&
                                        !strcmp(json_string_value(json_object_get(x, "op")), "copy")) bytes =
          json_number_value(json_object_get(x, "bytes"));
      fprintf(f, "%-6s %8.3gMB %8d %9.1f %9.1f %9.1f %9.1f\n", levels[l], bytes / (1 << 20), t, c, s, a, tr);
    }
  /* figures whose best no second round came near: the machine was too noisy to settle them */
  int unconfirmed = 0;
  static const char *const precs[2] = {"fp32", "fp64"};
  for (int k = 0; k < 2; k++)
    json_array_foreach(json_object_get(peak, precs[k]), i, x) if (json_is_false(json_object_get(x, "confirmed")))
      fprintf(f, "%s peak %s %d thread(s)", unconfirmed++ ? "," : "\nnot confirmed:", precs[k],
              (int)json_integer_value(json_object_get(x, "threads")));
  json_array_foreach(res, i, x) if (json_is_false(json_object_get(x, "confirmed")))
    fprintf(f, "%s %s %s %d thread(s)%s", unconfirmed++ ? "," : "\nnot confirmed:",
            json_string_value(json_object_get(x, "op")), json_string_value(json_object_get(x, "level")),
            (int)json_integer_value(json_object_get(x, "threads")), json_integer_value(json_object_get(x, "nt")) ? " nt" : "");
  if (unconfirmed)
    fprintf(f, "\n  (%d figure%s: after %d rounds no second round came within %.0f%% of the best; the machine was "
               "too noisy to settle %s)\n",
            unconfirmed, unconfirmed == 1 ? "" : "s", (int)json_integer_value(json_object_get(bw, "rounds")),
            KG_CALIBRATE_AGREE * 100, unconfirmed == 1 ? "it" : "them");
  fprintf(f, "\nOpenBLAS cblas_sgemm GFLOP/s\n%-10s %-10s %8s %6s %10s\n", "coretype", "corename", "threads", "n",
          "GF/s");
  json_array_foreach(json_object_get(sg, "results"), i, x) {
    if (json_object_get(x, "error")) {
      fprintf(f, "%-10s error: %s\n", json_string_value(json_object_get(x, "coretype")),
              json_string_value(json_object_get(x, "error")));
      continue;
    }
    fprintf(f, "%-10s %-10s %8d %6d %10.1f\n", json_string_value(json_object_get(x, "coretype")),
            json_string_value(json_object_get(x, "corename")), (int)json_integer_value(json_object_get(x, "threads")),
            (int)json_integer_value(json_object_get(x, "n")), json_number_value(json_object_get(x, "gflops")));
  }
  const json_t *bal = json_object_get(p, "balance");
  fprintf(f, "\nmachine balance: %.2f fp32 flops/byte, %.2f fp64 flops/byte (%s)\n",
          json_number_value(json_object_get(bal, "fp32_flops_per_byte")),
          json_number_value(json_object_get(bal, "fp64_flops_per_byte")),
          json_string_value(json_object_get(bal, "basis")));
}
