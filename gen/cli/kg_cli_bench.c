/* kg_cli_bench.c - `kgen bench SPEC`: re-measure the shipped winners (or --set variants) and
 * the baselines side by side. */
#include <inttypes.h>
#include <string.h>

#include "kg_bench.h"
#include "kg_cli.h"
#include "kg_plot.h"
#include "kg_report.h"

/* ---- bench --------------------------------------------------------------------------------- */

#define KG_BENCH_MAX_SETS 16

/* The report's charts (kg_plot.h) drawn into <md without .md>-plots/ and linked at the end of the
 * Markdown file md.  A chart that cannot be drawn (no gnuplot) is a note on stderr, not a
 * failure: the figures are in the Markdown already. */
static void kg_bench_md_charts(const kg_tune_report *r, const char *md) {
  char dir[4200], json[4400];
  size_t n = strlen(md);
  if (n > 3 && !strcmp(md + n - 3, ".md")) n -= 3;
  snprintf(dir, sizeof dir, "%.*s-plots", (int)(n < 4000 ? n : 4000), md);
  snprintf(json, sizeof json, "%s/%s.json", dir, r->spec->name);
  kg_ctx ctx = {0};
  static kg_plot_result res;
  if (kg_tune_write_json(r, json, &ctx) || kg_plot_report(json, dir, &res, &ctx)) {
    fprintf(stderr, "kgen: no charts in %s: %s\n", md, kg_ctx_message(&ctx));
    return;
  }
  FILE *f = fopen(md, "a");
  if (!f) return;
  const char *rel = strrchr(dir, '/') ? strrchr(dir, '/') + 1 : dir;
  fprintf(f, "\n## Charts\n\n");
  for (int i = 0; i < res.ncharts; i++) {
    const char *chart = strrchr(res.charts[i], '/') ? strrchr(res.charts[i], '/') + 1 : res.charts[i];
    fprintf(f, "![%s](%s/%s.svg)\n\n", chart, rel, chart);
  }
  for (int i = 0; i < res.nskipped; i++) fprintf(f, "- not drawn: %s\n", res.skipped[i]);
  fclose(f);
}

int kg_cli_bench(int argc, char **argv) {
  static const struct option longs[] = {{"tuned", required_argument, 0, 'D'},
                                        {"set", required_argument, 0, 's'},
                                        {"csv", required_argument, 0, 'c'},
                                        {"json", required_argument, 0, 'j'},
                                        {"md", required_argument, 0, 'm'},
                                        {"strict", no_argument, 0, 'S'},
                                        {"help", no_argument, 0, 'h'},
                                        KG_MEASURE_OPTIONS,
                                        {0, 0, 0, 0}};
  kg_tune_opts o;
  kg_tune_opts_default(&o);
  const char *tuned_dir = "tuned", *csv = NULL, *json = NULL, *md = NULL, *profile_path = NULL;
  const char *sets[KG_BENCH_MAX_SETS];
  int nsets = 0;
  bool strict = false;
  char from[80] = "";
  kg_ctx ctx = {0};
  int c, rc;
  while ((c = kg_getopt(argc, argv, "h", longs)) != -1) {
    if ((rc = kg_measure_option(c, &o, &profile_path)) >= 0) {
      if (rc) return rc;
      continue;
    }
    switch (c) {
    case -2: return EXIT_USAGE;
    case 'D': tuned_dir = optarg; break;
    case 's':
      if (nsets == KG_BENCH_MAX_SETS) return kg_usage_error("at most %s --set", "16");
      sets[nsets++] = optarg;
      break;
    case 'c': csv = optarg; break;
    case 'j': json = optarg; break;
    case 'm': md = optarg; break;
    case 'S': strict = true; break;
    case 'h': fputs(strstr(kg_usage, "  bench SPEC"), stdout); return 0;
    }
  }
  if (optind >= argc) return kg_usage_error("bench: %s", "missing SPEC");
  if (optind + 1 < argc) return kg_usage_error("bench: unexpected argument '%s'", argv[optind + 1]);
  kg_spec *s = NULL;
  if ((rc = kg_load(argv[optind], &s))) return rc;
  kg_machine mach;
  json_t *tuned = NULL;
  kg_tune_report *r = NULL;
  int np = s->nproblems;
  long *points = calloc((size_t)np + KG_BENCH_MAX_SETS, sizeof *points), *pp = calloc((size_t)np + 1, sizeof *pp);
  const char **names = calloc((size_t)np + 1, sizeof *names);
  int32_t *pt = calloc((size_t)s->nparams + 1, sizeof *pt);
  kg_status st = KG_OK;
  if (!points || !pp || !names || !pt) {
    rc = kg_fail(&ctx, kg_ctx_set(&ctx, KG_ENOMEM, "out of memory"));
    goto done;
  }
  if ((rc = kg_cli_machine(&mach))) goto done;
  static kg_profile prof;
  const kg_profile *profile = NULL;
  if ((rc = kg_load_profile(profile_path, mach.id, &prof, &profile))) goto done;
  if (nsets) { /* these variants on every (selected) problem */
    for (int i = 0; i < nsets; i++) {
      if ((st = kg_spec_parse_set(s, sets[i], pt, &ctx))) {
        rc = kg_fail(&ctx, st);
        goto done;
      }
      long at = kg_spec_point_index(s, pt);
      bool seen = false;
      for (long k = 0; k < o.npoints; k++) seen |= points[k] == at;
      if (!seen) points[o.npoints++] = at;
    }
    o.points = points;
  } else {
    if ((rc = kg_cli_load_winners(tuned_dir, s, &mach, strict, &tuned, from, sizeof from))) goto done;
    int nsel = 0;
    if ((st = kg_bench_points(s, tuned, o.nproblems, o.problems, names, pp, &nsel, points, &o.npoints, &ctx))) {
      rc = kg_fail(&ctx, st);
      goto done;
    }
    o.nproblems = nsel;
    for (int i = 0; i < nsel; i++) o.problems[i] = names[i];
    o.points = points;
    o.problem_points = pp;
  }
  if ((st = kg_tune(s, &o, &r, &ctx))) {
    rc = kg_fail(&ctx, st);
    goto done;
  }
  snprintf(r->command, sizeof r->command, "bench");
  if (from[0]) {
    snprintf(r->source, sizeof r->source, "nearest");
    snprintf(r->from, sizeof r->from, "%s", from);
  }
  r->profile = profile;
  kg_tune_print_summary(r, stdout);
  if (csv && (st = kg_tune_write_csv(r, csv, &ctx))) rc = kg_fail(&ctx, st);
  if (json && (st = kg_tune_write_json(r, json, &ctx))) rc = kg_fail(&ctx, st);
  if (md && (st = kg_tune_write_md(r, md, &ctx))) rc = kg_fail(&ctx, st);
  if (md && !st) kg_bench_md_charts(r, md);
  for (int p = 0; p < r->nproblems && !rc; p++)
    if (r->problems[p].winner < 0) {
      fprintf(stderr, "kgen: the variant of problem %s failed: %s\n", s->problems[r->problems[p].problem].name,
              r->problems[p].nresults ? r->problems[p].results[0].m.reason : "not measured");
      rc = EXIT_WORK;
    }
done:
  kg_tune_report_free(r);
  json_decref(tuned);
  free(points);
  free(pp);
  free(names);
  free(pt);
  kg_spec_free(s);
  return rc;
}
