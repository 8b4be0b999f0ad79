/* kg_calibrate_bw.c - bandwidth: the kernels of the bandwidth spec (specs/stream.lua), found
 * through its roles, at sizes chosen from the caches (kg_calibrate.h). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "kg_calibrate_internal.h"

#include <math.h>
#include <string.h>

#include "kg_template.h"
#include "kg_worker.h"

/* ---- bandwidth ------------------------------------------------------------------------------ */

#define KG_BW_MAX_OPS 8

/* What the bandwidth spec's roles name: parameter indices and dimension names (borrowed from the
 * spec), and its operations: the distinct values of the op dimension over its problems, each
 * named by the part of a problem's name before '_' and moving op_bytes per element (its bytes
 * metric over size x passes). */
typedef struct kg_bw_roles {
  int threads, vector, unroll, nt;
  const char *size, *op, *passes;
  int nops;
  int64_t op_codes[KG_BW_MAX_OPS];
  char op_names[KG_BW_MAX_OPS][32];
  double op_bytes[KG_BW_MAX_OPS];
} kg_bw_roles;

static int kg_str_cmp(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

static int64_t kg_dim_of(const kg_spec_problem *p, const char *name, int64_t dflt) {
  for (int i = 0; i < p->ndims; i++)
    if (!strcmp(p->dim_names[i], name)) return p->dims[i];
  return dflt;
}

static kg_status kg_bw_roles_of(const kg_spec *spec, kg_bw_roles *r, kg_ctx *ctx) {
  memset(r, 0, sizeof *r);
  static const char *const params[] = {"threads", "vector", "unroll", "streaming_stores"};
  int *idx[] = {&r->threads, &r->vector, &r->unroll, &r->nt};
  for (int i = 0; i < 4; i++) {
    *idx[i] = kg_spec_role_param(spec, params[i]);
    if (*idx[i] < 0 || spec->params[*idx[i]].kind != KG_PARAM_INT)
      return kg_ctx_set(ctx, KG_ESPEC, "%s: calibrate needs roles.%s naming an integer parameter", spec->path,
                        params[i]);
  }
  static const char *const dims[] = {"size", "op", "passes"};
  const char **dst[] = {&r->size, &r->op, &r->passes};
  for (int i = 0; i < 3; i++)
    if (!(*dst[i] = kg_spec_role(spec, dims[i])))
      return kg_ctx_set(ctx, KG_ESPEC, "%s: calibrate needs roles.%s naming a problem dimension", spec->path, dims[i]);
  for (int p = 0; p < spec->nproblems; p++) {
    const kg_spec_problem *pr = &spec->problems[p];
    int64_t code = kg_dim_of(pr, r->op, -1), n = kg_dim_of(pr, r->size, 0), passes = kg_dim_of(pr, r->passes, 1);
    if (code < 0 || n <= 0 || passes <= 0 || pr->bytes <= 0) continue;
    int i = 0;
    while (i < r->nops && r->op_codes[i] != code) i++;
    if (i < r->nops || r->nops == KG_BW_MAX_OPS) continue;
    r->op_codes[i] = code;
    r->op_bytes[i] = pr->bytes / ((double)n * (double)passes);
    const char *us = strchr(pr->name, '_');
    snprintf(r->op_names[i], sizeof r->op_names[i], "%.*s", us ? (int)(us - pr->name) : (int)strlen(pr->name),
             pr->name);
    r->nops++;
  }
  if (r->nops == 0)
    return kg_ctx_set(ctx, KG_ESPEC, "%s: no problem with the op and size dimensions and a bytes metric", spec->path);
  return KG_OK;
}

typedef struct kg_bw_variant {
  int threads, nt;
  char set[128];
  kg_module *mod;
} kg_bw_variant;

/* One round of bandwidth figures; those already confirmed in `prev` (the results of the rounds
 * so far, NULL in the first) are not measured again. */
json_t *kg_calibrate_bandwidth(const kg_calibrate_opts *o, const kg_machine *m, kg_compiler *cc, const json_t *prev,
                               kg_ctx *ctx) {
  json_t *bw = json_object();
  kg_spec *spec = NULL;
  kg_ctx sctx = {0};
  kg_spec_load_opts lo = {.machine = m};
  kg_bw_roles sr;
  if (kg_spec_load_ex(o->bandwidth_spec, &lo, &spec, &sctx) != KG_OK || kg_bw_roles_of(spec, &sr, &sctx) != KG_OK) {
    json_object_set_new(bw, "error", json_string(kg_ctx_message(&sctx)));
    kg_spec_free(spec);
    return bw;
  }
  /* the widest vector the spec offers (it offers what the machine has), unroll 4 when offered */
  const kg_param *vp = &spec->params[sr.vector], *up = &spec->params[sr.unroll], *tp = &spec->params[sr.threads];
  int64_t vec = vp->ivalues[vp->nvalues - 1], unroll = up->ivalues[0];
  for (int i = 0; i < up->nvalues; i++)
    if (up->ivalues[i] == 4) unroll = 4;
  kg_bw_variant vs[KG_CALIBRATE_MAX_VARIANTS];
  int nv = 0;
  for (int nt = 0; nt < 2 && nv < KG_CALIBRATE_MAX_VARIANTS; nt++)
    for (int ti = 0; ti < tp->nvalues && nv < KG_CALIBRATE_MAX_VARIANTS; ti++) {
      kg_bw_variant *v = &vs[nv];
      memset(v, 0, sizeof *v);
      v->threads = (int)tp->ivalues[ti];
      v->nt = nt;
      snprintf(v->set, sizeof v->set, "%s=%lld,%s=%lld,%s=%d,%s=%d", vp->name, (long long)vec, up->name,
               (long long)unroll, spec->params[sr.nt].name, nt, tp->name, v->threads);
      int32_t point[64] = {0};
      char *src = NULL;
      kg_ctx vctx = {0};
      if (spec->nparams > 64 || kg_spec_parse_set(spec, v->set, point, &vctx) != KG_OK) continue; /* not offered */
      if (kg_template_emit(spec, point, &src, NULL, &vctx) == KG_OK &&
          kg_compiler_compile(cc, v->set, src, &v->mod, NULL, &vctx) == KG_OK)
        nv++;
      else kg_calibrate_progress(o, "%s %s: %s\n", spec->name, v->set, kg_ctx_message(&vctx));
      free(src);
    }
  json_object_set_new(bw, "kernel", json_string(spec->name));
  json_object_set_new(bw, "variant", json_string(nv ? vs[0].set : ""));
  json_object_set_new(bw, "array_cap_bytes", json_real(KG_CALIBRATE_ARRAY_CAP));
  json_t *res = json_array();
  if (nv == 0) {
    json_object_set_new(bw, "error", json_string("no variant of the bandwidth spec compiled"));
    goto done;
  }

  /* One size per level: half of L1d, half of L2, half of L3 (at most 64 MB), 4x L3 (capped). */
  struct {
    const char *level;
    double bytes;
  } lv[4];
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
  /* dimensions sorted by name, as kg_problem wants them */
  const char *dim_names[3] = {sr.size, sr.op, sr.passes};
  int at[3] = {0, 1, 2}; /* at[role] = position in dim_names */
  qsort(dim_names, 3, sizeof *dim_names, kg_str_cmp);
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < 3; j++)
      if (dim_names[j] == (i == 0 ? sr.size : i == 1 ? sr.op : sr.passes)) at[i] = j;
  kg_measure_opts mo;
  kg_measure_opts_default(&mo);
  mo.min_time_s = o->quick ? 0.02 : 0.1;
  mo.warmup_s = o->quick ? 0.01 : 0.05;
  for (int l = 0; l < nl; l++)
    for (int oi = 0; oi < sr.nops; oi++) {
      const char *opname = sr.op_names[oi];
      int64_t dims[3];
      dims[at[0]] = (int64_t)(lv[l].bytes / sr.op_bytes[oi]) / 128 * 128;
      dims[at[1]] = sr.op_codes[oi];
      dims[at[2]] = 1;
      double bytes = sr.op_bytes[oi] * (double)dims[at[0]];
      if (strcmp(lv[l].level, "dram") != 0) dims[at[2]] = (int64_t)ceil(KG_CALIBRATE_CALL_BYTES / bytes);
      kg_problem prob = {3, dim_names, dims, spec->seed, spec->rtol, spec->atol};
      bool pending[KG_CALIBRATE_MAX_VARIANTS];
      int npending = 0;
      for (int v = 0; v < nv; v++) {
        json_t *probe = json_pack("{s:s, s:s, s:i, s:i}", "op", opname, "level", lv[l].level, "threads", vs[v].threads,
                                  "nt", vs[v].nt);
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
        json_array_append_new(res, json_pack("{s:s, s:s, s:f, s:s}", "op", opname, "level", lv[l].level, "bytes", bytes,
                                             "error", w ? "" : fail.reason));
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
        json_t *e = json_pack("{s:s, s:s, s:f, s:I, s:i, s:i}", "op", opname, "level", lv[l].level, "bytes", bytes,
                              "passes", (json_int_t)dims[at[2]], "threads", vs[v].threads, "nt", vs[v].nt);
        double moved = bytes * (double)dims[at[2]];
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
      kg_calibrate_progress(o, "bandwidth %s %s (%.3g MB) done\n", opname, lv[l].level, bytes / (1 << 20));
    }
done:
  json_object_set_new(bw, "results", res);
  for (int v = 0; v < nv; v++) kg_module_free(vs[v].mod);
  kg_spec_free(spec);
  return bw;
}
