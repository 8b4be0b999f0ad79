/* kg_cli_shard.c - `kgen tune SPEC --shard I/N`: one shard of a tuning run (kg_shard.h).  Its
 * database and partial report go to OUT/<kernel>/shards/<machine-id>-<I>-of-<N>.{db,json}; tuned/
 * itself is written by `kgen merge` (kg_cli_merge.c). */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "kg_cli.h"
#include "kg_file.h"
#include "kg_report.h"
#include "kg_shard.h"
#include "kg_template.h"

#ifndef KG_VERSION
#define KG_VERSION "0"
#endif

int kg_cli_tune_shard(const kg_spec *s, const char *spec_path, kg_tune_opts *o, const char *out, const char *db,
                      const char *csv, const char *profile_path, int index, int count) {
  if (csv) return kg_usage_error("tune: %s", "a shard writes no --csv (kgen merge writes the run's report)");
  kg_ctx ctx = {0};
  kg_status st;
  kg_machine mach;
  kg_shard_info info;
  memset(&info, 0, sizeof info);
  bool *on = calloc((size_t)count, sizeof *on);
  char dir[4200], dbpath[4400], json[4400];
  kg_tune_report *r = NULL;
  int rc = 0;
  if (!on) {
    kg_ctx_set(&ctx, KG_ENOMEM, "out of memory");
    rc = kg_fail(&ctx, KG_ENOMEM);
    goto done;
  }
  on[index] = true;
  o->shards = count;
  o->shard_on = on;
  o->rounds = 0; /* the merge runs the final rounds, side by side on one machine */
  if ((st = kg_machine_detect(&mach, &ctx))) goto fail;
  static kg_profile prof;
  const kg_profile *profile = NULL;
  if ((rc = kg_load_profile(profile_path, mach.id, &prof, &profile))) goto done;
  info.index = index;
  info.count = count;
  snprintf(info.kernel, sizeof info.kernel, "%s", s->name);
  info.spec_hash = s->hash;
  if ((st = kg_template_hash(s, &info.template_hash, &ctx))) goto fail;
  snprintf(info.machine_id, sizeof info.machine_id, "%s", mach.id);
  snprintf(info.backend, sizeof info.backend, "%s", kg_backend_name(o->compile.backend));
  snprintf(info.mode, sizeof info.mode, "%s", o->measure.cold ? "cold" : "warm");
  if (!realpath(spec_path, info.spec_path)) snprintf(info.spec_path, sizeof info.spec_path, "%s", spec_path);
  snprintf(info.strategy, sizeof info.strategy, "%s", kg_strategy_name(o->strategy));
  info.budget = o->budget;
  info.seed = o->seed;
  for (int i = 0; i < o->nproblems; i++)
    snprintf(info.problems + strlen(info.problems), sizeof info.problems - strlen(info.problems), "%s%s", i ? "," : "",
             o->problems[i]);
  snprintf(info.kgen_version, sizeof info.kgen_version, "%s", KG_VERSION);

  snprintf(dir, sizeof dir, "%.2048s/%.1024s/shards", out, s->name);
  if ((st = kg_file_mkdirs(dir, &ctx))) goto fail;
  snprintf(json, sizeof json, "%.4200s/%.80s-%d-of-%d.json", dir, mach.id, index, count);
  if (!db) {
    snprintf(dbpath, sizeof dbpath, "%.4200s/%.80s-%d-of-%d.db", dir, mach.id, index, count);
    db = dbpath;
  }
  o->db_path = db;
  if ((st = kg_shard_mark(db, &info, &ctx))) goto fail; /* not done: a killed shard stays so */
  if ((st = kg_tune(s, o, &r, &ctx))) goto fail;
  r->profile = profile;
  info.done = true;
  if ((st = kg_shard_mark(db, &info, &ctx))) goto fail;
  kg_tune_print_summary(r, stdout);
  if ((st = kg_tune_write_json(r, json, &ctx))) goto fail;
  fprintf(stderr,
          "shard %d/%d of %s done: database %s, partial report %s (the search's nominations; "
          "`kgen merge` runs the final rounds and writes %s/%s/)\n",
          index, count, s->name, db, json, out, s->name);
  goto done;
fail:
  rc = kg_fail(&ctx, st);
done:
  kg_tune_report_free(r);
  free(on);
  o->shard_on = NULL;
  return rc;
}
