/*
 * main.c - the kgen command line (DESIGN.md, "Command line").
 * Exit codes: 0 success, 1 the work failed (nothing valid found), 2 usage or input error.
 * Progress goes to stderr, results to stdout and files.  Only this file turns a kg_status into
 * an exit code.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kg_calibrate.h"
#include "kg_bench.h"
#include "kg_compile.h"
#include "kg_file.h"
#include "kg_profile.h"
#include "kg_spec.h"
#include "kg_template.h"
#include "kg_timer.h"
#include "kg_tune.h"

#ifndef KG_VERSION
#define KG_VERSION "0"
#endif

enum { EXIT_WORK = 1, EXIT_USAGE = 2 };

static const char kg_usage[] =
    "usage: kgen <command> [options]\n"
    "\n"
    "Code-generating autotuner: Lua specs describe a kernel and its tunable space; kgen expands\n"
    "C templates into variants, JIT-compiles them with Clang, verifies, measures and keeps the best.\n"
    "\n"
    "commands:\n"
    "  list [DIR]                      specs found in DIR (default specs/): parameters, space, problems\n"
    "  show SPEC                       tunable space, constraints, problems, reference and baselines\n"
    "  emit SPEC [--set a=1,b=2] [-o FILE]\n"
    "                                  C source of one variant (unset parameters take their default)\n"
    "  compile SPEC [--set ...] [--backend jit|cc]\n"
    "                                  compile one variant; print compile time and diagnostics\n"
    "  tune SPEC [options]             search, verify, measure, write OUT/<kernel>/...\n"
    "      --problem NAME              only this problem (repeatable)\n"
    "      --strategy exhaustive|random   (default exhaustive)\n"
    "      --budget N                  evaluate at most N variants (default all)\n"
    "      --seed N                    seed of the shuffled measuring order and of the random strategy\n"
    "                                  (default 1)\n"
    "      --backend jit|cc            compiler backend (default jit)\n"
    "      --out DIR                   output root (default tuned)\n"
    "      --db FILE                   tuning database (default OUT/<kernel>/<machine-id>.db)\n"
    "      --resume                    skip what the database already holds (failures are measured\n"
    "                                  again: a timeout may have been a loaded machine)\n"
    "      --keep-failures             with --resume: keep stored failures too\n"
    "      --csv FILE                  one row per measured variant\n"
    "      --min-time S                minimum measured time per variant (default 0.2)\n"
    "      --timeout S                 a variant running longer is killed (default 60)\n"
    "      --cold                      flush caches before each sample (default warm)\n"
    "      --cpu N                     pin the measuring worker to core N (default -1: all cores,\n"
    "                                  so OpenMP variants get their threads)\n"
    "      --quiet                     no progress on stderr\n"
    "      --events LIST               counter events per run, comma-separated (cycles,instructions,\n"
    "                                  cache-misses, task-clock, or PMU-specific libpfm4 names);\n"
    "                                  unavailable ones are reported as such, never as 0\n"
    "      --profile FILE              machine profile for efficiency (default tuned/machines/<id>.json)\n"
    "      --finalists N               candidates per problem measured again in the final rounds (default 8)\n"
    "      --rounds N                  final rounds: the finalists and the baselines measured side by side,\n"
    "                                  interleaved; each keeps its median round (default 3; 0 = none)\n"
    "      --mem-limit SIZE            memory a measuring worker may allocate (e.g. 8G; default half of\n"
    "                                  the RAM; none = no limit); past it an allocation fails\n"
    "\n"
    "  bench SPEC [options]            re-measure the shipped winners of this machine (or --set) and\n"
    "                                  the baselines in one run; exit 1 when tuned/ has no result here\n"
    "      --tuned DIR                 where the winners are (default tuned): DIR/<kernel>/<id>.json\n"
    "      --set a=1,b=2               measure this variant on every problem instead; repeated, the\n"
    "                                  variants are measured side by side and the fastest is named\n"
    "      --problem NAME              only this problem (repeatable)\n"
    "      --csv F, --json F, --md F   per-measurement CSV; JSON with the autotune JSON's problems\n"
    "                                  keys; Markdown report (environment, tables, findings)\n"
    "      --rounds N                  rounds measuring the variants and baselines side by side; each\n"
    "                                  keeps its median round (default 3)\n"
    "      --events LIST, --cold, --min-time S, --timeout S, --cpu N, --backend B, --profile F, --quiet\n"
    "                                  as for tune\n"
    "\n"
    "  compare BASE.json NEW.json [--threshold PCT]\n"
    "                                  regressions of NEW against BASE (autotune or bench JSON): NEW\n"
    "                                  slower beyond noise (CIs apart) and beyond PCT (default 5);\n"
    "                                  exit 1 when any regression, 2 on bad input\n"
    "\n"
    "  calibrate [-o FILE] [--quick]   the machine profile: peak FLOP/s (FMA microkernel, fp32/fp64, 1..all\n"
    "                                  cores), STREAM bandwidth L1..DRAM, OpenBLAS sgemm (default and\n"
    "                                  SkylakeX dispatch); default FILE tuned/machines/<machine-id>.json\n"
    "      --quick                     a few seconds, fewer sizes, one round (tests)\n"
    "      --rounds N                  peak and bandwidth: at least N rounds (default 4), then more, up\n"
    "                                  to 3N, for the figures no second round came within 2% of\n"
    "\n"
    "  kgen COMMAND --help, kgen --version\n";

static int kg_fail(const kg_ctx *ctx, kg_status st) {
  fprintf(stderr, "kgen: %s\n", kg_ctx_message(ctx));
  switch (st) {
  case KG_EINVAL: case KG_ESPEC: case KG_ETEMPLATE: case KG_ENOTFOUND: return EXIT_USAGE;
  default: return EXIT_WORK;
  }
}

static int kg_usage_error(const char *fmt, const char *arg) {
  fprintf(stderr, "kgen: ");
  fprintf(stderr, fmt, arg);
  fprintf(stderr, "\n\n%s", kg_usage);
  return EXIT_USAGE;
}

/* getopt_long with our error reporting: returns -2 on an unknown option. */
static int kg_getopt(int argc, char **argv, const char *shorts, const struct option *longs) {
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

static int kg_load(const char *path, kg_spec **spec) {
  kg_ctx ctx = {0};
  kg_status st = kg_spec_load(path, spec, &ctx);
  return st ? kg_fail(&ctx, st) : 0;
}

static int kg_ends_with(const char *s, const char *suffix) {
  size_t a = strlen(s), b = strlen(suffix);
  return a >= b && strcmp(s + a - b, suffix) == 0;
}

static int kg_name_cmp(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* ---- list ---------------------------------------------------------------------------------- */

static int cmd_list(int argc, char **argv) {
  static const struct option longs[] = {{"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
  int c;
  while ((c = kg_getopt(argc, argv, "h", longs)) != -1) {
    if (c == -2) return EXIT_USAGE;
    if (c == 'h') {
      printf("usage: kgen list [DIR]\n  the specs found in DIR (default specs/)\n");
      return 0;
    }
  }
  const char *dir = optind < argc ? argv[optind] : "specs";
  DIR *d = opendir(dir);
  if (!d) {
    fprintf(stderr, "kgen: %s: %s\n", dir, strerror(errno));
    return EXIT_USAGE;
  }
  char **names = NULL;
  size_t n = 0;
  for (struct dirent *e; (e = readdir(d));) {
    if (!kg_ends_with(e->d_name, ".lua")) continue;
    char **grown = realloc(names, sizeof *names * (n + 1));
    if (!grown) break;
    names = grown;
    names[n++] = strdup(e->d_name);
  }
  closedir(d);
  qsort(names, n, sizeof *names, kg_name_cmp);
  int rc = 0;
  printf("%-16s %-10s %-8s %-50s %s\n", "kernel", "space", "problems", "parameters", "spec");
  for (size_t i = 0; i < n; i++) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, names[i]);
    kg_spec *s = NULL;
    kg_ctx ctx = {0};
    if (kg_spec_load(path, &s, &ctx)) {
      fprintf(stderr, "kgen: %s\n", kg_ctx_message(&ctx));
      rc = EXIT_USAGE;
    } else {
      char params[1024] = "";
      for (int p = 0; p < s->nparams; p++)
        snprintf(params + strlen(params), sizeof params - strlen(params), "%s%s(%d)", p ? " " : "",
                 s->params[p].name, s->params[p].nvalues);
      printf("%-16s %-10zu %-8d %-50s %s\n", s->name, s->npoints, s->nproblems, params, path);
    }
    kg_spec_free(s);
    free(names[i]);
  }
  free(names);
  return rc;
}

/* ---- show ---------------------------------------------------------------------------------- */

static int cmd_show(int argc, char **argv) {
  static const struct option longs[] = {{"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
  int c;
  while ((c = kg_getopt(argc, argv, "h", longs)) != -1) {
    if (c == -2) return EXIT_USAGE;
    if (c == 'h') {
      printf("usage: kgen show SPEC\n  tunable space, constraints, problems, reference and baselines\n");
      return 0;
    }
  }
  if (optind >= argc) return kg_usage_error("show: %s", "missing SPEC");
  kg_spec *s = NULL;
  int rc = kg_load(argv[optind], &s);
  if (rc) return rc;
  printf("kernel      %s\n", s->name);
  if (s->description[0]) printf("            %s\n", s->description);
  printf("spec        %s (xxh64 %016" PRIx64 ")\n", s->path, s->hash);
  printf("template    %s\n", s->template_path);
  printf("reference   %s\n", s->reference[0] ? s->reference : "-");
  printf("baselines  ");
  for (int i = 0; i < s->nbaselines; i++) {
    printf(" %s", s->baselines[i]);
    if (s->baseline_threads[i]) printf(" (%d thread%s)", s->baseline_threads[i], s->baseline_threads[i] == 1 ? "" : "s");
  }
  printf("%s\n", s->nbaselines ? "" : " -");
  printf("tolerance   rtol %g, atol %g%s\n", s->rtol, s->atol, s->rtol == 0 && s->atol == 0 ? " (exact)" : "");
  printf("space       %zu points, %zu after %d constraint(s)\n", s->nraw, s->npoints, s->nconstraints);
  printf("parameters  (the first value is the default)\n");
  for (int i = 0; i < s->nparams; i++) {
    const kg_param *p = &s->params[i];
    printf("  %-12s %-12s", p->name, p->macro);
    for (int v = 0; v < p->nvalues; v++) {
      if (p->kind == KG_PARAM_INT) printf(" %" PRId64, p->ivalues[v]);
      else printf(" %s", p->svalues[v]);
    }
    printf("\n");
  }
  printf("problems\n");
  for (int i = 0; i < s->nproblems; i++) {
    const kg_spec_problem *p = &s->problems[i];
    printf("  %-12s", p->name);
    for (int d = 0; d < p->ndims; d++) printf(" %s=%" PRId64, p->dim_names[d], p->dims[d]);
    if (p->bytes >= 0) printf("  bytes=%.4g", p->bytes);
    if (p->flops >= 0) printf("  flops=%.4g", p->flops);
    printf("\n");
  }
  kg_spec_free(s);
  return 0;
}

/* ---- emit / compile ------------------------------------------------------------------------ */

/* Load SPEC, parse --set, emit the source.  On success returns 0 with *src, *spec set. */
static int kg_emit_variant(const char *path, const char *set, kg_spec **spec, int32_t **point, char **src,
                           size_t *len) {
  int rc = kg_load(path, spec);
  if (rc) return rc;
  kg_ctx ctx = {0};
  *point = calloc((size_t)(*spec)->nparams + 1, sizeof **point);
  kg_status st = *point ? kg_spec_parse_set(*spec, set, *point, &ctx) : KG_ENOMEM;
  if (!st) st = kg_template_emit(*spec, *point, src, len, &ctx);
  if (st) {
    if (st == KG_EINVAL) {
      fprintf(stderr, "kgen: %s\n", kg_ctx_message(&ctx));
      return EXIT_USAGE;
    }
    return kg_fail(&ctx, st);
  }
  return 0;
}

static int cmd_emit(int argc, char **argv) {
  static const struct option longs[] = {{"set", required_argument, 0, 's'}, {"output", required_argument, 0, 'o'},
                                        {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
  const char *set = NULL, *out = NULL;
  int c;
  while ((c = kg_getopt(argc, argv, "s:o:h", longs)) != -1) {
    if (c == -2) return EXIT_USAGE;
    if (c == 's') set = optarg;
    else if (c == 'o') out = optarg;
    else if (c == 'h') {
      printf("usage: kgen emit SPEC [--set a=1,b=2] [-o FILE]\n  the C source of one variant\n");
      return 0;
    }
  }
  if (optind >= argc) return kg_usage_error("emit: %s", "missing SPEC");
  kg_spec *s = NULL;
  int32_t *point = NULL;
  char *src = NULL;
  size_t len = 0;
  int rc = kg_emit_variant(argv[optind], set, &s, &point, &src, &len);
  if (!rc) {
    FILE *f = out ? fopen(out, "w") : stdout;
    if (!f || fwrite(src, 1, len, f) != len || (out && fclose(f) != 0)) {
      fprintf(stderr, "kgen: %s: %s\n", out ? out : "stdout", strerror(errno));
      rc = EXIT_WORK;
    }
  }
  free(src);
  free(point);
  kg_spec_free(s);
  return rc;
}

static int cmd_compile(int argc, char **argv) {
  static const struct option longs[] = {{"set", required_argument, 0, 's'}, {"backend", required_argument, 0, 'b'},
                                        {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
  const char *set = NULL;
  kg_compile_opts co = {0};
  kg_ctx ctx = {0};
  int c;
  while ((c = kg_getopt(argc, argv, "s:b:h", longs)) != -1) {
    if (c == -2) return EXIT_USAGE;
    if (c == 's') set = optarg;
    else if (c == 'b') {
      if (kg_backend_parse(optarg, &co.backend, &ctx)) return kg_usage_error("%s", kg_ctx_message(&ctx));
    } else if (c == 'h') {
      printf("usage: kgen compile SPEC [--set a=1,b=2] [--backend jit|cc]\n"
             "  compile one variant; print the compile time and the diagnostics\n");
      return 0;
    }
  }
  if (optind >= argc) return kg_usage_error("compile: %s", "missing SPEC");
  kg_spec *s = NULL;
  int32_t *point = NULL;
  char *src = NULL, *diag = NULL;
  kg_compiler *cc = NULL;
  kg_module *m = NULL;
  int rc = kg_emit_variant(argv[optind], set, &s, &point, &src, NULL);
  if (rc) goto done;
  double t0 = (double)kg_now_ns();
  kg_status st = kg_compiler_new(&co, &cc, &ctx);
  double t1 = (double)kg_now_ns();
  if (st) {
    rc = kg_fail(&ctx, st);
    goto done;
  }
  char name[1024];
  kg_spec_format_point(s, point, name, sizeof name);
  st = kg_compiler_compile(cc, name, src, &m, &diag, &ctx);
  double t2 = (double)kg_now_ns();
  if (diag && *diag) fprintf(stderr, "%s", diag);
  printf("%s[%s]: %s, %s backend (%s), compile %.1f ms (compiler set-up %.1f ms)\n", s->name, name,
         st ? "failed" : "ok", kg_backend_name(co.backend), kg_compiler_describe(cc), (t2 - t1) / 1e6,
         (t1 - t0) / 1e6);
  if (st) rc = kg_fail(&ctx, st);
done:
  kg_module_free(m);
  kg_compiler_free(cc);
  free(diag);
  free(src);
  free(point);
  kg_spec_free(s);
  return rc;
}

/* ---- tune ---------------------------------------------------------------------------------- */

static int kg_parse_double(const char *opt, const char *arg, double *out) {
  char *end;
  errno = 0;
  *out = strtod(arg, &end);
  if (errno || *end || end == arg) {
    fprintf(stderr, "kgen: %s: '%s' is not a number\n", opt, arg);
    return EXIT_USAGE;
  }
  return 0;
}

static int kg_parse_long(const char *opt, const char *arg, long *out) {
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
static int kg_parse_events(const char *arg, kg_measure_opts *o) {
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
static int kg_load_profile(const char *path, const char *machine_id, kg_profile *storage, const kg_profile **out) {
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

/* The options tune and bench share, as getopt_long entries (their values are < 0 so they never
 * clash with a command's own). */
enum {
  OPT_PROBLEM = -100, OPT_MIN_TIME, OPT_TIMEOUT, OPT_COLD, OPT_CPU, OPT_QUIET, OPT_EVENTS, OPT_PROFILE,
  OPT_BACKEND, OPT_FINALISTS, OPT_ROUNDS, OPT_MEM_LIMIT
};
#define KG_MEASURE_OPTIONS                                                                                     \
  {"problem", required_argument, 0, OPT_PROBLEM}, {"min-time", required_argument, 0, OPT_MIN_TIME},            \
      {"timeout", required_argument, 0, OPT_TIMEOUT}, {"cold", no_argument, 0, OPT_COLD},                       \
      {"cpu", required_argument, 0, OPT_CPU}, {"quiet", no_argument, 0, OPT_QUIET},                             \
      {"events", required_argument, 0, OPT_EVENTS}, {"profile", required_argument, 0, OPT_PROFILE},             \
      {"backend", required_argument, 0, OPT_BACKEND}, {"finalists", required_argument, 0, OPT_FINALISTS},       \
      {"rounds", required_argument, 0, OPT_ROUNDS}, {"mem-limit", required_argument, 0, OPT_MEM_LIMIT}

/* Apply one shared option to o (and *profile).  Returns 0 when applied, EXIT_USAGE on a bad
 * value, -1 when c is not a shared option. */
static int kg_measure_option(int c, kg_tune_opts *o, const char **profile) {
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
      return kg_usage_error("%s must be between 0 (1 for --finalists) and 64", c == OPT_ROUNDS ? "--rounds" : "--finalists");
    *(c == OPT_ROUNDS ? &o->rounds : &o->finalists) = (int)v;
    return 0;
  case OPT_MEM_LIMIT: { /* SIZE[K|M|G], or none */
    if (!strcmp(optarg, "none")) {
      o->measure.mem_limit_bytes = -1;
      return 0;
    }
    char *end;
    double x = strtod(optarg, &end);
    double unit = !strcmp(end, "") ? 1 : !strcmp(end, "K") ? 1024.0 : !strcmp(end, "M") ? 1048576.0
                : !strcmp(end, "G") ? 1073741824.0 : 0;
    if (end == optarg || unit == 0 || !(x > 0) || !isfinite(x))
      return kg_usage_error("--mem-limit: '%s' is not a size (e.g. 512M, 8G, or none)", optarg);
    o->measure.mem_limit_bytes = x * unit;
    return 0;
  }
  default: return -1;
  }
}

static int cmd_tune(int argc, char **argv) {
  static const struct option longs[] = {
      {"strategy", required_argument, 0, 'S'}, {"budget", required_argument, 0, 'B'},
      {"seed", required_argument, 0, 'r'},     {"out", required_argument, 0, 'o'},
      {"db", required_argument, 0, 'd'},       {"resume", no_argument, 0, 'R'}, {"keep-failures", no_argument, 0, 'K'},
      {"csv", required_argument, 0, 'c'},      {"help", no_argument, 0, 'h'},
      KG_MEASURE_OPTIONS,                      {0, 0, 0, 0}};
  kg_tune_opts o;
  kg_tune_opts_default(&o);
  const char *out = "tuned", *db = NULL, *csv = NULL, *profile_path = NULL;
  kg_ctx ctx = {0};
  long v;
  int c, rc;
  while ((c = kg_getopt(argc, argv, "h", longs)) != -1) {
    if ((rc = kg_measure_option(c, &o, &profile_path)) >= 0) {
      if (rc) return rc;
      continue;
    }
    switch (c) {
    case -2: return EXIT_USAGE;
    case 'S':
      if (kg_strategy_parse(optarg, &o.strategy, &ctx)) return kg_usage_error("%s", kg_ctx_message(&ctx));
      break;
    case 'B':
      if ((rc = kg_parse_long("--budget", optarg, &o.budget))) return rc;
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
    case 'h':
      fputs(strstr(kg_usage, "  tune SPEC"), stdout);
      return 0;
    }
  }
  if (optind >= argc) return kg_usage_error("tune: %s", "missing SPEC");
  if (optind + 1 < argc) return kg_usage_error("tune: unexpected argument '%s'", argv[optind + 1]);
  kg_spec *s = NULL;
  if ((rc = kg_load(argv[optind], &s))) return rc;

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
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "%s", dir);
    for (char *p = cmd + 1;; p++) /* mkdir -p the database's directory */
      if (*p == '/' || !*p) {
        char t = *p;
        *p = 0;
        mkdir(cmd, 0777);
        *p = t;
        if (!t) break;
      }
  }
  o.db_path = db;
  static kg_profile prof;
  const kg_profile *profile = NULL;
  if ((rc = kg_load_profile(profile_path, mach.id, &prof, &profile))) goto done;
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
    fprintf(stderr, "wrote %s/%s.json and %s/%s/<problem>.c (database %s)\n", dir, r->machine.id, dir,
            r->machine.id, db);
  }
  kg_tune_report_free(r);
done:
  kg_spec_free(s);
  return rc;
}

/* ---- bench --------------------------------------------------------------------------------- */

#define KG_BENCH_MAX_SETS 16

static int cmd_bench(int argc, char **argv) {
  static const struct option longs[] = {
      {"tuned", required_argument, 0, 'D'}, {"set", required_argument, 0, 's'},
      {"csv", required_argument, 0, 'c'},   {"json", required_argument, 0, 'j'},
      {"md", required_argument, 0, 'm'},    {"help", no_argument, 0, 'h'},
      KG_MEASURE_OPTIONS,                   {0, 0, 0, 0}};
  kg_tune_opts o;
  kg_tune_opts_default(&o);
  const char *tuned_dir = "tuned", *csv = NULL, *json = NULL, *md = NULL, *profile_path = NULL;
  const char *sets[KG_BENCH_MAX_SETS];
  int nsets = 0;
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
    case 'h':
      fputs(strstr(kg_usage, "  bench SPEC"), stdout);
      return 0;
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
  kg_status st = kg_machine_detect(&mach, &ctx);
  if (st || !points || !pp || !names || !pt) {
    rc = kg_fail(&ctx, st ? st : KG_ENOMEM);
    goto done;
  }
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
    if ((st = kg_bench_load_tuned(tuned_dir, s->name, &mach, &tuned, &ctx))) {
      fprintf(stderr, "kgen: %s\n", kg_ctx_message(&ctx));
      rc = st == KG_ENOTFOUND ? EXIT_WORK : EXIT_USAGE;
      goto done;
    }
    char h[17];
    snprintf(h, sizeof h, "%016" PRIx64, s->hash);
    const char *th = json_string_value(json_object_get(tuned, "spec_hash"));
    if (th && strcmp(th, h))
      fprintf(stderr, "kgen: warning: %s was tuned with another version of %s (spec hash %s, now %s)\n", tuned_dir,
              s->path, th, h);
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
  r->profile = profile;
  kg_tune_print_summary(r, stdout);
  if (csv && (st = kg_tune_write_csv(r, csv, &ctx))) rc = kg_fail(&ctx, st);
  if (json && (st = kg_tune_write_json(r, json, &ctx))) rc = kg_fail(&ctx, st);
  if (md && (st = kg_tune_write_md(r, md, &ctx))) rc = kg_fail(&ctx, st);
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

/* ---- compare ------------------------------------------------------------------------------- */

static int cmd_compare(int argc, char **argv) {
  static const struct option longs[] = {{"threshold", required_argument, 0, 't'}, {"help", no_argument, 0, 'h'},
                                        {0, 0, 0, 0}};
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

/* ---- calibrate ----------------------------------------------------------------------------- */

/* $KGEN_ROOT/rel when KGEN_ROOT is set, else rel when it exists here, else the source tree's. */
static void kg_root_path(const char *rel, char *buf, size_t cap) {
  const char *root = getenv("KGEN_ROOT");
  if (root && *root) snprintf(buf, cap, "%s/%s", root, rel);
  else if (access(rel, R_OK) == 0) snprintf(buf, cap, "%s", rel);
  else snprintf(buf, cap, "%s/%s", KG_SOURCE_ROOT, rel);
}

static int cmd_calibrate(int argc, char **argv) {
  static const struct option longs[] = {{"output", required_argument, 0, 'o'}, {"quick", no_argument, 0, 'Q'},
                                        {"quiet", no_argument, 0, 'q'}, {"rounds", required_argument, 0, 'R'},
                                        {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
  const char *out = NULL;
  kg_calibrate_opts o = {0};
  o.progress = stderr;
  char spec[4096];
  kg_root_path("specs/stream.lua", spec, sizeof spec);
  o.stream_spec = spec;
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

/* ---- main ---------------------------------------------------------------------------------- */

int main(int argc, char **argv) {
  if (argc < 2) {
    fputs(kg_usage, stderr);
    return EXIT_USAGE;
  }
  const char *cmd = argv[1];
  if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
    fputs(kg_usage, stdout);
    return 0;
  }
  if (!strcmp(cmd, "__sgemm")) /* internal: kgen calibrate's OpenBLAS child (kg_calibrate.h) */
    return kg_calibrate_sgemm_main(argc - 1, argv + 1);
  if (!strcmp(cmd, "--version")) {
    printf("kgen %s\n", KG_VERSION);
    return 0;
  }
  static const struct {
    const char *name;
    int (*fn)(int, char **);
  } cmds[] = {{"list", cmd_list}, {"show", cmd_show}, {"emit", cmd_emit}, {"compile", cmd_compile}, {"tune", cmd_tune},
                {"calibrate", cmd_calibrate}, {"bench", cmd_bench}, {"compare", cmd_compare}};
  for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
    if (!strcmp(cmd, cmds[i].name)) {
      optind = 1;
      return cmds[i].fn(argc - 1, argv + 1);
    }
  return kg_usage_error("unknown command '%s'", cmd);
}
