/* kg_cli_calibrate.c - `kgen calibrate`: the machine profile (peak FLOP/s, bandwidth, BLAS). */
#include <string.h>

#include "kg_calibrate.h"
#include "kg_cli.h"
#include "kg_file.h"

int kg_cli_calibrate(int argc, char **argv) {
  static const struct option longs[] = {{"output", required_argument, 0, 'o'}, {"quick", no_argument, 0, 'Q'},
                                        {"quiet", no_argument, 0, 'q'},        {"rounds", required_argument, 0, 'R'},
                                        {"help", no_argument, 0, 'h'},         {0, 0, 0, 0}};
  const char *out = NULL;
  kg_calibrate_opts o = {0};
  o.progress = stderr;
  char spec[4096];
  kg_root_path("specs/stream.lua", spec, sizeof spec);
  o.bandwidth_spec = spec;
  int c;
  while ((c = kg_getopt(argc, argv, "o:h", longs)) != -1) {
    if (c == -2) return EXIT_USAGE;
    if (c == 'o') out = optarg;
    else if (c == 'Q') o.quick = true;
    else if (c == 'q') o.progress = NULL;
    else if (c == 'R') {
      long v;
      int rc = kg_parse_long("--rounds", optarg, &v);
      if (rc) return rc;
      if (v < 1 || v > 100) return kg_usage_error("--rounds must be between 1 and 100, not %s", optarg);
      o.rounds = (int)v;
    } else if (c == 'h') {
      fputs(strstr(kg_usage, "  calibrate"), stdout);
      return 0;
    }
  }
  if (optind < argc) return kg_usage_error("calibrate: unexpected argument '%s'", argv[optind]);
  kg_ctx ctx = {0};
  json_t *prof = NULL;
  kg_status st = kg_calibrate(&o, &prof, &ctx);
  if (st) return kg_fail(&ctx, st);
  char path[4200];
  if (!out) {
    const json_t *id = json_object_get(json_object_get(prof, "machine"), "id");
    kg_profile_default_path("tuned", json_string_value(id), path, sizeof path);
    out = path;
  }
  kg_calibrate_print(prof, stdout);
  st = kg_file_write_json(out, prof, &ctx);
  json_decref(prof);
  if (st) return kg_fail(&ctx, st);
  fprintf(stderr, "wrote %s\n", out);
  return 0;
}
