/* kg_cli_verify.c - `kgen verify [SPEC...]`: re-verify and re-measure this machine's shipped
 * winners (tuned/, the nearest compatible machine's, or a site file's) beside their baselines
 * and report drift (gen/bench/kg_verify.h); exit 1 on drift. */
#include <dirent.h>
#include <inttypes.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

#include "kg_bench.h"
#include "kg_cli.h"
#include "kg_file.h"
#include "kg_report.h"
#include "kg_verify.h"

#define KG_VERIFY_MAX_SPECS 64

typedef struct kg_verify_run {
  const char *tuned_dir, *site;
  bool strict;
  double threshold;
  kg_tune_opts o; /* as given; per spec a copy gets the points */
  const kg_machine *mach;
  json_t *specs; /* the report's "specs" array */
  int drifts, failures;
} kg_verify_run;

/* "1.23 ms" etc. into buf[32]; "-" for a non-positive figure. */
static const char *kg_verify_ns(double ns, char *buf) {
  if (!(ns > 0)) snprintf(buf, 32, "-");
  else if (ns < 1e3) snprintf(buf, 32, "%.1f ns", ns);
  else if (ns < 1e6) snprintf(buf, 32, "%.3g us", ns / 1e3);
  else if (ns < 1e9) snprintf(buf, 32, "%.3g ms", ns / 1e6);
  else snprintf(buf, 32, "%.3g s", ns / 1e9);
  return buf;
}

/* Verify one spec's shipped winners; 0, or an exit code for an input error (reported). */
static int kg_verify_spec(kg_verify_run *v, const char *path) {
  kg_spec *s = NULL;
  int rc;
  if ((rc = kg_load(path, &s))) return rc;
  kg_ctx ctx = {0};
  json_t *tuned = NULL, *rows = json_array();
  kg_tune_report *r = NULL;
  char from[80] = "";
  const char *source = "tuned";
  const int np = s->nproblems;
  long *points = calloc((size_t)np + 1, sizeof *points), *pp = calloc((size_t)np + 1, sizeof *pp);
  const char **names = calloc((size_t)np + 1, sizeof *names);
  kg_tune_opts o = v->o;
  kg_status st;
  if (!points || !pp || !names || !rows) {
    rc = kg_fail(&ctx, kg_ctx_set(&ctx, KG_ENOMEM, "out of memory"));
    goto done;
  }
  if (v->site) {
    json_error_t err;
    if (!(tuned = json_load_file(v->site, 0, &err))) {
      fprintf(stderr, "kgen: %s:%d: %s\n", v->site, err.line, err.text);
      rc = EXIT_USAGE;
      goto done;
    }
    const char *k = json_string_value(json_object_get(tuned, "kernel"));
    if (!k || strcmp(k, s->name)) {
      fprintf(stderr, "kgen: %s: a report of kernel '%s', not of %s's '%s'\n", v->site, k ? k : "?", path, s->name);
      rc = EXIT_USAGE;
      goto done;
    }
    source = "site";
    const char *id = json_string_value(json_object_get(json_object_get(tuned, "machine"), "id"));
    if (!id || strcmp(id, v->mach->id)) snprintf(from, sizeof from, "%s", id ? id : "?");
  } else {
    if ((rc = kg_cli_load_winners(v->tuned_dir, s, v->mach, v->strict, &tuned, from, sizeof from))) {
      if (rc == EXIT_WORK) v->failures++, rc = 0; /* no winners for this spec here: reported, go on */
      goto done;
    }
    if (from[0]) source = "nearest";
  }
  int nsel = 0;
  if ((st = kg_bench_points(s, tuned, o.nproblems, o.problems, names, pp, &nsel, points, &o.npoints, &ctx))) {
    rc = kg_fail(&ctx, st);
    goto done;
  }
  o.nproblems = nsel;
  for (int i = 0; i < nsel; i++) o.problems[i] = names[i];
  o.points = points;
  o.problem_points = pp;
  if ((st = kg_tune(s, &o, &r, &ctx))) {
    rc = kg_fail(&ctx, st);
    goto done;
  }
  const bool comparable = from[0] == 0;
  printf("\nverify %s on %s (winners: %s%s%s; threshold %.1f%%, noise: 95%% CIs of the median)\n", s->name, v->mach->id,
         source, from[0] ? " of " : "", from, v->threshold);
  if (!comparable) printf("the shipped figures are another machine's: only verification, baselines and accuracy\n");
  printf("%-22s %12s %12s %9s %7s %9s %9s %9s  %s\n", "problem", "shipped p50", "p50 now", "change", "load", "vs load",
         "speedup", "shipped", "verdict");
  const json_t *sprobs = json_object_get(tuned, "problems"), *x;
  for (int p = 0; p < r->nproblems; p++) {
    const char *pname = s->problems[r->problems[p].problem].name;
    const json_t *shipped = NULL;
    size_t i;
    json_array_foreach(sprobs, i, x) if (!strcmp(json_string_value(json_object_get(x, "name")) ?: "", pname)) shipped =
        x;
    int nd = 0;
    json_t *row = kg_verify_problem(r, p, shipped, comparable, v->threshold, &nd);
    if (!row) {
      rc = kg_fail(&ctx, kg_ctx_set(&ctx, KG_ENOMEM, "out of memory"));
      goto done;
    }
    v->drifts += nd;
    char t1[32], t2[32];
    const json_t *ch = json_object_get(row, "change_pct"), *sp = json_object_get(row, "speedup"),
                 *ssp = json_object_get(row, "shipped_speedup");
    printf("%-22s %12s %12s ", pname, kg_verify_ns(json_number_value(json_object_get(row, "shipped_p50_ns")), t1),
           kg_verify_ns(json_number_value(json_object_get(row, "p50_ns")), t2));
    if (json_is_number(ch)) printf("%+8.1f%% ", json_number_value(ch));
    else printf("%9s ", "-");
    const json_t *lf = json_object_get(row, "load_factor"), *cl = json_object_get(row, "change_vs_baseline_pct");
    if (json_is_number(lf)) printf("%6.2fx ", json_number_value(lf));
    else printf("%7s ", "-");
    if (json_is_number(cl)) printf("%+8.1f%% ", json_number_value(cl));
    else printf("%9s ", "-");
    if (json_is_number(sp)) printf("%8.2fx ", json_number_value(sp));
    else printf("%9s ", "-");
    if (json_is_number(ssp)) printf("%8.2fx ", json_number_value(ssp));
    else printf("%9s ", "-");
    printf(" %s", nd ? "DRIFT" : "ok");
    const json_t *d;
    json_array_foreach(json_object_get(row, "drift"), i, d) printf("%s%s", i ? "; " : ": ", json_string_value(d));
    printf("\n");
    json_array_append_new(rows, row);
  }
  json_t *js =
      json_pack("{s:s, s:s, s:s, s:O}", "kernel", s->name, "spec", s->path, "source", source, "problems", rows);
  if (from[0]) json_object_set_new(js, "from", json_string(from));
  json_array_append_new(v->specs, js);
done:
  json_decref(rows);
  json_decref(tuned);
  kg_tune_report_free(r);
  free(points), free(pp), free(names);
  kg_spec_free(s);
  return rc;
}

/* The Markdown report of doc into path (atomically). */
static kg_status kg_verify_write_md(const json_t *doc, const char *path, kg_ctx *ctx) {
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  if (!f) return kg_ctx_set(ctx, KG_ENOMEM, "out of memory");
  fprintf(f,
          "# kgen verify on `%s`\n\nDrift: p50 slower than shipped beyond noise (95%% CIs of the median apart) and "
          "by more than %.1f%% once divided by the load factor (the same baseline's p50 now over its shipped p50; "
          "`load`, and `vs load` the change so adjusted); a winner that no longer beats its baseline; accuracy drift "
          "beyond %g; a winner that "
          "fails verification.\n",
          json_string_value(json_object_get(doc, "machine")), json_number_value(json_object_get(doc, "threshold_pct")),
          KG_VERIFY_ACCURACY_TOL);
  size_t i, j;
  const json_t *sp, *row;
  json_array_foreach(json_object_get(doc, "specs"), i, sp) {
    fprintf(f,
            "\n## %s (winners: %s%s%s)\n\n| problem | shipped p50 (ns) | p50 now (ns) | change | load | vs load | "
            "speedup | shipped speedup | verdict |\n|---|---|---|---|---|---|---|---|---|\n",
            json_string_value(json_object_get(sp, "kernel")), json_string_value(json_object_get(sp, "source")),
            json_object_get(sp, "from") ? " of " : "",
            json_object_get(sp, "from") ? json_string_value(json_object_get(sp, "from")) : "");
    json_array_foreach(json_object_get(sp, "problems"), j, row) {
      const json_t *lf = json_object_get(row, "load_factor"), *cl = json_object_get(row, "change_vs_baseline_pct");
      char lbuf[32] = "-", cbuf[32] = "-";
      if (json_is_number(lf)) snprintf(lbuf, sizeof lbuf, "%.2fx", json_number_value(lf));
      if (json_is_number(cl)) snprintf(cbuf, sizeof cbuf, "%+.1f%%", json_number_value(cl));
      fprintf(f, "| %s | %.0f | %.0f | %+.1f%% | %s | %s | %.2fx | %.2fx | %s",
              json_string_value(json_object_get(row, "name")),
              json_number_value(json_object_get(row, "shipped_p50_ns")),
              json_number_value(json_object_get(row, "p50_ns")), json_number_value(json_object_get(row, "change_pct")),
              lbuf, cbuf, json_number_value(json_object_get(row, "speedup")),
              json_number_value(json_object_get(row, "shipped_speedup")),
              json_string_value(json_object_get(row, "verdict")));
      size_t k;
      const json_t *d;
      json_array_foreach(json_object_get(row, "drift"), k, d) fprintf(f, "%s%s", k ? "; " : ": ", json_string_value(d));
      fprintf(f, " |\n");
    }
  }
  fprintf(f, "\n%d drift%s\n", (int)json_integer_value(json_object_get(doc, "drifts")),
          json_integer_value(json_object_get(doc, "drifts")) == 1 ? "" : "s");
  fclose(f);
  kg_status st = kg_file_write_atomic(path, text, len, ctx);
  free(text);
  return st;
}

int kg_cli_verify(int argc, char **argv) {
  static const struct option longs[] = {{"tuned", required_argument, 0, 'D'},
                                        {"site", required_argument, 0, 'S'},
                                        {"threshold", required_argument, 0, 't'},
                                        {"strict", no_argument, 0, 's'},
                                        {"json", required_argument, 0, 'j'},
                                        {"md", required_argument, 0, 'm'},
                                        {"help", no_argument, 0, 'h'},
                                        KG_MEASURE_OPTIONS,
                                        {0, 0, 0, 0}};
  kg_verify_run v = {.tuned_dir = "tuned", .threshold = 10.0};
  kg_tune_opts_default(&v.o);
  const char *json = NULL, *md = NULL, *profile_path = NULL;
  int c, rc;
  while ((c = kg_getopt(argc, argv, "h", longs)) != -1) {
    if ((rc = kg_measure_option(c, &v.o, &profile_path)) >= 0) {
      if (rc) return rc;
      continue;
    }
    switch (c) {
    case -2: return EXIT_USAGE;
    case 'D': v.tuned_dir = optarg; break;
    case 'S': v.site = optarg; break;
    case 't':
      if ((rc = kg_parse_double("--threshold", optarg, &v.threshold))) return rc;
      if (!(v.threshold >= 0) || !isfinite(v.threshold))
        return kg_usage_error("--threshold '%s': expected a finite percentage >= 0", optarg);
      break;
    case 's': v.strict = true; break;
    case 'j': json = optarg; break;
    case 'm': md = optarg; break;
    case 'h': fputs(strstr(kg_usage, "  verify [SPEC"), stdout); return 0;
    }
  }
  if (v.site && argc - optind != 1) return kg_usage_error("verify --site %s: name exactly one SPEC", v.site);
  kg_machine mach;
  if ((rc = kg_cli_machine(&mach))) return rc;
  v.mach = &mach;
  char *paths[KG_VERIFY_MAX_SPECS];
  int npaths = 0;
  if (optind < argc) {
    for (int i = optind; i < argc && npaths < KG_VERIFY_MAX_SPECS; i++) paths[npaths++] = strdup(argv[i]);
  } else { /* every spec whose kernel has tuned results (this machine's, or any under --strict's absence) */
    char dir[4096];
    kg_root_path("specs", dir, sizeof dir);
    DIR *d = opendir(dir);
    if (!d) return kg_usage_error("verify: cannot read the specs folder %s", dir);
    for (struct dirent *e; (e = readdir(d)) && npaths < KG_VERIFY_MAX_SPECS;) {
      if (!kg_ends_with(e->d_name, ".lua")) continue;
      char kdir[8400], own[8600];
      snprintf(kdir, sizeof kdir, "%s/%.*s", v.tuned_dir, (int)(strlen(e->d_name) - 4), e->d_name);
      snprintf(own, sizeof own, "%s/%s.json", kdir, mach.id);
      DIR *k = opendir(kdir);
      if (!k) continue;
      closedir(k);
      if (v.strict && access(own, R_OK)) continue;
      char p[8400];
      snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
      paths[npaths++] = strdup(p);
    }
    closedir(d);
    qsort(paths, (size_t)npaths, sizeof paths[0], kg_name_cmp);
    if (!npaths) {
      fprintf(stderr, "kgen: verify: no spec in %s has tuned results in %s\n", dir, v.tuned_dir);
      return EXIT_WORK;
    }
  }
  v.specs = json_array();
  rc = 0;
  for (int i = 0; i < npaths && !rc; i++) rc = kg_verify_spec(&v, paths[i]);
  for (int i = 0; i < npaths; i++) free(paths[i]);
  json_t *doc = json_pack("{s:s, s:s, s:f, s:f, s:O, s:i, s:i}", "command", "verify", "machine", mach.id,
                          "threshold_pct", v.threshold, "accuracy_tol", KG_VERIFY_ACCURACY_TOL, "specs", v.specs,
                          "drifts", v.drifts, "failures", v.failures);
  json_decref(v.specs);
  kg_ctx ctx = {0};
  kg_status st;
  if (!rc && json) {
    char *text = json_dumps(doc, JSON_INDENT(2));
    if (!text) rc = kg_fail(&ctx, kg_ctx_set(&ctx, KG_ENOMEM, "out of memory"));
    else if ((st = kg_file_write_atomic(json, text, strlen(text), &ctx))) rc = kg_fail(&ctx, st);
    free(text);
  }
  if (!rc && md && (st = kg_verify_write_md(doc, md, &ctx))) rc = kg_fail(&ctx, st);
  json_decref(doc);
  if (rc) return rc;
  printf("\n%d drift%s%s\n", v.drifts, v.drifts == 1 ? "" : "s",
         v.failures ? " (and specs without winners to verify: see above)" : "");
  return v.drifts || v.failures ? EXIT_WORK : 0;
}
