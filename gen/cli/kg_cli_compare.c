/* kg_cli_compare.c - `kgen compare BASE.json NEW.json`: regressions of NEW against BASE. */
#include <string.h>

#include "kg_bench.h"
#include "kg_cli.h"

/* ---- compare ------------------------------------------------------------------------------- */

int kg_cli_compare(int argc, char **argv) {
  static const struct option longs[] = {
      {"threshold", required_argument, 0, 't'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
  double threshold = 5;
  int c, rc;
  while ((c = kg_getopt(argc, argv, "h", longs)) != -1) {
    if (c == -2) return EXIT_USAGE;
    if (c == 't' && (rc = kg_parse_double("--threshold", optarg, &threshold))) return rc;
    if (c == 'h') {
      fputs(strstr(kg_usage, "  compare"), stdout);
      return 0;
    }
  }
  if (optind + 2 != argc) return kg_usage_error("compare: %s", "expected BASE.json NEW.json");
  json_t *doc[2] = {NULL, NULL};
  for (int i = 0; i < 2; i++) {
    json_error_t err;
    doc[i] = json_load_file(argv[optind + i], 0, &err);
    if (!doc[i]) {
      fprintf(stderr, "kgen: %s:%d: %s\n", argv[optind + i], err.line, err.text);
      json_decref(doc[0]);
      return EXIT_USAGE;
    }
  }
  kg_ctx ctx = {0};
  int regressions = 0;
  kg_status st = kg_bench_compare(doc[0], doc[1], threshold, stdout, &regressions, &ctx);
  json_decref(doc[0]);
  json_decref(doc[1]);
  if (st) {
    fprintf(stderr, "kgen: %s\n", kg_ctx_message(&ctx));
    return EXIT_USAGE;
  }
  return regressions ? EXIT_WORK : 0;
}
