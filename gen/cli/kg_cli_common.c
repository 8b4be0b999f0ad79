/* kg_cli_common.c - what the commands share: error and usage reporting, option parsing, the
 * options tune and bench share, spec and profile loading (kg_cli.h). */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

#include "kg_bench.h"
#include "kg_cli.h"

int kg_fail(const kg_ctx *ctx, kg_status st) {
  fprintf(stderr, "kgen: %s\n", kg_ctx_message(ctx));
  switch (st) {
  case KG_EINVAL:
  case KG_ESPEC:
  case KG_ETEMPLATE:
  case KG_ENOTFOUND: return EXIT_USAGE;
  default: return EXIT_WORK;
  }
}

int kg_usage_error(const char *fmt, const char *arg) {
  fprintf(stderr, "kgen: ");
  fprintf(stderr, fmt, arg);
  fprintf(stderr, "\n\n%s", kg_usage);
  return EXIT_USAGE;
}

/* getopt_long with our error reporting: returns -2 on an unknown option. */
int kg_getopt(int argc, char **argv, const char *shorts, const struct option *longs) {
  opterr = 0;
  int c = getopt_long(argc, argv, shorts, longs, NULL);
  if (c == '?') {
    const char *bad = argv[optind - 1];
    kg_usage_error(optopt ? "option '-%c' is unknown or needs a value" : "unknown option '%s'",
                   optopt ? (const char[]){(char)optopt, 0} : bad);
    return -2;
  }
  return c;
}

int kg_load(const char *path, kg_spec **spec) {
  kg_ctx ctx = {0};
  kg_status st = kg_spec_load(path, spec, &ctx);
  return st ? kg_fail(&ctx, st) : 0;
}

int kg_ends_with(const char *s, const char *suffix) {
  size_t a = strlen(s), b = strlen(suffix);
  return a >= b && strcmp(s + a - b, suffix) == 0;
}

int kg_name_cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int kg_parse_double(const char *opt, const char *arg, double *out) {
  char *end;
  errno = 0;
  *out = strtod(arg, &end);
  if (errno || *end || end == arg) {
    fprintf(stderr, "kgen: %s: '%s' is not a number\n", opt, arg);
    return EXIT_USAGE;
  }
  return 0;
}

int kg_parse_long(const char *opt, const char *arg, long *out) {
  char *end;
  errno = 0;
  *out = strtol(arg, &end, 10);
  if (errno || *end || end == arg) {
    fprintf(stderr, "kgen: %s: '%s' is not an integer\n", opt, arg);
    return EXIT_USAGE;
  }
  return 0;
}

/* --events a,b,c into o->events (pointers into a copy kept for the process's life). */
int kg_parse_events(const char *arg, kg_measure_opts *o) {
  static char *copies[8];
  static int ncopies;
  if (ncopies == 8) return kg_usage_error("%s", "--events: too many lists");
  char *copy = copies[ncopies++] = strdup(arg); /* reachable from copies: not a leak */
  if (!copy) return kg_usage_error("%s", "--events: out of memory");
  for (char *save = NULL, *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    if (o->nevents == KG_MAX_EVENTS) {
      fprintf(stderr, "kgen: --events: at most %d events\n", KG_MAX_EVENTS);
      return EXIT_USAGE;
    }
    o->events[o->nevents++] = tok;
  }
  return 0;
}

/* The machine profile: --profile FILE (must load), else tuned/machines/<id>.json when it exists.
 * Returns 0 with *out NULL when there is none. */
int kg_load_profile(const char *path, const char *machine_id, kg_profile *storage, const kg_profile **out) {
  char def[4200];
  kg_ctx ctx = {0};
  *out = NULL;
  if (!path) {
    kg_profile_default_path("tuned", machine_id, def, sizeof def);
    if (kg_profile_load(def, storage, &ctx) == KG_OK) *out = storage;
    else if (ctx.status != KG_ENOTFOUND) fprintf(stderr, "kgen: warning: %s\n", kg_ctx_message(&ctx));
    return 0;
  }
  kg_status st = kg_profile_load(path, storage, &ctx);
  if (st) {
    fprintf(stderr, "kgen: --profile: %s\n", kg_ctx_message(&ctx));
    return EXIT_USAGE;
  }
  if (strcmp(storage->machine_id, machine_id))
    fprintf(stderr, "kgen: warning: profile %s is of machine %s, not this one (%s)\n", path, storage->machine_id,
            machine_id);
  *out = storage;
  return 0;
}

/* Apply one shared option to o (and *profile).  Returns 0 when applied, EXIT_USAGE on a bad
 * value, -1 when c is not a shared option. */
int kg_measure_option(int c, kg_tune_opts *o, const char **profile) {
  kg_ctx ctx = {0};
  long v;
  int rc = 0;
  switch (c) {
  case OPT_PROBLEM:
    if (o->nproblems == KG_TUNE_MAX_PROBLEMS) return kg_usage_error("%s", "too many --problem");
    o->problems[o->nproblems++] = optarg;
    return 0;
  case OPT_MIN_TIME: return kg_parse_double("--min-time", optarg, &o->measure.min_time_s);
  case OPT_TIMEOUT: return kg_parse_double("--timeout", optarg, &o->measure.timeout_s);
  case OPT_COLD: o->measure.cold = true; return 0;
  case OPT_CPU:
    if (!(rc = kg_parse_long("--cpu", optarg, &v))) o->measure.cpu = (int)v;
    return rc;
  case OPT_QUIET: o->progress = NULL; return 0;
  case OPT_EVENTS: return kg_parse_events(optarg, &o->measure);
  case OPT_PROFILE: *profile = optarg; return 0;
  case OPT_BACKEND:
    if (kg_backend_parse(optarg, &o->compile.backend, &ctx)) return kg_usage_error("%s", kg_ctx_message(&ctx));
    return 0;
  case OPT_FINALISTS:
  case OPT_ROUNDS:
    if ((rc = kg_parse_long(c == OPT_ROUNDS ? "--rounds" : "--finalists", optarg, &v))) return rc;
    if (v < (c == OPT_ROUNDS ? 0 : 1) || v > 64)
      return kg_usage_error("%s must be between 0 (1 for --finalists) and 64",
                            c == OPT_ROUNDS ? "--rounds" : "--finalists");
    *(c == OPT_ROUNDS ? &o->rounds : &o->finalists) = (int)v;
    return 0;
  case OPT_JOBS:
    if ((rc = kg_parse_long("--jobs", optarg, &v))) return rc;
    if (v < 0 || v > 64) return kg_usage_error("--jobs must be between 0 (the CPUs) and 64, not %s", optarg);
    o->jobs = (int)v;
    return 0;
  case OPT_MEM_LIMIT: { /* SIZE[K|M|G], or none */
    if (!strcmp(optarg, "none")) {
      o->measure.mem_limit_bytes = -1;
      return 0;
    }
    char *end;
    double x = strtod(optarg, &end);
    double unit = !strcmp(end, "")    ? 1
                  : !strcmp(end, "K") ? 1024.0
                  : !strcmp(end, "M") ? 1048576.0
                  : !strcmp(end, "G") ? 1073741824.0
                                      : 0;
    if (end == optarg || unit == 0 || !(x > 0) || !isfinite(x))
      return kg_usage_error("--mem-limit: '%s' is not a size (e.g. 512M, 8G, or none)", optarg);
    o->measure.mem_limit_bytes = x * unit;
    return 0;
  }
  default: return -1;
  }
}

/* $KGEN_ROOT/rel when KGEN_ROOT is set, else rel when it exists here, else the source tree's. */
void kg_root_path(const char *rel, char *buf, size_t cap) {
  const char *root = getenv("KGEN_ROOT");
  if (root && *root) snprintf(buf, cap, "%s/%s", root, rel);
  else if (access(rel, R_OK) == 0) snprintf(buf, cap, "%s", rel);
  else snprintf(buf, cap, "%s/%s", KG_SOURCE_ROOT, rel);
}

int kg_cli_machine(kg_machine *m) {
  kg_ctx ctx = {0};
  const char *ov = getenv("KGEN_MACHINE_OVERRIDE");
  kg_status st = ov && *ov ? kg_machine_load(ov, m, &ctx) : kg_machine_detect(m, &ctx);
  if (st) return kg_fail(&ctx, st);
  return 0;
}

int kg_cli_load_winners(const char *dir, const kg_spec *s, const kg_machine *m, bool strict, json_t **out, char *from,
                        size_t cap) {
  kg_ctx ctx = {0};
  from[0] = 0;
  kg_status st = kg_bench_load_tuned(dir, s->name, m, out, &ctx);
  if (st == KG_ENOTFOUND && !strict) {
    kg_ctx nctx = {0};
    double dist = 0;
    st = kg_bench_load_nearest(dir, s->name, m, out, from, cap, &dist, &nctx);
    if (st == KG_OK)
      fprintf(stderr,
              "kgen: no tuned result for this machine (%s) in %s/%s; measuring the winners of the nearest compatible "
              "machine, %s (distance %.2f by the shipped library's rule; --strict refuses)\n",
              m->id, dir, s->name, from, dist);
    else ctx = nctx;
  }
  if (st) {
    fprintf(stderr, "kgen: %s\n", kg_ctx_message(&ctx));
    return st == KG_ENOTFOUND ? EXIT_WORK : EXIT_USAGE;
  }
  char h[17];
  snprintf(h, sizeof h, "%016" PRIx64, s->hash);
  const char *th = json_string_value(json_object_get(*out, "spec_hash"));
  if (th && strcmp(th, h))
    fprintf(stderr, "kgen: warning: %s was tuned with another version of %s (spec hash %s, now %s)\n", dir, s->path, th,
            h);
  return 0;
}
