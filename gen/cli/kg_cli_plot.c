/* kg_cli_plot.c - `kgen plot REPORT.json [-o DIR]`: the report's charts as SVG and PNG. */
#include <string.h>

#include "kg_cli.h"
#include "kg_plot.h"

int kg_cli_plot(int argc, char **argv) {
  static const struct option longs[] = {{"out", required_argument, 0, 'o'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
  const char *dir = NULL;
  int c;
  while ((c = kg_getopt(argc, argv, "ho:", longs)) != -1) {
    switch (c) {
    case -2: return EXIT_USAGE;
    case 'o': dir = optarg; break;
    case 'h': fputs(strstr(kg_usage, "  plot REPORT"), stdout); return 0;
    }
  }
  if (optind >= argc) return kg_usage_error("plot: %s", "missing REPORT.json");
  if (optind + 1 < argc) return kg_usage_error("plot: unexpected argument '%s'", argv[optind + 1]);
  const char *report = argv[optind];
  char def[4200];
  if (!dir) { /* REPORT's folder + /plots */
    const char *slash = strrchr(report, '/');
    snprintf(def, sizeof def, "%.*s/plots", slash ? (int)(slash - report) : 1, slash ? report : ".");
    dir = def;
  }
  kg_ctx ctx = {0};
  static kg_plot_result res;
  kg_status st = kg_plot_report(report, dir, &res, &ctx);
  if (st) return kg_fail(&ctx, st);
  for (int i = 0; i < res.ncharts; i++) printf("%s.svg %s.png\n", res.charts[i], res.charts[i]);
  for (int i = 0; i < res.nskipped; i++) fprintf(stderr, "kgen plot: skipped %s\n", res.skipped[i]);
  return res.ncharts ? 0 : EXIT_WORK;
}
