/* kg_cli_calibrate.c - `kgen calibrate`: the machine profile (peak FLOP/s, bandwidth, BLAS), and
 * with --fusion its fusion profiles (fused against unfused per pattern). */
#include <string.h>
#include <unistd.h>

#include "kg_calibrate.h"
#include "kg_calibrate_fusion.h"
#include "kg_cli.h"
#include "kg_file.h"

int kg_cli_calibrate(int argc, char **argv) {
  static const struct option longs[] = {
      {"output", required_argument, 0, 'o'}, {"quick", no_argument, 0, 'Q'},      {"quiet", no_argument, 0, 'q'},
      {"rounds", required_argument, 0, 'R'}, {"help", no_argument, 0, 'h'},       {"fusion", no_argument, 0, 'F'},
      {"full", no_argument, 0, 'U'},         {"spec", required_argument, 0, 'S'}, {0, 0, 0, 0}};
  const char *out = NULL;
  kg_calibrate_opts o = {0};
  o.progress = stderr;
  char spec[4096];
  kg_root_path("specs/stream.lua", spec, sizeof spec);
  o.bandwidth_spec = spec;
  bool fusion = false;
  kg_calibrate_fusion_opts fo = {0};
  const char *fspecs[64];
  char specs_dir[4096];
  kg_root_path("specs", specs_dir, sizeof specs_dir);
  fo.specs = fspecs;
  fo.specs_dir = specs_dir;
  int c;
  while ((c = kg_getopt(argc, argv, "o:h", longs)) != -1) {
    if (c == -2) return EXIT_USAGE;
    if (c == 'o') out = optarg;
    else if (c == 'Q') o.quick = true;
    else if (c == 'q') o.progress = NULL;
    else if (c == 'F') fusion = true;
    else if (c == 'U') fo.full = true;
    else if (c == 'S') {
      if (fo.nspecs == 64) return kg_usage_error("calibrate: more than 64 --spec files (at %s)", optarg);
      fspecs[fo.nspecs++] = optarg;
    } else if (c == 'R') {
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
  if (!fusion && (fo.full || fo.nspecs))
    return kg_usage_error("calibrate: %s needs --fusion", fo.full ? "--full" : "--spec");
  kg_ctx ctx = {0};
  json_t *prof = NULL;
  char path[4200];
  kg_status st = KG_OK;
  if (fusion && !out) { /* the profile to add to: this machine's */
    kg_machine m;
    if ((st = kg_machine_detect(&m, &ctx))) return kg_fail(&ctx, st);
    kg_profile_default_path("tuned", m.id, path, sizeof path);
    out = path;
  }
  if (fusion && access(out, F_OK) == 0) { /* --fusion on an existing profile: only its fusion_profiles change */
    json_error_t je;
    if (!(prof = json_load_file(out, 0, &je)) || !json_is_object(prof)) {
      json_decref(prof);
      ctx = (kg_ctx){0};
      kg_ctx_set(&ctx, KG_EIO, "%s:%d: not a machine profile (%s)", out, je.line, je.text);
      return kg_fail(&ctx, KG_EIO);
    }
  } else {
    if ((st = kg_calibrate(&o, &prof, &ctx))) return kg_fail(&ctx, st);
    kg_calibrate_print(prof, stdout);
  }
  if (fusion) {
    json_t *fp = NULL;
    fo.quick = o.quick;
    fo.progress = o.progress;
    fo.compile = o.compile;
    if ((st = kg_calibrate_fusion(&fo, &fp, &ctx))) {
      json_decref(prof);
      return kg_fail(&ctx, st);
    }
    /* --spec re-measures some patterns: the profile's other patterns stay */
    json_t *oldp = json_object_get(json_object_get(prof, "fusion_profiles"), "patterns");
    json_t *newp = json_object_get(fp, "patterns");
    if (fo.nspecs && json_is_object(oldp) && json_is_object(newp)) {
      const char *name;
      json_t *v;
      json_object_foreach(oldp, name, v) if (!json_object_get(newp, name)) json_object_set(newp, name, v);
    }
    json_object_set_new(prof, "fusion_profiles", fp);
    kg_calibrate_fusion_print(fp, stdout);
  }
  if (!out) {
    const json_t *id = json_object_get(json_object_get(prof, "machine"), "id");
    kg_profile_default_path("tuned", json_string_value(id), path, sizeof path);
    out = path;
  }
  st = kg_file_write_json(out, prof, &ctx);
  json_decref(prof);
  if (st) return kg_fail(&ctx, st);
  fprintf(stderr, "wrote %s\n", out);
  return 0;
}
