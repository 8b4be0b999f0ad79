/*
 * kg_cli_replay.c - `kgen replay`: a strategy's tuning quality on a fully measured space.
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kg_replay.h"

static const char kg_replay_usage[] =
    "usage: kgen replay FILE [options]\n"
    "  replay a search strategy on a fully measured space (Kernel Tuner cache file, .json or .json.gz):\n"
    "  over R seeded runs, per budget (1, 2, 5, 10, 20% of the space; 50, 100, 200 evaluations), the\n"
    "  fraction of runs whose final choice is within 3% of the optimum (95% Wilson interval), the\n"
    "  evaluations needed to get there (median, 90th percentile) and random search's exact figures\n"
    "  (without noise)\n"
    "      --strategy S      " KG_SEARCH_DEFAULT " (default), bandit, ga, anneal, ils, random, exhaustive, or all\n"
    "      --budget N        this one budget (evaluations) instead of the list\n"
    "      --runs R          seeded runs (default 100)\n"
    "      --seed S          first seed (default 1)\n"
    "      --batch B         ask B points at once and tell them after (as kgen tune --propose B; default 1)\n"
    "      --json OUT        write the figures as JSON (with --strategy all: a list, one per strategy)\n"
    "      --noise resample  each visit's time drawn from the stored samples\n"
    "      --noise F         each visit's time times a lognormal factor exp(F z) (F = 0.05: ~5% spread)\n";

static int kg_replay_bad(const char *fmt, const char *arg) {
  fprintf(stderr, "kgen replay: ");
  fprintf(stderr, fmt, arg);
  fprintf(stderr, "\n\n%s", kg_replay_usage);
  return 2;
}

static void kg_replay_print(const kg_replay *r, const kg_replay_opts *o, const kg_replay_budget *b, int nb) {
  printf("%s: %zu configurations (%zu failed), optimum %.6g ms, %zu within 3%%; strategy %s, %d runs", r->name,
         r->sp->npoints, r->nfailed, r->optimum, r->ngood, o->strategy, o->runs);
  if (o->batch > 1) printf(", batches of %d", o->batch);
  printf("\n");
  printf("%8s %6s  %-22s %6s %6s  %8s %6s %6s\n", "budget", "%", "within 3% [95% CI]", "p50", "p90", "random", "r.p50",
         "r.p90");
  for (int k = 0; k < nb; k++) {
    char pct[32] = "-", q[4][32];
    if (!isnan(b[k].pct)) snprintf(pct, sizeof pct, "%g", b[k].pct);
    long v[4] = {b[k].p50, b[k].p90, b[k].random_p50, b[k].random_p90};
    for (int i = 0; i < 4; i++) {
      if (v[i] < 0) snprintf(q[i], sizeof q[i], ">%zu", b[k].budget);
      else snprintf(q[i], sizeof q[i], "%ld", v[i]);
    }
    printf("%8zu %6s  %5.1f%% [%5.1f, %5.1f]  %6s %6s  %7.1f%% %6s %6s\n", b[k].budget, pct, 100 * b[k].p,
           100 * b[k].lo, 100 * b[k].hi, q[0], q[1], 100 * b[k].random_p, q[2], q[3]);
  }
}

int kg_cli_replay(int argc, char **argv) {
  enum { OPT_STRATEGY = 256, OPT_BUDGET, OPT_RUNS, OPT_SEED, OPT_JSON, OPT_NOISE, OPT_BATCH, OPT_HELP };
  static const struct option longopts[] = {{"strategy", required_argument, 0, OPT_STRATEGY},
                                           {"budget", required_argument, 0, OPT_BUDGET},
                                           {"runs", required_argument, 0, OPT_RUNS},
                                           {"seed", required_argument, 0, OPT_SEED},
                                           {"json", required_argument, 0, OPT_JSON},
                                           {"noise", required_argument, 0, OPT_NOISE},
                                           {"batch", required_argument, 0, OPT_BATCH},
                                           {"help", no_argument, 0, OPT_HELP},
                                           {0, 0, 0, 0}};
  kg_replay_opts o = {.strategy = KG_SEARCH_DEFAULT, .runs = 100, .seed = 1, .noise = KG_NOISE_NONE};
  const char *json_out = NULL;
  long budget = 0;
  int c;
  char *end;
  opterr = 0;
  while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
    switch (c) {
    case OPT_STRATEGY: o.strategy = optarg; break;
    case OPT_BUDGET:
      budget = strtol(optarg, &end, 10);
      if (*end || budget < 1) return kg_replay_bad("--budget must be a positive integer, not '%s'", optarg);
      break;
    case OPT_RUNS: {
      long v = strtol(optarg, &end, 10);
      if (*end || v < 1 || v > 1000000) return kg_replay_bad("--runs must be between 1 and 1000000, not '%s'", optarg);
      o.runs = (int)v;
      break;
    }
    case OPT_SEED:
      o.seed = strtoull(optarg, &end, 10);
      if (*end || !*optarg) return kg_replay_bad("--seed must be a non-negative integer, not '%s'", optarg);
      break;
    case OPT_JSON: json_out = optarg; break;
    case OPT_BATCH: {
      long v = strtol(optarg, &end, 10);
      if (*end || v < 1 || v > KG_SEARCH_MAX_BATCH)
        return kg_replay_bad("--batch must be between 1 and 256, not '%s'", optarg);
      o.batch = (int)v;
      break;
    }
    case OPT_NOISE:
      if (!strcmp(optarg, "resample")) {
        o.noise = KG_NOISE_RESAMPLE;
      } else {
        o.noise_spread = strtod(optarg, &end);
        if (*end || !(o.noise_spread >= 0) || o.noise_spread > 10)
          return kg_replay_bad("--noise takes 'resample' or a spread F in [0, 10], not '%s'", optarg);
        o.noise = KG_NOISE_LOGNORMAL;
      }
      break;
    case OPT_HELP:
    case 'h': fputs(kg_replay_usage, stdout); return 0;
    default: return kg_replay_bad("unknown option or missing value: '%s'", argv[optind - 1]);
    }
  }
  if (optind >= argc) return kg_replay_bad("%s", "missing FILE");
  if (optind + 1 < argc) return kg_replay_bad("unexpected argument '%s'", argv[optind + 1]);

  kg_ctx ctx = {0};
  kg_replay *r = NULL;
  kg_status st = kg_replay_load(argv[optind], &r, &ctx);
  if (st) {
    fprintf(stderr, "kgen: %s\n", kg_ctx_message(&ctx));
    return st == KG_ENOMEM ? 1 : 2;
  }
  static const double pcts[] = {1, 2, 5, 10, 20};
  static const size_t abs_budgets[] = {50, 100, 200};
  kg_replay_budget b[8];
  int nb = 0;
  if (budget > 0) {
    b[nb++] = (kg_replay_budget){.budget = (size_t)budget, .pct = NAN}; /* absolute: budget_pct null */
  } else {
    for (int k = 0; k < 5; k++) {
      size_t v = (size_t)llround(pcts[k] / 100.0 * (double)r->sp->npoints);
      b[nb++] = (kg_replay_budget){.budget = v ? v : 1, .pct = pcts[k]};
    }
    for (int k = 0; k < 3; k++) b[nb++] = (kg_replay_budget){.budget = abs_budgets[k], .pct = NAN};
  }
  const char *const *names = kg_search_strategies();
  bool all = !strcmp(o.strategy, "all");
  json_t *doc = all ? json_array() : NULL;
  int rc = 0;
  for (int i = 0; all ? names[i] != NULL : i < 1; i++) {
    kg_replay_opts oi = o;
    if (all) oi.strategy = names[i];
    kg_replay_budget bi[8];
    memcpy(bi, b, sizeof b);
    st = kg_replay_run(r, &oi, bi, nb, &ctx);
    if (st) {
      fprintf(stderr, "kgen: %s\n", kg_ctx_message(&ctx));
      rc = st == KG_EINVAL ? 2 : 1;
      break;
    }
    kg_replay_print(r, &oi, bi, nb);
    json_t *j = kg_replay_json(r, &oi, bi, nb);
    if (all) json_array_append_new(doc, j);
    else doc = j;
    fflush(stdout);
  }
  if (!rc && json_out && doc) {
    if (json_dump_file(doc, json_out, JSON_INDENT(2) | JSON_REAL_PRECISION(6))) {
      fprintf(stderr, "kgen: %s: cannot write\n", json_out);
      rc = 1;
    }
  }
  json_decref(doc);
  kg_replay_free(r);
  return rc;
}
