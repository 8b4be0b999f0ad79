/* kg_cli_merge.c - `kgen merge DB...`: combine the shard databases of one tuning run (kg_shard.h),
 * run the final rounds on this machine and write OUT/<kernel>/ as a single run would.
 *
 * The shards' search rows are copied into the run's database (default OUT/<kernel>/<machine-id>.db)
 * and the run is replayed with --resume --keep-failures under the shards' strategy, budget, seed and
 * problems: every search result loads from the database, nothing is measured again, and the final
 * rounds then measure the finalists and the baselines side by side here. */
#include <inttypes.h>
#include <string.h>

#include "kg_cli.h"
#include "kg_file.h"
#include "kg_report.h"
#include "kg_shard.h"
#include "kg_template.h"

/* Whether b belongs to the same run as a; else the first difference into why. */
static bool kg_merge_same(const kg_shard_info *a, const kg_shard_info *b, char *why, size_t cap) {
  if (strcmp(a->kernel, b->kernel)) snprintf(why, cap, "kernel %s vs %s", b->kernel, a->kernel);
  else if (a->spec_hash != b->spec_hash)
    snprintf(why, cap, "spec hash %016" PRIx64 " vs %016" PRIx64 " (a different or edited spec)", b->spec_hash,
             a->spec_hash);
  else if (a->template_hash != b->template_hash)
    snprintf(why, cap, "template hash %016" PRIx64 " vs %016" PRIx64 " (a different or edited template)",
             b->template_hash, a->template_hash);
  else if (strcmp(a->machine_id, b->machine_id))
    snprintf(why, cap, "machine class %s vs %s (each machine class is tuned and merged on its own)", b->machine_id,
             a->machine_id);
  else if (strcmp(a->backend, b->backend) || strcmp(a->mode, b->mode))
    snprintf(why, cap, "%s backend, %s caches vs %s, %s", b->backend, b->mode, a->backend, a->mode);
  else if (a->count != b->count) snprintf(why, cap, "one of %d shards vs %d", b->count, a->count);
  else if (strcmp(a->strategy, b->strategy) || a->budget != b->budget || a->seed != b->seed)
    snprintf(why, cap, "strategy %s, budget %ld, seed %" PRIu64 " vs %s, %ld, %" PRIu64, b->strategy, b->budget,
             b->seed, a->strategy, a->budget, a->seed);
  else if (strcmp(a->problems, b->problems))
    snprintf(why, cap, "problems '%.200s' vs '%.200s'", *b->problems ? b->problems : "all",
             *a->problems ? a->problems : "all");
  else return true;
  return false;
}

int kg_cli_merge(int argc, char **argv) {
  static const struct option longs[] = {{"out", required_argument, 0, 'o'},
                                        {"spec", required_argument, 0, 's'},
                                        {"db", required_argument, 0, 'd'},
                                        {"allow-partial", no_argument, 0, 'P'},
                                        {"help", no_argument, 0, 'h'},
                                        KG_MEASURE_OPTIONS,
                                        {0, 0, 0, 0}};
  kg_tune_opts o;
  kg_tune_opts_default(&o);
  const char *out = "tuned", *spec_path = NULL, *db = NULL, *profile_path = NULL;
  bool partial = false;
  kg_ctx ctx = {0};
  int c, rc = 0;
  while ((c = kg_getopt(argc, argv, "h", longs)) != -1) {
    if ((rc = kg_measure_option(c, &o, &profile_path)) >= 0) {
      if (rc) return rc;
      continue;
    }
    switch (c) {
    case -2: return EXIT_USAGE;
    case 'o': out = optarg; break;
    case 's': spec_path = optarg; break;
    case 'd': db = optarg; break;
    case 'P': partial = true; break;
    case 'h': fputs(strstr(kg_usage, "  merge DB"), stdout); return 0;
    }
  }
  int ndb = argc - optind;
  if (ndb < 1) return kg_usage_error("merge: %s", "missing the shard databases (DB...)");
  if (o.nproblems) return kg_usage_error("merge: %s", "--problem: the shards' problems are merged");
  char *const *dbs = argv + optind;

  kg_shard_info *info = calloc((size_t)ndb, sizeof *info);
  int *by_index = NULL; /* [count] db of each shard, -1 = none */
  bool *on = NULL;
  kg_spec *s = NULL;
  kg_tune_report *r = NULL;
  kg_status st;
  kg_machine mach;
  char why[512], dir[4200], dbpath[4400], problems[4096];
  if (!info) {
    st = kg_ctx_set(&ctx, KG_ENOMEM, "out of memory");
    goto fail;
  }
  if ((st = kg_machine_detect(&mach, &ctx))) goto fail;
  for (int i = 0; i < ndb; i++) {
    if ((st = kg_shard_read(dbs[i], &info[i], &ctx))) goto fail;
    if (i && !kg_merge_same(&info[0], &info[i], why, sizeof why)) {
      st = kg_ctx_set(&ctx, KG_EINVAL,
                      "%s differs from %s (the first shard given): %s; not a shard of the same run, "
                      "refused",
                      dbs[i], dbs[0], why);
      goto fail;
    }
  }
  const kg_shard_info *run = &info[0];
  if (strcmp(run->machine_id, mach.id)) {
    st = kg_ctx_set(&ctx, KG_EINVAL,
                    "%s: tuned on machine class %s; this machine is %s: the merge re-measures the finalists side by "
                    "side here, so it runs on the class the shards tuned (sbatch --constraint); refused",
                    dbs[0], run->machine_id, mach.id);
    goto fail;
  }
  int n = run->count;
  by_index = malloc(sizeof *by_index * (size_t)n);
  on = calloc((size_t)n, sizeof *on);
  if (!by_index || !on) {
    st = kg_ctx_set(&ctx, KG_ENOMEM, "out of memory");
    goto fail;
  }
  for (int k = 0; k < n; k++) by_index[k] = -1;
  for (int i = 0; i < ndb; i++) {
    int k = info[i].index;
    if (k < 0 || k >= n) {
      st = kg_ctx_set(&ctx, KG_EINVAL, "%s: shard %d of %d is out of range", dbs[i], k, n);
      goto fail;
    }
    if (by_index[k] >= 0) {
      st = kg_ctx_set(&ctx, KG_EINVAL, "%s and %s are both shard %d/%d; refused", dbs[by_index[k]], dbs[i], k, n);
      goto fail;
    }
    by_index[k] = i;
  }
  /* Every shard present and finished, or --allow-partial. */
  char missing[2048] = "";
  int nmissing = 0;
  for (int k = 0; k < n; k++) {
    int i = by_index[k];
    on[k] = i >= 0 && info[i].done;
    if (on[k]) continue;
    nmissing++;
    size_t len = strlen(missing);
    if (i < 0) snprintf(missing + len, sizeof missing - len, "%sshard %d/%d: no database given", len ? "; " : "", k, n);
    else
      snprintf(missing + len, sizeof missing - len,
               "%sshard %d/%d (%s) did not finish (killed or failed; rerun it with --shard %d/%d --resume)",
               len ? "; " : "", k, n, dbs[i], k, n);
  }
  if (nmissing == n) {
    st = kg_ctx_set(&ctx, KG_ENORESULT, "no shard of %s finished: %s", run->kernel, missing);
    goto fail;
  }
  if (nmissing && !partial) {
    st = kg_ctx_set(&ctx, KG_ENORESULT, "%s; refused (--allow-partial merges the finished shards only)", missing);
    goto fail;
  }

  /* The spec: as given or as the shards recorded; it must still hash as they did. */
  if (!spec_path) spec_path = run->spec_path;
  if ((rc = kg_load(spec_path, &s))) goto done;
  uint64_t th = 0;
  if ((st = kg_template_hash(s, &th, &ctx))) goto fail;
  if (strcmp(s->name, run->kernel) || s->hash != run->spec_hash || th != run->template_hash) {
    st = kg_ctx_set(&ctx, KG_EINVAL,
                    "%s: kernel %s, spec hash %016" PRIx64 ", template hash %016" PRIx64 "; the shards (%s) tuned %s, "
                    "%016" PRIx64 ", %016" PRIx64 ": the spec or its template changed since; refused",
                    spec_path, s->name, s->hash, th, dbs[0], run->kernel, run->spec_hash, run->template_hash);
    goto fail;
  }

  /* Their rows into the run's database. */
  snprintf(dir, sizeof dir, "%.2048s/%.1024s", out, s->name);
  if (!db) {
    if ((st = kg_file_mkdirs(dir, &ctx))) goto fail;
    snprintf(dbpath, sizeof dbpath, "%.4200s/%.80s.db", dir, mach.id);
    db = dbpath;
  }
  long total = 0;
  for (int k = 0; k < n; k++) {
    if (!on[k]) continue;
    long copied = 0;
    if ((st = kg_shard_import(db, dbs[by_index[k]], run, &copied, &ctx))) goto fail;
    total += copied;
  }
  if (o.progress)
    fprintf(o.progress, "merge %s: %d of %d shards, %ld measurements into %s\n", s->name, n - nmissing, n, total, db);

  /* The run again, every search result from the database; the final rounds measure here. */
  if ((st = kg_strategy_parse(run->strategy, &o.strategy, &ctx))) goto fail;
  if ((st = kg_backend_parse(run->backend, &o.compile.backend, &ctx))) goto fail;
  o.measure.cold = strcmp(run->mode, "cold") == 0;
  o.budget = run->budget;
  o.seed = run->seed;
  snprintf(problems, sizeof problems, "%s", run->problems);
  for (char *save = NULL, *tok = strtok_r(problems, ",", &save); tok && o.nproblems < KG_TUNE_MAX_PROBLEMS;
       tok = strtok_r(NULL, ",", &save))
    o.problems[o.nproblems++] = tok;
  o.db_path = db;
  o.resume = true;
  o.keep_failures = true; /* a shard's failure stands: the merge measures nothing of the search */
  if (nmissing) {
    o.shards = n;
    o.shard_on = on;
  }
  static kg_profile prof;
  const kg_profile *profile = NULL;
  if ((rc = kg_load_profile(profile_path, mach.id, &prof, &profile))) goto done;
  if ((st = kg_tune(s, &o, &r, &ctx))) goto fail;
  r->profile = profile;
  kg_tune_print_summary(r, stdout);
  if (nmissing)
    fprintf(stderr, "kgen: PARTIAL merge of %s: %d of %d shards merged; left out: %s\n", s->name, n - nmissing, n,
            missing);
  if (!kg_tune_report_any_winner(r)) {
    fprintf(stderr, "kgen: no variant of %s passed on any problem; %s left unchanged\n", s->name, out);
    rc = EXIT_WORK;
    goto done;
  }
  if ((st = kg_tune_write(r, out, &ctx))) goto fail;
  fprintf(stderr, "wrote %s/%s.json and %s/%s/<problem>.c (database %s)\n", dir, r->machine.id, dir, r->machine.id, db);
  goto done;
fail:
  rc = kg_fail(&ctx, st);
done:
  kg_tune_report_free(r);
  kg_spec_free(s);
  free(info);
  free(by_index);
  free(on);
  return rc;
}
