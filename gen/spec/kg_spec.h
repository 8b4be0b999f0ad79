/*
 * kg_spec.h - load a kernel spec (Lua) into plain C structs.
 *
 * A spec is a Lua 5.4 file run in a sandbox (base, string, table and math libraries only;
 * io, os, require, dofile, loadfile, load and debug raise a clear error), under an
 * instruction and memory limit.  It returns one kernel description:
 *
 *   return kernel "stream" {
 *     description = "STREAM copy/scale/add/triad on float32 arrays",
 *     template = "stream.c",                -- looked up beside the spec, then in ../templates/
 *     params = {                            -- declaration order is kept (the constructors record lines)
 *       unroll  = pow2(1, 16),              -- 1, 2, 4, 8, 16
 *       vec     = values {1, 8, 16},        -- explicit list (integers)
 *       threads = range(1, 2),              -- range(lo, hi[, step]) inclusive
 *       copy    = enum {"memcpy", "loop"},  -- strings
 *     },
 *     constraints = {                       -- each returns true for a valid point
 *       function(p) return p.unroll >= p.vec end,
 *     },
 *     problems = {
 *       problem "l1" { n = 2048 },          -- named sets of integer dimensions
 *       problem "dram" { n = 1 << 26 },
 *     },
 *     metrics = {                           -- functions of the dimensions, per run of the kernel
 *       bytes = function(d) return 12 * d.n end,
 *       flops = function(d) return 2 * d.n end,
 *     },
 *     tolerance = { rtol = 1e-6, atol = 0 },  -- default exact (0, 0)
 *     reference = "scalar loop in templates/stream.c",
 *     baselines = { "memcpy" },               -- template exports kg_baseline_<name>
 *     baseline_threads = { memcpy = 1 },      -- optional: threads each baseline runs (reports
 *                                             -- compare the winner with the same thread count)
 *     seed = 42,                              -- optional, default 42
 *     bound = function(d) return d.n > 4096 and "memory" or "fp32_fma" end,
 *                                             -- optional: the roofline reference of each problem's
 *                                             -- efficiency (runtime/kg_roofline.h): "memory" (a
 *                                             -- read pass over its bytes), "fp32_fma", "int8_dot",
 *                                             -- "bf16_dot" (peaks); a string or a function of the
 *                                             -- dimensions (nil: none for that problem)
 *     cold = function(d) return d.m == 1 end, -- optional: true (or a function of the dimensions)
 *                                             -- measures those problems cold: caches flushed before
 *                                             -- every call (streamed weights); reports say "mode"
 *     roles = { threads = "threads" },        -- optional: what parameters/dimensions mean to
 *                                             -- kgen (role -> name); `threads` must name an
 *                                             -- integer parameter (reports, calibrate use it)
 *     fusion = {                              -- optional: the spec is a fusion pattern (issue 15)
 *       pattern = function(d) return "linear_relu" end,  -- or a string: each problem's pattern
 *       unfused = "unfused",                  -- the baseline running the unfused sequence
 *       bytes_unfused = function(d) return 4 * (d.m * d.k + 3 * d.m * d.n) end,  -- bytes it moves
 *       quick = { "p1", "p2" },               -- optional: problems of `kgen calibrate --fusion`
 *     },                                      -- (default: the first problem of each pattern)
 *   }
 *
 * Before the spec runs, the prelude sets up the sandbox: the constructors above, a read-only
 * global `machine` = { id, cores (usable CPUs), isa = { avx2 = true, avx512f = true, ... }
 * (absent flags nil), l1d, l2, l3 (bytes, 0 when unknown) } describing the machine (or the one
 * in kg_spec_load_opts / $KGEN_MACHINE_OVERRIDE), and every specs/lib/\*.lua in name order
 * (lib/ beside the spec, else $KGEN_ROOT/specs/lib, else the source tree's): shapes.custom,
 * shapes.llama, shapes.pow2, ... (lib/shapes.lua) and thread_counts() = {1, 2, 4, ..., cores}
 * (lib/machine.lua).  Assigning to `machine` or its fields raises an error.
 *
 * The loader checks every field (unknown or misspelled names, types, empty lists, a constraint
 * that rejects the whole space, a missing template), enumerates the valid points, evaluates the
 * metrics for every problem, and closes the Lua state: no lua_State leaves this module.  Errors
 * carry "file:line: message".
 *
 * The valid points are enumerated by backtracking over the parameters in declaration order: a
 * constraint is called as soon as the first parameters are bound, and when it reads one not bound
 * yet (p.<name> raises, and the call unwinds), it is called again once that parameter is bound;
 * a constraint that returns false prunes every completion of the bound prefix.  So constraints
 * must be functions of p alone (no state kept between calls) and read parameters as p.<name>.
 * A product of 10^8 points with 10^5 valid ones builds in about a second when its constraints
 * read the first parameters (see `kgen show`: the time and the constraint calls).  Limits: the
 * product below 2^62, at most KG_SPEC_MAX_POINTS valid points, and the enumeration within the
 * Lua time limit (KG_LUA_TIME_LIMIT_S, $KGEN_LUA_TIME_LIMIT).
 *
 * A space too large to enumerate is sampled: when the product exceeds KG_SPEC_SAMPLE_ABOVE, the
 * valid points are first estimated (KG_SPEC_PROBES of Knuth's random probes, Math. Comp. 1975); an
 * estimate above KG_SPEC_SAMPLE_ABOVE, or the spec's `sample = N`, makes `points` a sample of
 * KG_SPEC_SAMPLE_DEFAULT (or N) distinct valid points drawn by the same backtracking with the
 * values of each parameter tried in a random order (a dead subtree is backed out of): uniform over
 * branches, not over points (a point on a sparse branch is likelier).  The seed is fixed, so the
 * same spec gives the same sample; it is sorted like an enumerated space (`sampled` says which).
 */
#ifndef KG_SPEC_H
#define KG_SPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kg_machine.h"
#include "kg_roofline.h"
#include "kg_status.h"

/** The most valid points a spec's space may have (a larger one is refused: too large to enumerate). */
#define KG_SPEC_MAX_POINTS 4000000

/** A product above this many points is estimated first (Knuth's random probes); an estimate above
 * it too makes the space a sample (the spec's `sample`, else KG_SPEC_SAMPLE_DEFAULT points). */
#define KG_SPEC_SAMPLE_ABOVE 1000000
/** Valid points sampled from a space estimated too large to enumerate, unless the spec says `sample`. */
#define KG_SPEC_SAMPLE_DEFAULT 10000
/** Knuth probes of the estimate. */
#define KG_SPEC_PROBES 256
/** Seed of the estimate and the sample (fixed: the same spec gives the same sample). */
#define KG_SPEC_SAMPLE_SEED 20261130

typedef enum kg_param_kind { KG_PARAM_INT, KG_PARAM_STR } kg_param_kind;

/** One tunable parameter: its name, kind and ordered list of values (the first is the default). */
typedef struct kg_param {
  char *name;  /**< as in the spec ("grain") */
  char *macro; /**< C macro the template reads ("GRAIN": the name upper-cased) */
  kg_param_kind kind;
  int nvalues;      /**< >= 1 */
  int64_t *ivalues; /**< [nvalues] when kind == KG_PARAM_INT, else NULL */
  char **svalues;   /**< [nvalues] when kind == KG_PARAM_STR, else NULL */
  int line;         /**< line of its declaration in the spec */
} kg_param;

/** One named problem: dimensions sorted by name, and the metrics evaluated for it. */
typedef struct kg_spec_problem {
  char *name;
  int ndims;
  char **dim_names; /**< [ndims], sorted by strcmp */
  int64_t *dims;    /**< [ndims] */
  double flops;     /**< floating-point operations per kg_run, or -1 when the spec has no flops metric */
  double bytes;     /**< bytes moved per kg_run, or -1 when the spec has no bytes metric */
  char *pattern;        /**< fusion pattern ("linear_relu"), NULL when the spec has no `fusion` */
  double bytes_unfused; /**< bytes the unfused sequence moves per run (fusion.bytes_unfused), or -1 */
  bool fusion_quick;    /**< in the quick subset of `kgen calibrate --fusion` */
  int bound;            /**< kg_roofline_bound the spec declares (`bound`), KG_BOUND_NONE when none */
  bool cold;            /**< the spec declares it cold (`cold`): measured with the caches flushed */
} kg_spec_problem;

/**
 * A loaded spec.  A point of the space is an array of nparams value indices (int32_t);
 * `points` lists every point that satisfies the constraints, in lexicographic order of
 * the parameters in declaration order (first parameter slowest).
 */
typedef struct kg_spec {
  char *path;          /**< as given to kg_spec_load */
  char *name;          /**< kernel name ("stream") */
  char *description;   /**< may be "" */
  char *template_path; /**< resolved path of the template file */
  char *reference;     /**< description of the reference, may be "" */
  bool verify_off;     /**< the spec declared verify = false: nothing is checked, reports say so */
  char *verify_reason; /**< why (required with verify = false), else "" */
  int nparams;
  kg_param *params;
  size_t nraw;                          /**< size of the cartesian product (< 2^62) */
  size_t npoints;                       /**< points satisfying all constraints (>= 1, <= KG_SPEC_MAX_POINTS);
                                             of a sampled space: the distinct points sampled */
  double space_seconds;                 /**< wall time the enumeration (or estimate and sample) took */
  bool sampled;                         /**< the space is a sample of its valid points (too large to enumerate) */
  long sample_target;                   /**< the spec's `sample = N` (0: none; KG_SPEC_SAMPLE_DEFAULT when decided) */
  double estimate;                      /**< valid points estimated by Knuth's probes when the product exceeds
                              KG_SPEC_SAMPLE_ABOVE, else nraw (an upper bound: nothing estimated) */
  unsigned long long nconstraint_calls; /**< constraint calls the enumeration made */
  int32_t *points;                      /**< [npoints][nparams] value indices */
  int nconstraints;
  int nproblems;
  kg_spec_problem *problems;
  int nbaselines;
  char **baselines;      /**< names; the template exports kg_baseline_<name> */
  int *baseline_threads; /**< [nbaselines] threads each runs (baseline_threads); 0 = not given */
  double rtol, atol;
  uint64_t seed;
  uint64_t hash; /**< xxh64 of the spec file's bytes */
  int nroles;
  char **roles;      /**< [nroles] role names ("threads"), from the spec's `roles` field */
  char **role_names; /**< [nroles] the parameter or dimension each role names ("threads") */
  bool fusion;          /**< the spec has a `fusion` field (every problem has a pattern) */
  char *fusion_unfused; /**< the baseline that runs the unfused sequence (fusion.unfused), or NULL */
} kg_spec;

/** Options of kg_spec_load_ex. */
typedef struct kg_spec_load_opts {
  /** The machine the spec's `machine` table describes; NULL: $KGEN_MACHINE_OVERRIDE (a JSON
   *  file, see kg_machine_load) when set, else this machine (detected once per process). */
  const kg_machine *machine;
} kg_spec_load_opts;

/**
 * Load and validate the spec at `path`.  On success *out owns a new spec (free with
 * kg_spec_free).  Errors: KG_EIO (unreadable file), KG_ESPEC (syntax, fields, types, sandbox
 * violation, limits, empty space), KG_ETEMPLATE (template file not found); ctx gets
 * "path:line: message".
 */
kg_status kg_spec_load(const char *path, kg_spec **out, kg_ctx *ctx);

/** kg_spec_load with options (NULL: the defaults).  Errors as kg_spec_load, plus those of
 *  kg_machine_load for a bad $KGEN_MACHINE_OVERRIDE. */
kg_status kg_spec_load_ex(const char *path, const kg_spec_load_opts *opts, kg_spec **out, kg_ctx *ctx);

/** kg_spec_load as the machine a report describes sees the spec: its `machine` table is this
 *  machine's, overlaid with `machine` (a report's "machine" object, see kg_machine_from_json;
 *  NULL: this machine).  A spec may depend on the machine (ISA-specific tiles, thread_counts()),
 *  so a tuned result's points are read in this space.  Errors as kg_spec_load, plus those of
 *  kg_machine_detect and kg_machine_from_json. */
kg_status kg_spec_load_as(const char *path, const json_t *machine, kg_spec **out, kg_ctx *ctx);

/** The machine a load with `opts` shows the spec (see kg_spec_load_opts).  Errors: those of
 *  kg_machine_load. */
kg_status kg_spec_machine(const kg_spec_load_opts *opts, kg_machine *m, kg_ctx *ctx);

/** The parameter or dimension name the spec gives role `role` (its `roles` field), or NULL. */
const char *kg_spec_role(const kg_spec *spec, const char *role);

/** Index of the parameter that plays `role`, or -1 (no such role, or it names a dimension). */
int kg_spec_role_param(const kg_spec *spec, const char *role);

/** Free a spec; NULL is a no-op. */
void kg_spec_free(kg_spec *spec);

/**
 * Whether file (which must exist) lies where a spec's template and the files it includes may come
 * from: the spec's folder, <spec folder>/../templates, or kgen's templates ($KGEN_ROOT/templates,
 * else the source tree's).  Symbolic links and ".." are resolved first.
 */
bool kg_spec_template_allowed(const char *spec_path, const char *file);

/** Index of parameter `name`, or -1. */
int kg_spec_param_index(const kg_spec *spec, const char *name);

/** Index of problem `name`, or -1. */
int kg_spec_problem_index(const kg_spec *spec, const char *name);

/** Index of point in spec->points, or -1 when the point violates a constraint. */
long kg_spec_point_index(const kg_spec *spec, const int32_t *point);

/**
 * Parse "a=1,b=2" into point[nparams] (value indices); parameters not named take their default
 * (index 0).  `set` may be NULL or "".  Errors (KG_EINVAL, message in ctx): unknown parameter
 * (the message lists the parameters), a value outside the space (the message lists the allowed
 * values), a point that violates the constraints.
 */
kg_status kg_spec_parse_set(const kg_spec *spec, const char *set, int32_t *point, kg_ctx *ctx);

/**
 * Write "a=1,b=2" for point into buf (always NUL-terminated); returns the length it needed,
 * like snprintf.
 */
int kg_spec_format_point(const kg_spec *spec, const int32_t *point, char *buf, size_t cap);

#endif
