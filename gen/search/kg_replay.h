/*
 * kg_replay.h - replaying search strategies on fully measured spaces (Kernel Tuner cache files).
 *
 * A cache file (.json, or .json.gz: read through zlib, which also reads plain files) holds
 * `tune_params_keys` (parameter order), `tune_params` (each parameter's values, in the order that
 * "adjacent" refers to) and `cache`: one entry per measured configuration with the parameter
 * values, `time` (the objective, milliseconds, lower is better; a string such as
 * "RuntimeFailedConfig" when the configuration failed) and optionally `times` (the samples).
 * The replay space is the set of stored configurations: a failed one is in the space (a visit
 * costs one evaluation and returns failure), a missing one is not (a strategy never sees it).
 *
 * Quality is measured as in Willemsen et al., "A methodology for comparing optimization
 * algorithms for auto-tuning" (FGCS 2024): over R seeded runs, the fraction whose final choice (the
 * best point the strategy observed) lies within 3% of the optimum for each budget, with a 95%
 * Wilson interval, and the evaluations needed to get there; random search's figures are exact
 * (hypergeometric), not sampled.
 */
#ifndef KG_REPLAY_H
#define KG_REPLAY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "kg_search.h"
#include "kg_status.h"

/** A loaded replay space. */
typedef struct kg_replay {
  char *name; /**< the file's base name without .json / .json.gz */
  int ndims;
  char **param_names;  /**< [ndims] */
  kg_search_space *sp; /**< the stored configurations */
  double *time;        /**< [sp->npoints] stored time (ms); INFINITY for a failed configuration */
  double **samples;    /**< [sp->npoints] the stored `times` (NULL when absent) */
  int *nsamples;       /**< [sp->npoints] */
  size_t nfailed;
  double optimum; /**< the smallest stored time (ms) */
  size_t ngood;   /**< configurations within 3% of the optimum */
} kg_replay;

/**
 * Load a Kernel Tuner cache file.  Errors: KG_EIO (unreadable, not gzip/JSON: the message names
 * the file and the JSON line), KG_EINVAL (missing fields, a configuration whose value is not among
 * its parameter's values, no successful configuration: the message names the file and the
 * entry's key), KG_ENOMEM.  *out is owned by the caller (kg_replay_free).
 */
kg_status kg_replay_load(const char *path, kg_replay **out, kg_ctx *ctx);

/** Free; NULL is a no-op. */
void kg_replay_free(kg_replay *r);

/**
 * Noise applied to each first visit's time.  The quality is judged on the stored times; under
 * noise the final choice is made as kgen tune makes it: the 8 best observations are drawn 3 more
 * times each and the smallest median wins (without noise: the best observation).
 */
typedef enum kg_replay_noise {
  KG_NOISE_NONE,
  KG_NOISE_RESAMPLE, /**< one of the stored samples, uniformly */
  KG_NOISE_LOGNORMAL /**< time * exp(F * z), z standard normal (F = 0.05: about 5% spread) */
} kg_replay_noise;

typedef struct kg_replay_opts {
  const char *strategy; /**< a kg_search strategy name */
  int runs;             /**< >= 1 */
  uint64_t seed;        /**< run i uses a seed derived from (seed, i) */
  kg_replay_noise noise;
  double noise_spread; /**< F for KG_NOISE_LOGNORMAL */
  int batch;           /**< points asked at once (kg_search_ask_batch) and told in order; 0 or 1: one */
} kg_replay_opts;

/** The figures of one budget. */
typedef struct kg_replay_budget {
  size_t budget;               /**< evaluations */
  double pct;                  /**< percent of the space, NAN for an absolute budget */
  double p;                    /**< fraction of runs whose final choice is within 3% */
  double lo, hi;               /**< its 95% Wilson interval */
  long p50, p90;               /**< evaluations to within 3% (median, 90th percentile, nearest rank); -1 when
                             more than that share of runs did not get there within the budget */
  double random_p;             /**< random search's exact fraction */
  long random_p50, random_p90; /**< random search's exact quantiles of evaluations (-1 as above) */
} kg_replay_budget;

/**
 * Run opts->runs seeded searches of the replay space, each up to the largest budget (a strategy
 * is an anytime algorithm: the final choice at budget b is its best observation after b
 * evaluations), and fill out[i] for each budgets[i] (out[i].budget and .pct must be set by the
 * caller; a budget larger than the space is the space).  Errors: KG_EINVAL (unknown strategy),
 * KG_ENOMEM.
 */
kg_status kg_replay_run(const kg_replay *r, const kg_replay_opts *opts, kg_replay_budget *out, int nbudgets,
                        kg_ctx *ctx);

/** 1 - C(n - good, b) / C(n, b): the probability that b distinct uniform draws from n hit one of good. */
double kg_replay_random_p(size_t n, size_t good, size_t b);

/** The 95% Wilson score interval of k successes out of n trials (Wilson, JASA 1927). */
void kg_replay_wilson(long k, long n, double *lo, double *hi);

/** The JSON report (keys space, size, optimum, strategy, runs, budgets[]); new reference. */
json_t *kg_replay_json(const kg_replay *r, const kg_replay_opts *opts, const kg_replay_budget *b, int nbudgets);

struct kg_spec;

/**
 * The measurements of one problem of spec from the tuning database at db_path (kg_db.h's schema,
 * opened read-only) as a Kernel Tuner cache document: tune_params_keys and tune_params from the
 * spec (values in the spec's order), one cache entry per measured variant of the spec's current
 * hash (baseline and final-round rows are left out) with `time` = the median in milliseconds,
 * `compile_time` (ms), `samples`, `p90`, or, for a failed variant, "CompilationFailedConfig" /
 * "RuntimeFailedConfig" and `kgen_reason` (a censored one, stopped by the early cut-off, is a
 * RuntimeFailedConfig with `kgen_lower_bound`, ms).  When rows of several (template hash, machine, backend,
 * mode) groups exist, the group with the most rows is exported (named in device_name and
 * `kgen_key`).  Errors: KG_EDB (unreadable database), KG_ENOTFOUND (unknown problem, no rows for
 * it under the spec's hash), KG_ENOMEM.  *out is a new reference.
 */
kg_status kg_replay_export(const struct kg_spec *spec, const char *db_path, const char *problem, json_t **out,
                           kg_ctx *ctx);

/** The bytes of a file, gunzipped when it is gzip (zlib reads plain files as they are); *out is
 *  malloc'd (not NUL-terminated), owned by the caller.  Errors: KG_EIO, KG_ENOMEM. */
kg_status kg_replay_read_file(const char *path, char **out, size_t *len, kg_ctx *ctx);

/** One configuration of a cache file that is a point of the spec. */
typedef struct kg_cache_entry {
  long point;       /**< index into spec->points */
  kg_status status; /**< KG_OK; KG_ECOMPILE (CompilationFailedConfig); KG_ECENSORED (a failure with
                           kgen_lower_bound); KG_ECRASH (any other failure) */
  double time_ms;   /**< `time` (ms); the lower bound for KG_ECENSORED; NAN for other failures */
  double p90_ms;    /**< `p90` (ms) when stored, else time_ms */
} kg_cache_entry;

/** A cache file read against a spec (kg_cache_load). */
typedef struct kg_cache {
  char *problem;     /**< the file's `problem` (kgen export-cache writes it), or NULL */
  char *device;      /**< the file's `device_name`, or NULL */
  size_t n;          /**< entries that are points of the spec */
  kg_cache_entry *e; /**< [n], by point, distinct (a point stored twice, its values written
                             differently, is kept once) */
  size_t outside;    /**< configurations skipped: a value not in the spec's lists, or a point
                             that violates its constraints */
} kg_cache;

/**
 * Read a Kernel Tuner cache file (.json or .json.gz) as measured points of spec: each entry's
 * parameters (by the spec's parameter names; values compare as in kg_replay_load) name a point,
 * its `time` the measurement (milliseconds).  Errors: KG_EIO (unreadable, not JSON), KG_EINVAL
 * (no `cache` object, an entry that lacks one of the spec's parameters, or a `time` that is
 * neither a number nor a string: the message names the file and the entry's key), KG_ENOMEM.
 * *out is owned by the caller (kg_cache_free).
 */
kg_status kg_cache_load(const struct kg_spec *spec, const char *path, kg_cache **out, kg_ctx *ctx);

/** Free; NULL is a no-op. */
void kg_cache_free(kg_cache *c);

/** `kgen export-cache SPEC --problem P [--db FILE] -o FILE.json[.gz]` */
int kg_cli_export_cache(int argc, char **argv);

/** `kgen replay FILE [--strategy S] [--budget N] [--runs R] [--seed S] [--json OUT] [--noise resample|F]` */
int kg_cli_replay(int argc, char **argv);

#endif
