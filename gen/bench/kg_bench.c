/* kg_bench.c - shipped winners, closest machine, regressions between reports (see kg_bench.h). */
#include "kg_bench.h"

#include <dirent.h>
#include <inttypes.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../ship/runtime/kgen_mdist.h"
#include "kg_template.h"

double kg_bench_machine_score(const json_t *machine, const kg_machine *m) {
  double score = 0;
  const char *ua = json_string_value(json_object_get(machine, "microarch"));
  const char *vendor = json_string_value(json_object_get(machine, "vendor"));
  if (ua && strcmp(ua, "unknown") && !strcmp(ua, m->microarch)) score += 4;
  if (vendor && !strcmp(vendor, m->vendor)) score += 0.5;
  if (json_integer_value(json_object_get(machine, "cores")) == m->cores) score += 1;
  const json_t *isa = json_object_get(machine, "isa"), *x;
  size_t i, common = 0, total = (size_t)m->nisa;
  json_array_foreach(isa, i, x) {
    const char *flag = json_string_value(x);
    if (flag && kg_machine_has(m, flag)) common++;
    else total++;
  }
  if (total > 0) score += 3.0 * (double)common / (double)total;
  return score;
}

kg_status kg_bench_load_tuned(const char *dir, const char *kernel, const kg_machine *m, json_t **out, kg_ctx *ctx) {
  char path[4200];
  snprintf(path, sizeof path, "%.2048s/%.1024s/%s.json", dir, kernel, m->id);
  json_error_t err;
  if (access(path, F_OK) == 0) {
    *out = json_load_file(path, 0, &err);
    if (!*out) return kg_ctx_set(ctx, KG_EIO, "%s:%d: %s", path, err.line, err.text);
    return KG_OK;
  }
  /* Name the closest machine that has results. */
  char kdir[4200], best[256] = "";
  double best_score = -1;
  snprintf(kdir, sizeof kdir, "%.2048s/%.1024s", dir, kernel);
  DIR *d = opendir(kdir);
  for (struct dirent *e; d && (e = readdir(d));) {
    size_t n = strlen(e->d_name);
    if (n < 6 || strcmp(e->d_name + n - 5, ".json")) continue;
    char p[4500];
    snprintf(p, sizeof p, "%s/%s", kdir, e->d_name);
    json_t *r = json_load_file(p, 0, &err);
    const json_t *mach = json_object_get(r, "machine");
    if (json_is_object(mach) && json_is_string(json_object_get(mach, "id"))) {
      double s = kg_bench_machine_score(mach, m);
      if (s > best_score) {
        best_score = s;
        snprintf(best, sizeof best, "%s", json_string_value(json_object_get(mach, "id")));
      }
    }
    json_decref(r);
  }
  if (d) closedir(d);
  if (best[0])
    return kg_ctx_set(ctx, KG_ENOTFOUND,
                      "no tuned result for this machine (%s) in %s; closest machine with results: %s (similarity "
                      "%.1f of 8.5: microarch, ISA, cores); run kgen tune here, or pass --set to measure a variant",
                      m->id, kdir, best, best_score);
  return kg_ctx_set(ctx, KG_ENOTFOUND,
                    "no tuned result for this machine (%s) in %s, and no other machine has results for %s; run kgen "
                    "tune, or pass --set to measure a variant",
                    m->id, kdir, kernel);
}

double kg_bench_machine_distance(const json_t *machine, const kg_machine *m) {
  if (!json_is_object(machine)) return -1;
  const json_t *isa = json_object_get(machine, "isa"), *x, *caches = json_object_get(machine, "caches");
  const char *names[KG_MAX_ISA], *mine[KG_MAX_ISA];
  int n = 0;
  size_t i;
  json_array_foreach(isa, i, x) if (n < KG_MAX_ISA) names[n++] = json_string_value(x);
  for (int k = 0; k < m->nisa; k++) mine[k] = m->isa[k];
  const kgr_mdesc e = {json_string_value(json_object_get(machine, "vendor")),
                       (int)json_integer_value(json_object_get(machine, "family")),
                       (int)json_integer_value(json_object_get(machine, "model")),
                       kgr_isa_of_names(names, n),
                       (int)json_integer_value(json_object_get(machine, "cores")),
                       (int64_t)json_integer_value(json_object_get(caches, "l1d")),
                       (int64_t)json_integer_value(json_object_get(caches, "l2")),
                       (int64_t)json_integer_value(json_object_get(caches, "l3"))};
  const kgr_mdesc c = {m->vendor, m->family,       m->model,       kgr_isa_of_names(mine, m->nisa),
                       m->cores,  (int64_t)m->l1d, (int64_t)m->l2, (int64_t)m->l3};
  return kgr_mdist(&e, &c);
}

static int kg_cmp_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

kg_status kg_bench_load_nearest(const char *dir, const char *kernel, const kg_machine *m, json_t **out, char *from,
                                size_t cap, double *dist, kg_ctx *ctx) {
  char kdir[4200], best[4500] = "", closest_bad[256] = "";
  double best_d = -1;
  int nfiles = 0;
  char **files = NULL;
  *out = NULL;
  snprintf(kdir, sizeof kdir, "%.2048s/%.1024s", dir, kernel);
  DIR *d = opendir(kdir);
  for (struct dirent *e; d && (e = readdir(d));) {
    size_t n = strlen(e->d_name);
    if (n < 6 || strcmp(e->d_name + n - 5, ".json")) continue;
    char **g = realloc(files, sizeof *files * (size_t)(nfiles + 1));
    if (!g || !(g[nfiles] = strdup(e->d_name))) {
      files = g ? g : files;
      break;
    }
    files = g, nfiles++;
  }
  if (d) closedir(d);
  if (nfiles) qsort(files, (size_t)nfiles, sizeof *files, kg_cmp_name);
  for (int f = 0; f < nfiles; f++) {
    char p[4500];
    json_error_t err;
    snprintf(p, sizeof p, "%s/%s", kdir, files[f]);
    json_t *r = json_load_file(p, 0, &err);
    const json_t *mach = json_object_get(r, "machine");
    const char *id = json_string_value(json_object_get(mach, "id"));
    if (id && strcmp(id, m->id)) {
      double dd = kg_bench_machine_distance(mach, m);
      if (dd >= 0 && (best_d < 0 || dd < best_d)) {
        best_d = dd;
        snprintf(best, sizeof best, "%s", p);
        snprintf(from, cap, "%s", id);
      } else if (dd < 0 && !closest_bad[0]) {
        snprintf(closest_bad, sizeof closest_bad, "%s", id);
      }
    }
    json_decref(r);
  }
  for (int f = 0; f < nfiles; f++) free(files[f]);
  free(files);
  if (best_d < 0) {
    if (closest_bad[0])
      return kg_ctx_set(ctx, KG_ENOTFOUND,
                        "no tuned result for this machine (%s) in %s, and no compatible machine has one (%s and "
                        "any others need an ISA feature this machine lacks); run kgen tune here",
                        m->id, kdir, closest_bad);
    return kg_ctx_set(ctx, KG_ENOTFOUND,
                      "no tuned result for this machine (%s) in %s, and no other machine has results for %s; run "
                      "kgen tune, or pass --set to measure a variant",
                      m->id, kdir, kernel);
  }
  json_error_t err;
  *out = json_load_file(best, 0, &err);
  if (!*out) return kg_ctx_set(ctx, KG_EIO, "%s:%d: %s", best, err.line, err.text);
  *dist = best_d;
  return KG_OK;
}

/* "a=1,b=x" from a params object, then the spec's point index.  A parameter the object lacks
 * takes the spec's default when `defaults` (a warm-start seed, a suggestion to measure: a
 * parameter added since the report, whose default is the old behaviour), else is an error. */
static kg_status kg_params_point(const kg_spec *spec, const json_t *params, const char *problem, bool defaults,
                                 long *out, kg_ctx *ctx) {
  char set[2048] = "";
  size_t n = 0;
  const char *k;
  const json_t *v;
  if (!json_is_object(params)) return kg_ctx_set(ctx, KG_EINVAL, "problem %s: the tuned winner has no params", problem);
  /* Every parameter of the spec, no other: a missing one would silently take the template's
   * default, a variant that never won. */
  json_t *full = json_deep_copy(params); /* params, with the defaults where `defaults` */
  if (!full) return kg_ctx_set(ctx, KG_ENOMEM, "out of memory");
  for (int i = 0; i < spec->nparams; i++) {
    const kg_param *pa = &spec->params[i];
    if (json_object_get(full, pa->name)) continue;
    if (!defaults) {
      json_decref(full);
      return kg_ctx_set(ctx, KG_EINVAL,
                        "problem %s: the tuned winner does not set parameter '%s' (the spec changed since "
                        "the tuning run? tune again)",
                        problem, pa->name);
    }
    json_object_set_new(full, pa->name,
                        pa->kind == KG_PARAM_INT ? json_integer(pa->ivalues[0]) : json_string(pa->svalues[0]));
  }
  kg_status bad = KG_OK;
  json_object_foreach(full, k, v) {
    if (json_is_integer(v))
      n += (size_t)snprintf(set + n, sizeof set - n, "%s%s=%lld", n ? "," : "", k, (long long)json_integer_value(v));
    else if (json_is_string(v))
      n += (size_t)snprintf(set + n, sizeof set - n, "%s%s=%s", n ? "," : "", k, json_string_value(v));
    else
      bad = kg_ctx_set(ctx, KG_EINVAL,
                       "problem %s: the tuned winner's parameter '%s' is neither an integer nor a string", problem, k);
    if (!bad && n >= sizeof set) bad = kg_ctx_set(ctx, KG_EINVAL, "problem %s: parameters too long", problem);
    if (bad) break;
  }
  json_decref(full);
  if (bad) return bad;
  int32_t *pt = calloc((size_t)spec->nparams + 1, sizeof *pt);
  if (!pt) return kg_ctx_set(ctx, KG_ENOMEM, "out of memory");
  kg_ctx pctx = {0};
  kg_status st = kg_spec_parse_set(spec, set, pt, &pctx);
  if (st == KG_OK) *out = kg_spec_point_index(spec, pt);
  free(pt);
  if (st)
    return kg_ctx_set(ctx, KG_EINVAL, "problem %s: the tuned winner (%s) is not in the spec's space any more: %s",
                      problem, set, kg_ctx_message(&pctx));
  return KG_OK;
}

kg_status kg_bench_points(const kg_spec *spec, const json_t *tuned, int nproblems, const char *const *problems,
                          const char **names, long *problem_points, int *nsel, long *points, long *npoints,
                          kg_ctx *ctx) {
  const json_t *probs = json_object_get(tuned, "problems"), *x;
  if (!json_is_array(probs)) return kg_ctx_set(ctx, KG_EINVAL, "the tuned report has no problems");
  *nsel = 0;
  *npoints = 0;
  size_t i;
  int want = nproblems ? nproblems : (int)json_array_size(probs);
  for (int w = 0; w < want; w++) {
    const json_t *found = NULL;
    if (nproblems) {
      json_array_foreach(probs, i, x) if (!strcmp(json_string_value(json_object_get(x, "name")) ?: "", problems[w]))
          found = x;
      if (!found) return kg_ctx_set(ctx, KG_EINVAL, "the tuned report has no problem named '%s'", problems[w]);
    } else {
      found = json_array_get(probs, (size_t)w);
    }
    const char *name = json_string_value(json_object_get(found, "name"));
    const json_t *winner = json_object_get(found, "winner");
    if (!name || kg_spec_problem_index(spec, name) < 0)
      return kg_ctx_set(ctx, KG_EINVAL, "the tuned report's problem '%s' is not in %s", name ? name : "?", spec->path);
    if (!json_is_object(winner)) {
      if (nproblems) return kg_ctx_set(ctx, KG_EINVAL, "the tuned report has no winner for problem '%s'", name);
      continue;
    }
    if (*nsel >= spec->nproblems) break;
    long pt;
    kg_status st = kg_params_point(spec, json_object_get(winner, "params"), name, false, &pt, ctx);
    if (st) return st;
    if (pt < 0) return kg_ctx_set(ctx, KG_EINVAL, "problem %s: the tuned winner violates the spec's constraints", name);
    names[*nsel] = name;
    problem_points[(*nsel)++] = pt;
    bool seen = false;
    for (long k = 0; k < *npoints; k++) seen |= points[k] == pt;
    if (!seen) points[(*npoints)++] = pt;
  }
  if (*nsel == 0) return kg_ctx_set(ctx, KG_EINVAL, "the tuned report has no winner to re-measure");
  return KG_OK;
}

/* "22.3 ns", "1.53 us", "4.20 ms" into buf[32]. */
static const char *kg_fmt_ns(double ns, char *buf) {
  if (ns < 1e3) snprintf(buf, 32, "%.1f ns", ns);
  else if (ns < 1e6) snprintf(buf, 32, "%.3g us", ns / 1e3);
  else if (ns < 1e9) snprintf(buf, 32, "%.3g ms", ns / 1e6);
  else snprintf(buf, 32, "%.3g s", ns / 1e9);
  return buf;
}

/* p50 and CI of a problem's winner; false when the winner is null. */
static bool kg_winner_timing(const json_t *p, double *p50, double *lo, double *hi) {
  const json_t *w = json_object_get(p, "winner");
  if (!json_is_object(w)) return false;
  const json_t *ci = json_object_get(w, "ci95_ns");
  *p50 = json_number_value(json_object_get(w, "p50_ns"));
  *lo = json_is_array(ci) ? json_number_value(json_array_get(ci, 0)) : *p50;
  *hi = json_is_array(ci) ? json_number_value(json_array_get(ci, 1)) : *p50;
  return json_is_number(json_object_get(w, "p50_ns"));
}

/* Check one report's problems: a name each, and a winner (when not null) whose p50 is a positive
 * finite number inside its CI.  `which` is "BASE" or "NEW". */
static kg_status kg_compare_check(const json_t *doc, const char *which, kg_ctx *ctx) {
  const json_t *probs = json_object_get(doc, "problems"), *x;
  if (!json_is_array(probs)) return kg_ctx_set(ctx, KG_EINVAL, "%s is not a kgen report: no \"problems\" array", which);
  size_t i;
  json_array_foreach(probs, i, x) {
    const char *name = json_string_value(json_object_get(x, "name"));
    if (!name) return kg_ctx_set(ctx, KG_EINVAL, "%s: problem %zu has no name", which, i);
    if (json_is_null(json_object_get(x, "winner")) || !json_object_get(x, "winner")) continue;
    double p50, lo, hi;
    if (!kg_winner_timing(x, &p50, &lo, &hi))
      return kg_ctx_set(ctx, KG_EINVAL, "%s: problem '%s': the winner has no p50_ns", which, name);
    if (!(p50 > 0) || !isfinite(p50) || !isfinite(lo) || !isfinite(hi) || !(lo <= p50 && p50 <= hi))
      return kg_ctx_set(ctx, KG_EINVAL,
                        "%s: problem '%s': invalid timing (p50_ns %g, ci95_ns [%g, %g]): a p50 must be a "
                        "positive number inside its interval",
                        which, name, p50, lo, hi);
  }
  return KG_OK;
}

kg_status kg_bench_compare(const json_t *base, const json_t *cur, double threshold_pct, FILE *f, int *regressions,
                           kg_ctx *ctx) {
  const json_t *bp = json_object_get(base, "problems"), *cp = json_object_get(cur, "problems"), *x, *y;
  kg_status st;
  if ((st = kg_compare_check(base, "BASE", ctx)) || (st = kg_compare_check(cur, "NEW", ctx))) return st;
  if (!(threshold_pct >= 0) || !isfinite(threshold_pct))
    return kg_ctx_set(ctx, KG_EINVAL, "threshold %g: expected a finite percentage >= 0", threshold_pct);
  if (json_array_size(bp) == 0) return kg_ctx_set(ctx, KG_EINVAL, "BASE has no problems: nothing to compare");
  size_t i, j;
  *regressions = 0;
  fprintf(f, "%-14s %12s %12s %9s  %s (threshold %.1f%%, noise: 95%% CIs of the median)\n", "problem", "base p50",
          "new p50", "change", "verdict", threshold_pct);
  json_array_foreach(bp, i, x) {
    const char *name = json_string_value(json_object_get(x, "name"));
    const json_t *match = NULL;
    json_array_foreach(cp, j, y) if (!strcmp(json_string_value(json_object_get(y, "name")) ?: "", name)) match = y;
    double b50, blo, bhi, n50, nlo, nhi;
    bool hb = kg_winner_timing(x, &b50, &blo, &bhi);
    if (!match) { /* a gate must not pass on a report that lost problems */
      fprintf(f, "%-14s %12s %12s %9s  REGRESSION (missing in NEW)\n", name, "", "", "");
      ++*regressions;
      continue;
    }
    bool hn = kg_winner_timing(match, &n50, &nlo, &nhi);
    if (!hb) {
      fprintf(f, "%-14s %12s %12s %9s  no winner in BASE\n", name, "-", hn ? "" : "-", "");
      continue;
    }
    if (!hn) {
      char t[32];
      fprintf(f, "%-14s %12s %12s %9s  REGRESSION (no valid variant in NEW)\n", name, kg_fmt_ns(b50, t), "-", "");
      ++*regressions;
      continue;
    }
    double change = 100.0 * (n50 / b50 - 1.0);
    const char *verdict;
    if (nlo > bhi && change > threshold_pct) {
      verdict = "REGRESSION";
      ++*regressions;
    } else if (nhi < blo && -change > threshold_pct) {
      verdict = "improvement";
    } else if (nlo > bhi || nhi < blo) {
      verdict = "beyond noise, within threshold";
    } else {
      verdict = "tie (within noise)";
    }
    char t1[32], t2[32];
    fprintf(f, "%-14s %12s %12s %+8.1f%%  %s\n", name, kg_fmt_ns(b50, t1), kg_fmt_ns(n50, t2), change, verdict);
  }
  json_array_foreach(cp, j, y) {
    const char *name = json_string_value(json_object_get(y, "name")) ?: "?";
    bool in_base = false;
    json_array_foreach(bp, i, x) in_base |= !strcmp(json_string_value(json_object_get(x, "name")) ?: "", name);
    if (!in_base) fprintf(f, "%-14s %12s %12s %9s  new in NEW\n", name, "", "", "");
  }
  fprintf(f, "%d regression%s\n", *regressions, *regressions == 1 ? "" : "s");
  return KG_OK;
}

typedef struct kg_warm_doc {
  json_t *doc;
  double dist;
} kg_warm_doc;

static int kg_warm_cmp(const void *a, const void *b) {
  const kg_warm_doc *x = a, *y = b;
  return x->dist < y->dist ? -1 : x->dist > y->dist ? 1 : 0;
}

/* Whether a report's hash string (16 hex digits) is not h. */
static bool json_hex_differs(const json_t *v, uint64_t h) {
  char want[17];
  snprintf(want, sizeof want, "%016" PRIx64, h);
  return !json_is_string(v) || strcmp(json_string_value(v), want) != 0;
}

kg_status kg_bench_warm_points(const char *dir, const kg_spec *spec, const kg_machine *m, long *points, char **from,
                               long cap, long *n, kg_ctx *ctx) {
  char kdir[4200];
  kg_warm_doc docs[256];
  int nd = 0;
  *n = 0;
  snprintf(kdir, sizeof kdir, "%.2048s/%.1024s", dir, spec->name);
  DIR *d = opendir(kdir);
  for (struct dirent *e; d && (e = readdir(d)) && nd < 256;) {
    size_t l = strlen(e->d_name);
    if (l < 6 || strcmp(e->d_name + l - 5, ".json")) continue;
    char p[4500];
    json_error_t err;
    snprintf(p, sizeof p, "%s/%s", kdir, e->d_name);
    json_t *r = json_load_file(p, 0, &err);
    const json_t *mach = json_object_get(r, "machine");
    const char *id = json_string_value(json_object_get(mach, "id"));
    /* this machine's own last report first when it is stale (a re-tune after a change to the
     * spec or the template starts from its own best points; an up-to-date one has its database
     * for --resume), then the others, nearest first */
    double dist = -1;
    uint64_t tmpl_hash = 0; /* read only for this machine's own report (the template's files) */
    if (id && strcmp(id, m->id)) dist = kg_bench_machine_distance(mach, m);
    else if (id && (json_hex_differs(json_object_get(r, "spec_hash"), spec->hash) ||
                    (kg_template_hash(spec, &tmpl_hash, NULL) == KG_OK &&
                     json_hex_differs(json_object_get(r, "template_hash"), tmpl_hash))))
      dist = -0.5;
    if (dist >= -0.5) docs[nd].doc = r, docs[nd++].dist = dist;
    else json_decref(r);
  }
  if (d) closedir(d);
  qsort(docs, (size_t)nd, sizeof docs[0], kg_warm_cmp);
  kg_status st = KG_OK;
  for (int i = 0; i < nd && st == KG_OK; i++) {
    const char *id = json_string_value(json_object_get(json_object_get(docs[i].doc, "machine"), "id"));
    for (int pass = 0; pass < 3 && st == KG_OK; pass++) { /* winners, then ties, then finalists */
      size_t j, k;
      const json_t *pr, *t;
      json_array_foreach(json_object_get(docs[i].doc, "problems"), j, pr) {
        const json_t *list = pass == 0 ? NULL : json_object_get(pr, pass == 1 ? "ties" : "top");
        size_t cnt = pass == 0 ? 1 : json_array_size(list);
        for (k = 0; k < cnt && *n < cap; k++) {
          t = pass == 0 ? json_object_get(pr, "winner") : json_array_get(list, k);
          long pt;
          kg_ctx pctx = {0};
          if (!json_is_object(t) || kg_params_point(spec, json_object_get(t, "params"), "warm", true, &pt, &pctx) ||
              pt < 0)
            continue;
          bool seen = false;
          for (long q = 0; q < *n && !seen; q++) seen = points[q] == pt;
          if (seen) continue;
          if (!(from[*n] = strdup(id ? id : "?"))) {
            st = kg_ctx_set(ctx, KG_ENOMEM, "out of memory");
            break;
          }
          points[(*n)++] = pt;
        }
      }
    }
  }
  for (int i = 0; i < nd; i++) json_decref(docs[i].doc);
  return st;
}
