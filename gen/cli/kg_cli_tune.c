/* kg_cli_tune.c - `kgen tune SPEC`: search, verify, measure, write tuned/. */
#include <string.h>

#include "kg_bench.h"
#include "kg_cli.h"
#include "kg_db.h"
#include "kg_file.h"
#include "kg_report.h"
#include "kg_search.h" /* KG_SEARCH_MAX_BATCH */
#include "kg_shard.h"

/* Exit 2 with a message naming the path when the output folder, the database or the CSV's
 * folder cannot be written; 0 when all can. */
static int kg_tune_preflight(const char *dir, const char *db, const char *csv) {
  kg_ctx ctx = {0};
  kg_db *h = NULL;
  char parent[4600];
  if (kg_file_check_writable(dir, &ctx)) goto bad;
  kg_tune_output_recover(dir); /* what an interrupted earlier write left: finished or removed */
  if (kg_file_mkdirs(kg_file_parent(db, parent, sizeof parent), &ctx)) goto bad;
  if (kg_db_open(db, &h, &ctx)) goto bad; /* created now: the run fills it from the start */
  kg_db_close(h);
  if (csv && kg_file_check_writable(kg_file_parent(csv, parent, sizeof parent), &ctx)) goto bad;
  return 0;
bad:
  fprintf(stderr, "kgen: %s (nothing was measured)\n", kg_ctx_message(&ctx));
  return EXIT_USAGE;
}

int kg_cli_tune(int argc, char **argv) {
  static const struct option longs[] = {{"strategy", required_argument, 0, 'S'},
                                        {"budget", required_argument, 0, 'B'},
                                        {"seed", required_argument, 0, 'r'},
                                        {"out", required_argument, 0, 'o'},
                                        {"db", required_argument, 0, 'd'},
                                        {"resume", no_argument, 0, 'R'},
                                        {"keep-failures", no_argument, 0, 'K'},
                                        {"csv", required_argument, 0, 'c'},
                                        {"help", no_argument, 0, 'h'},
                                        {"cutoff", required_argument, 0, 'X'},
                                        {"screen-time", required_argument, 0, 'T'},
                                        {"propose", required_argument, 0, 'P'},
                                        {"cache", required_argument, 0, 'C'},
                                        {"shard", required_argument, 0, 'H'},
                                        {"warm-start", no_argument, 0, 'W'},
                                        {"no-warm-start", no_argument, 0, 'N'},
                                        KG_MEASURE_OPTIONS,
                                        {0, 0, 0, 0}};
  kg_tune_opts o;
  kg_tune_opts_default(&o);
  o.cutoff = 2;           /* kgen tune's default (OpenTuner's); the library's is none */
  o.screen_time = 0.05;   /* kgen tune's default: the final rounds decide; the library's is none */
  const char *out = "tuned", *db = NULL, *csv = NULL, *profile_path = NULL;
  kg_ctx ctx = {0};
  long v, *warm = NULL, nwarm = 0;
  char **warm_from = NULL;
  int c, rc, shard = -1, shards = 0, warm_start = -1; /* warm_start -1: on when other machines have results */
  bool strategy_given = false;
  while ((c = kg_getopt(argc, argv, "h", longs)) != -1) {
    if ((rc = kg_measure_option(c, &o, &profile_path)) >= 0) {
      if (rc) return rc;
      continue;
    }
    switch (c) {
    case -2: return EXIT_USAGE;
    case 'S':
      if (kg_strategy_parse(optarg, &o.strategy, &ctx)) return kg_usage_error("%s", kg_ctx_message(&ctx));
      strategy_given = true;
      break;
    case 'B':
      if ((rc = kg_parse_long("--budget", optarg, &o.budget))) return rc;
      break;
    case 'P':
      if ((rc = kg_parse_long("--propose", optarg, &v))) return rc;
      if (v < 1 || v > KG_SEARCH_MAX_BATCH)
        return kg_usage_error("--propose must be between 1 and 256, not %s", optarg);
      o.propose = (int)v;
      break;
    case 'X': {
      char *end;
      o.cutoff = strtod(optarg, &end);
      if (end == optarg || *end || !(o.cutoff == 0 || o.cutoff >= 1))
        return kg_usage_error("--cutoff must be 0 (none) or >= 1, not %s", optarg);
      break;
    }
    case 'T':
      if ((rc = kg_parse_double("--screen-time", optarg, &o.screen_time))) return rc;
      if (o.screen_time < 0) return kg_usage_error("--screen-time must be >= 0 (0 = off), not %s", optarg);
      break;
    case 'r':
      if ((rc = kg_parse_long("--seed", optarg, &v))) return rc;
      o.seed = (uint64_t)v;
      break;
    case 'o': out = optarg; break;
    case 'd': db = optarg; break;
    case 'R': o.resume = true; break;
    case 'K': o.keep_failures = true; break;
    case 'c': csv = optarg; break;
    case 'C': o.cache_path = optarg; break;
    case 'H':
      if (kg_shard_parse(optarg, &shard, &shards, &ctx)) return kg_usage_error("%s", kg_ctx_message(&ctx));
      break;
    case 'W': warm_start = 1; break;
    case 'N': warm_start = 0; break;
    case 'h': fputs(strstr(kg_usage, "  tune SPEC"), stdout); return 0;
    }
  }
  if (optind >= argc) return kg_usage_error("tune: %s", "missing SPEC");
  if (optind + 1 < argc) return kg_usage_error("tune: unexpected argument '%s'", argv[optind + 1]);
  kg_spec *s = NULL;
  if ((rc = kg_load(argv[optind], &s))) return rc;
  /* shards split a selection made up front: exhaustive unless --strategy random */
  if (!strategy_given) o.strategy = shards ? KG_STRATEGY_EXHAUSTIVE : kg_tune_default_strategy(s);
  if (shards) { /* one shard of the run: kg_cli_shard.c */
    rc = kg_cli_tune_shard(s, argv[optind], &o, out, db, csv, profile_path, shard, shards);
    kg_spec_free(s);
    return rc;
  }

  /* The default database lives under the output root, one per kernel and machine. */
  char dbpath[4400], dir[4200];
  kg_machine mach;
  kg_status st = kg_machine_detect(&mach, &ctx);
  if (st) {
    rc = kg_fail(&ctx, st);
    goto done;
  }
  snprintf(dir, sizeof dir, "%.2048s/%.1024s", out, s->name);
  if (!db) {
    snprintf(dbpath, sizeof dbpath, "%.4200s/%.80s.db", dir, mach.id);
    db = dbpath;
  }
  /* Every place the run writes to is checked before anything is measured (exit 2): the output,
   * the database, the CSV's folder. */
  if ((rc = kg_tune_preflight(dir, db, csv))) goto done;
  o.db_path = db;
  static kg_profile prof;
  const kg_profile *profile = NULL;
  if ((rc = kg_load_profile(profile_path, mach.id, &prof, &profile))) goto done;
  if (warm_start != 0) { /* measure the best points of earlier results first: this machine's, then the nearest */
    const long cap = (long)s->npoints;
    warm = calloc((size_t)cap + 1, sizeof *warm);
    warm_from = calloc((size_t)cap + 1, sizeof *warm_from);
    if (!warm || !warm_from || (st = kg_bench_warm_points(out, s, &mach, warm, warm_from, cap, &nwarm, &ctx))) {
      rc = kg_fail(&ctx, st ? st : kg_ctx_set(&ctx, KG_ENOMEM, "out of memory"));
      goto done;
    }
    if (nwarm) {
      if (o.strategy >= KG_STRATEGY_KNN)
        fprintf(stderr, "kgen: warm start: points of earlier results (nearest first: %s) among each problem's seeds\n",
                warm_from[0]);
      else
        fprintf(stderr, "kgen: warm start: %ld points of earlier results measured first (nearest first: %s)\n", nwarm,
                warm_from[0]);
      o.nwarm = nwarm, o.warm = warm, o.warm_from = (const char *const *)warm_from;
    } else if (warm_start == 1) {
      fprintf(stderr, "kgen: warm start: no compatible machine has results in %s\n", dir);
    }
  }
  kg_tune_report *r = NULL;
  st = kg_tune(s, &o, &r, &ctx);
  if (st) {
    rc = kg_fail(&ctx, st);
    goto done;
  }
  r->profile = profile;
  kg_tune_print_summary(r, stdout);
  if (csv && (st = kg_tune_write_csv(r, csv, &ctx))) rc = kg_fail(&ctx, st);
  if (!kg_tune_report_any_winner(r)) {
    fprintf(stderr, "kgen: no variant of %s passed on any problem; %s left unchanged\n", s->name, out);
    rc = EXIT_WORK;
  } else if ((st = kg_tune_write(r, out, &ctx))) {
    rc = kg_fail(&ctx, st);
  } else {
    fprintf(stderr, "wrote %s/%s.json and %s/%s/<problem>.c (database %s)\n", dir, r->machine.id, dir, r->machine.id,
            db);
  }
  kg_tune_report_free(r);
done:
  for (long i = 0; i < nwarm; i++) free(warm_from[i]);
  free(warm_from);
  free(warm);
  kg_spec_free(s);
  return rc;
}
