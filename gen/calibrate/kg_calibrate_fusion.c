/* kg_calibrate_fusion.c - `kgen calibrate --fusion`: fused against unfused per pattern
 * (kg_calibrate_fusion.h). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "kg_calibrate_fusion.h"

#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kg_bench.h"
#include "kg_machine.h"
#include "kg_report.h"
#include "kg_spec.h"
#include "kg_timer.h"
#include "kg_tune.h"

#define KG_FUSION_MAX_SPECS 64

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The *.lua files of dir, sorted, into paths[cap] (malloc'd each); returns how many. */
static int list_specs(const char *dir, char **paths, int cap) {
  DIR *d = opendir(dir);
  if (!d) return 0;
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)) && n < cap) {
    size_t len = strlen(e->d_name);
    if (len > 4 && !strcmp(e->d_name + len - 4, ".lua") && asprintf(&paths[n], "%s/%s", dir, e->d_name) >= 0) n++;
  }
  closedir(d);
  qsort(paths, (size_t)n, sizeof *paths, cmp_str);
  return n;
}

/* The point to measure for problem `name`: this machine's shipped winner when tuned has one in
 * the spec's space, else the default point (0).  *src names which. */
static long pick_point(const kg_spec *spec, const json_t *tuned, const char *name, const char **src) {
  *src = "default";
  if (!tuned) return 0;
  const char *names[1] = {name}, *sel[1];
  long pp[1], pts[1], npts = 0;
  int nsel = 0;
  kg_ctx ctx = {0};
  if (kg_bench_points(spec, tuned, 1, names, sel, pp, &nsel, pts, &npts, &ctx) != KG_OK || nsel != 1) return 0;
  *src = "tuned";
  return pp[0];
}

/* Measure spec's selected problems; append one shape object per problem to the patterns of acc. */
static kg_status run_spec(const kg_calibrate_fusion_opts *o, const kg_spec *spec, const kg_machine *m, json_t *acc,
                          kg_ctx *ctx) {
  kg_tune_opts to;
  kg_tune_opts_default(&to);
  to.compile = o->compile;
  to.progress = o->progress;
  to.finalists = 1;
  to.rounds = o->quick ? 1 : 3;
  to.measure.min_time_s = o->quick ? 0.02 : 0.2;
  long points[KG_TUNE_MAX_PROBLEMS], ppoints[KG_TUNE_MAX_PROBLEMS];
  const char *srcs[KG_TUNE_MAX_PROBLEMS];
  json_t *tuned = NULL;
  kg_ctx ign = {0};
  if (kg_bench_load_tuned(o->tuned_dir ? o->tuned_dir : "tuned", spec->name, m, &tuned, &ign) != KG_OK) tuned = NULL;
  for (int i = 0; i < spec->nproblems && to.nproblems < KG_TUNE_MAX_PROBLEMS; i++) {
    if (!o->full && !spec->problems[i].fusion_quick) continue;
    const int k = to.nproblems++;
    to.problems[k] = spec->problems[i].name;
    ppoints[k] = pick_point(spec, tuned, spec->problems[i].name, &srcs[k]);
  }
  json_decref(tuned);
  for (int i = 0; i < to.nproblems; i++) { /* the distinct points */
    bool seen = false;
    for (long j = 0; j < to.npoints && !seen; j++) seen = points[j] == ppoints[i];
    if (!seen) points[to.npoints++] = ppoints[i];
  }
  to.points = points;
  to.problem_points = ppoints;
  if (o->progress) fprintf(o->progress, "kgen calibrate --fusion: %s, %d problem(s)\n", spec->name, to.nproblems);
  kg_tune_report *r = NULL;
  kg_status st = kg_tune(spec, &to, &r, ctx);
  if (st) return st;
  json_t *patterns = json_object_get(acc, "patterns");
  for (int p = 0; p < r->nproblems; p++) {
    const kg_problem_result *pr = &r->problems[p];
    const kg_spec_problem *sp = &spec->problems[pr->problem];
    kg_fusion_figures f;
    if (!kg_report_fusion(r, pr, &f)) continue;
    int sel = 0; /* its place in the selection (the point measured, where it came from) */
    for (int k = 0; k < to.nproblems; k++)
      if (!strcmp(to.problems[k], sp->name)) sel = k;
    json_t *dims = json_object(), *params = json_object();
    for (int d = 0; d < sp->ndims; d++) json_object_set_new(dims, sp->dim_names[d], json_integer(sp->dims[d]));
    const int32_t *pt = spec->points + (size_t)ppoints[sel] * (size_t)spec->nparams;
    for (int i = 0; i < spec->nparams; i++) {
      const kg_param *q = &spec->params[i];
      json_object_set_new(params, q->name,
                          q->kind == KG_PARAM_INT ? json_integer(q->ivalues[pt[i]]) : json_string(q->svalues[pt[i]]));
    }
    json_t *shape = json_pack("{s:s, s:s, s:o, s:o, s:s, s:s}", "kernel", spec->name, "problem", sp->name, "dims", dims,
                              "params", params, "variant_source", srcs[sel], "verdict", f.verdict);
#define KG_SET_NUM(key, v) json_object_set_new(shape, key, isfinite(v) ? json_real(v) : json_null())
    KG_SET_NUM("speedup", f.speedup);
    KG_SET_NUM("memory_reduction", f.memory_reduction);
    KG_SET_NUM("fused_gflops", f.flops > 0 ? f.flops / f.fused_ns : NAN);
    KG_SET_NUM("unfused_gflops", f.flops > 0 ? f.flops / f.unfused_ns : NAN);
    KG_SET_NUM("fused_latency_ms", f.fused_ns * 1e-6);
    KG_SET_NUM("unfused_latency_ms", f.unfused_ns * 1e-6);
#undef KG_SET_NUM
    json_t *pat = json_object_get(patterns, f.pattern);
    if (!pat) {
      pat = json_pack("{s:[]}", "shapes");
      json_object_set_new(patterns, f.pattern, pat);
    }
    json_array_append_new(json_object_get(pat, "shapes"), shape);
  }
  kg_tune_report_free(r);
  return KG_OK;
}

/* Each pattern's geometric-mean speedup and verdict from its shapes. */
static void summarise(json_t *patterns) {
  const char *name;
  json_t *pat;
  json_object_foreach(patterns, name, pat) {
    double logsum = 0;
    int n = 0, fuse = 0, avoid = 0;
    size_t i;
    json_t *sh;
    json_array_foreach(json_object_get(pat, "shapes"), i, sh) {
      const json_t *sp = json_object_get(sh, "speedup");
      if (json_is_number(sp) && json_number_value(sp) > 0) logsum += log(json_number_value(sp)), n++;
      const char *v = json_string_value(json_object_get(sh, "verdict"));
      fuse += v && !strcmp(v, "fuse");
      avoid += v && !strcmp(v, "avoid");
    }
    json_object_set_new(pat, "speedup", n ? json_real(exp(logsum / n)) : json_null());
    json_object_set_new(pat, "verdict", json_string(fuse && !avoid ? "fuse" : avoid && !fuse ? "avoid" : "neutral"));
  }
}

kg_status kg_calibrate_fusion(const kg_calibrate_fusion_opts *o, json_t **out, kg_ctx *ctx) {
  *out = NULL;
  const unsigned long long t0 = kg_now_ns();
  kg_machine m;
  kg_status st = kg_machine_detect(&m, ctx);
  if (st) return st;
  char *found[KG_FUSION_MAX_SPECS];
  const int nfound = o->nspecs > 0 ? 0 : list_specs(o->specs_dir ? o->specs_dir : "specs", found, KG_FUSION_MAX_SPECS);
  const int n = o->nspecs > 0 ? o->nspecs : nfound;
  json_t *acc = json_pack("{s:b, s:s, s:{}}", "full", o->full, "rule",
                          "shape: fuse when the fused median's 95% CI lies entirely below the unfused one, avoid when "
                          "entirely above, neutral otherwise; pattern: fuse when some shape says fuse and none avoid, "
                          "avoid when some says avoid and none fuse, else neutral; speedup = unfused / fused p50 "
                          "(pattern: geometric mean)",
                          "patterns");
  int used = 0;
  for (int i = 0; i < n && st == KG_OK; i++) {
    const char *path = o->nspecs > 0 ? o->specs[i] : found[i];
    kg_spec *spec = NULL;
    kg_ctx lctx = {0};
    if (kg_spec_load(path, &spec, &lctx) != KG_OK) {
      if (o->nspecs > 0) st = kg_ctx_set(ctx, KG_ESPEC, "%s", lctx.msg);
      else if (o->progress) fprintf(o->progress, "kgen calibrate --fusion: skipping %s: %s\n", path, lctx.msg);
      continue;
    }
    if (!spec->fusion) {
      if (o->nspecs > 0)
        st = kg_ctx_set(ctx, KG_ESPEC, "%s: the spec has no `fusion` key (not a fusion pattern)", path);
    } else {
      st = run_spec(o, spec, &m, acc, ctx);
      used++;
    }
    kg_spec_free(spec);
  }
  for (int i = 0; i < nfound; i++) free(found[i]);
  if (st == KG_OK && used == 0)
    st = kg_ctx_set(ctx, KG_ENOTFOUND, "no spec with a `fusion` key in %s", o->specs_dir ? o->specs_dir : "specs");
  if (st) {
    json_decref(acc);
    return st;
  }
  summarise(json_object_get(acc, "patterns"));
  json_object_set_new(acc, "elapsed_s", json_real((double)(kg_now_ns() - t0) * 1e-9));
  *out = acc;
  return KG_OK;
}

void kg_calibrate_fusion_print(const json_t *fp, FILE *f) {
  fprintf(f, "fusion profile (%s): fused against unfused, same rounds\n",
          json_is_true(json_object_get(fp, "full")) ? "full" : "quick subset");
  fprintf(f, "%-28s %12s %9s  %s\n", "pattern", "CPU speedup", "memory", "verdict (shapes)");
  const char *name;
  json_t *pat;
  json_t *pats = json_object_get(fp, "patterns");
  json_object_foreach(pats, name, pat) {
    const json_t *sp = json_object_get(pat, "speedup");
    const json_t *shapes = json_object_get(pat, "shapes");
    double mr = NAN;
    if (json_array_size(shapes)) mr = json_number_value(json_object_get(json_array_get(shapes, 0), "memory_reduction"));
    char s[32] = "-", mem[32] = "-";
    if (json_is_number(sp)) snprintf(s, sizeof s, "%.2fx", json_number_value(sp));
    if (isfinite(mr)) snprintf(mem, sizeof mem, "-%.0f%%", 100 * mr);
    fprintf(f, "%-28s %12s %9s  %s (%zu)\n", name, s, mem, json_string_value(json_object_get(pat, "verdict")),
            json_array_size(shapes));
  }
  fprintf(f, "speedup: unfused / fused p50 (geometric mean over the shapes); memory: bytes saved (first shape)\n");
}
