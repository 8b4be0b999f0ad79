/*
 * kg_cli.h - the kgen command line (gen/cli/): one entry function per command, each in its own
 * kg_cli_<name>.c, and what they share (kg_cli_common.c).  Only gen/cli/ turns a kg_status into
 * an exit code: 0 success, EXIT_WORK (1) the work failed, EXIT_USAGE (2) usage or input error.
 * Adding a command: a new kg_cli_<name>.c with `int kg_cli_<name>(int argc, char **argv)`
 * (argv[0] is the command name), its prototype here, and one line in main.c's command table
 * (plus its usage text).
 */
#ifndef KG_CLI_H
#define KG_CLI_H

#include <getopt.h>
#include <stddef.h>

#include "kg_machine.h"
#include "kg_measure.h"
#include "kg_profile.h"
#include "kg_spec.h"
#include "kg_status.h"
#include "kg_tune.h"

enum { EXIT_WORK = 1, EXIT_USAGE = 2 };

/** The usage text of `kgen --help` (main.c). */
extern const char kg_usage[];

/* ---- the commands: each returns the process exit code ---- */
int kg_cli_list(int argc, char **argv);
int kg_cli_show(int argc, char **argv);
int kg_cli_emit(int argc, char **argv);
int kg_cli_compile(int argc, char **argv);
int kg_cli_tune(int argc, char **argv);
int kg_cli_bench(int argc, char **argv);
int kg_cli_compare(int argc, char **argv);
int kg_cli_calibrate(int argc, char **argv);
int kg_cli_verify(int argc, char **argv);
int kg_cli_plot(int argc, char **argv);
int kg_cli_merge(int argc, char **argv);
int kg_cli_fleet(int argc, char **argv);

/** `kgen tune SPEC --shard I/N` (kg_cli_shard.c): shard index of count of spec s (loaded from
 *  spec_path) under o; db NULL = OUT/<kernel>/shards/<machine-id>-<I>-of-<N>.db; csv must be NULL
 *  (a shard writes no CSV); profile_path as kg_load_profile.  The exit code. */
int kg_cli_tune_shard(const kg_spec *s, const char *spec_path, kg_tune_opts *o, const char *out, const char *db,
                      const char *csv, const char *profile_path, int index, int count);

/* ---- shared ---- */

/** Print "kgen: <message of ctx>" to stderr; returns EXIT_USAGE for input errors (KG_EINVAL,
 *  KG_ESPEC, KG_ETEMPLATE, KG_ENOTFOUND), else EXIT_WORK. */
int kg_fail(const kg_ctx *ctx, kg_status st);

/** Print "kgen: " fmt (with one %s: arg) and the usage to stderr; returns EXIT_USAGE. */
int kg_usage_error(const char *fmt, const char *arg);

/** getopt_long with kgen's error reporting: returns -2 (after reporting) on an unknown option
 *  or a missing value. */
int kg_getopt(int argc, char **argv, const char *shorts, const struct option *longs);

/** Load the spec at path into *spec; 0 or the exit code (after reporting). */
int kg_load(const char *path, kg_spec **spec);

/** Whether s ends with suffix. */
int kg_ends_with(const char *s, const char *suffix);

/** qsort comparator of char * strings. */
int kg_name_cmp(const void *a, const void *b);

/** Parse option opt's value arg as a number / an integer into *out; 0 or EXIT_USAGE (reported). */
int kg_parse_double(const char *opt, const char *arg, double *out);
int kg_parse_long(const char *opt, const char *arg, long *out);

/** --events LIST into o->events; 0 or EXIT_USAGE. */
int kg_parse_events(const char *arg, kg_measure_opts *o);

/** Load the profile at path (NULL: the default for machine_id, which may be absent) into
 *  *storage and point *out at it (NULL when there is none); 0 or an exit code. */
int kg_load_profile(const char *path, const char *machine_id, kg_profile *storage, const kg_profile **out);

/** The options tune and bench share, as getopt_long entries (their values are < 0 so they never
 *  clash with a command's own). */
enum {
  OPT_PROBLEM = -100,
  OPT_MIN_TIME,
  OPT_TIMEOUT,
  OPT_COLD,
  OPT_CPU,
  OPT_QUIET,
  OPT_EVENTS,
  OPT_PROFILE,
  OPT_BACKEND,
  OPT_FINALISTS,
  OPT_ROUNDS,
  OPT_MEM_LIMIT,
  OPT_JOBS
};
#define KG_MEASURE_OPTIONS                                                                                             \
  {"problem", required_argument, 0, OPT_PROBLEM}, {"min-time", required_argument, 0, OPT_MIN_TIME},                    \
      {"timeout", required_argument, 0, OPT_TIMEOUT}, {"cold", no_argument, 0, OPT_COLD},                              \
      {"cpu", required_argument, 0, OPT_CPU}, {"quiet", no_argument, 0, OPT_QUIET},                                    \
      {"events", required_argument, 0, OPT_EVENTS}, {"profile", required_argument, 0, OPT_PROFILE},                    \
      {"backend", required_argument, 0, OPT_BACKEND}, {"finalists", required_argument, 0, OPT_FINALISTS},              \
      {"rounds", required_argument, 0, OPT_ROUNDS}, {"mem-limit", required_argument, 0, OPT_MEM_LIMIT}, {              \
    "jobs", required_argument, 0, OPT_JOBS                                                                             \
  }

/** Apply one shared option c (value optarg) to o (and *profile).  Returns 0 when applied,
 *  EXIT_USAGE on a bad value, -1 when c is not a shared option. */
int kg_measure_option(int c, kg_tune_opts *o, const char **profile);

/** The machine whose tuned results bench and verify look up: this one (kg_machine_detect), or
 *  the one $KGEN_MACHINE_OVERRIDE describes (a JSON file, as for specs; the variants are still
 *  measured here).  0 or an exit code (after reporting). */
int kg_cli_machine(kg_machine *m);

/** This machine's tuned results for spec s from dir/<kernel>/<m->id>.json into *out; when there
 *  are none and !strict, the nearest compatible machine's (kg_bench_load_nearest, the library's
 *  rule), said on stderr, with its id in from[cap] (else from[0] = 0).  0 or an exit code after
 *  reporting: EXIT_WORK when nothing usable exists (always so under strict), EXIT_USAGE for an
 *  unreadable file.  Also warns when the results were tuned with another version of the spec. */
int kg_cli_load_winners(const char *dir, const kg_spec *s, const kg_machine *m, bool strict, json_t **out, char *from,
                        size_t cap);

/** $KGEN_ROOT/rel when KGEN_ROOT is set, else rel when it exists here, else the source tree's. */
void kg_root_path(const char *rel, char *buf, size_t cap);

/** Resolve spec and template output with --set into a variant (kgen emit and compile). */
int kg_emit_variant(const char *path, const char *set, kg_spec **spec, int32_t **point, char **src, size_t *len);

#endif
