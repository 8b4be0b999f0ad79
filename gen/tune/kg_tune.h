/*
 * kg_tune.h - search a spec's space: compile each variant, verify and measure it on every
 * problem in an isolated worker, measure the baselines in the same run, store every
 * measurement in the tuning database as it is made, and pick a winner per problem.
 *
 * The search measures each variant once, at its own moment; on a shared machine the speed of
 * the machine drifts between those moments, so the search only nominates.  The final rounds
 * decide: the few fastest candidates of each problem and its baselines are measured again in
 * one worker, `rounds` times, interleaved (each round in a rotated order), and each keeps the
 * round with its median p50.  Candidates and baselines thus see the same machine, and the
 * speedup compares measurements taken side by side.
 *
 * A winner must beat the others beyond noise: the finalists whose median's confidence interval
 * overlaps the fastest one's are a statistical tie, broken by lower p90, then by the simpler
 * parameters (fewer values away from their defaults, then the earlier point).
 */
#ifndef KG_TUNE_H
#define KG_TUNE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "kg_compile.h"
#include "kg_machine.h"
#include "kg_measure.h"
#include "kg_spec.h"
#include "kg_status.h"

/**
 * exhaustive and random select their variants up front; the guided ones (gen/search/kg_search.h:
 * knn, bandit, ga, anneal, ils) choose each next variant of a problem from the measurements so far,
 * one search per problem, within --budget evaluations per problem (default: 10% of the space, at
 * least 32, at most all of it).
 */
typedef enum kg_strategy {
  KG_STRATEGY_EXHAUSTIVE,
  KG_STRATEGY_RANDOM,
  KG_STRATEGY_KNN,
  KG_STRATEGY_BANDIT,
  KG_STRATEGY_GA,
  KG_STRATEGY_ANNEAL,
  KG_STRATEGY_ILS
} kg_strategy;

/** Spaces of up to this many points are tuned exhaustively by default; larger ones with the
 *  replay benchmark's winner, knn (gen/search/kg_search.h KG_SEARCH_DEFAULT, bench/replay.sh). */
#define KG_TUNE_EXHAUSTIVE_MAX 256

/** `kgen tune`'s strategy when none is given: exhaustive up to KG_TUNE_EXHAUSTIVE_MAX points,
 *  else knn. */
kg_strategy kg_tune_default_strategy(const kg_spec *spec);

/** Parse a strategy name; KG_EINVAL (listing the names) otherwise. */
kg_status kg_strategy_parse(const char *name, kg_strategy *out, kg_ctx *ctx);
const char *kg_strategy_name(kg_strategy s);

#define KG_TUNE_MAX_PROBLEMS 256

/** A screening measurement (kg_tune_opts.screen_time) keeps at most this many samples (the
 *  protocol's minimum is 10): enough to rank, and a 60 ms call measures in 0.3 s, not 0.6 s. */
#define KG_SCREEN_SAMPLES 5

/** The winner is the fastest finalist by p50, or one of its statistical ties within this fraction
 *  of its p50 that has a lower p90 or simpler parameters (kg_tune_choose). */
#define KG_TIE_BREAK_BAND 0.03

/** Options of kg_tune; kg_tune_opts_default fills the documented defaults. */
typedef struct kg_tune_opts {
  kg_strategy strategy;    /**< default exhaustive */
  long budget;             /**< most variants to evaluate; 0 = all (default) */
  uint64_t seed;           /**< of the shuffled measuring order and the random strategy (default 1) */
  kg_compile_opts compile; /**< backend and flags */
  const char *db_path;     /**< tuning database; NULL = store nothing (kgen bench) */
  bool resume;             /**< skip (variant, problem) pairs already in the database; their
                                  failures are measured again unless keep_failures */
  bool keep_failures;      /**< with resume: a stored failure stands too */
  int nproblems;           /**< 0 = every problem of the spec */
  const char *problems[KG_TUNE_MAX_PROBLEMS];
  kg_measure_opts measure;
  int batch;                    /**< variants compiled before the workers run them (default 64) */
  int jobs;                     /**< compiles at once (threads; no measurement runs meanwhile);
                                  0 = the CPUs this process may run on (default) */
  int propose;                  /**< guided strategies: points asked at once (kg_search_ask_batch),
                                  compiled together and measured in one worker (default 8) */
  long npoints;                 /**< > 0: evaluate exactly these points (indices into spec->points,
                                  in this order) instead of the strategy's choice; kgen bench */
  const long *points;           /**< [npoints] when npoints > 0 */
  const long *problem_points;   /**< NULL, or [nproblems] parallel to `problems`: problem i measures
                                  only point problem_points[i] (kgen bench re-measuring each
                                  problem's own winner); -1 = every selected point */
  int finalists;                /**< candidates per problem re-measured in the final rounds
                                  (default 8): the fastest of the search by p50 */
  int rounds;                   /**< final rounds (default 3); 0 = none (the search's single
                                  measurement decides, and the baselines are not re-measured) */
  double screen_time;           /**< screening: > 0 with rounds > 0, the search measures each
                                  variant (and baseline) for at least this long, in seconds, instead
                                  of measure.min_time_s, and keeps at most KG_SCREEN_SAMPLES
                                  samples (cold: a wall-time bound of KG_COLD_WALL_FACTOR x this);
                                  the final rounds re-measure the finalists with
                                  measure.min_time_s and decide.  0 = off (the
                                  library's default; `kgen tune --screen-time`, default 0.05 s) */
  FILE *progress;               /**< progress lines (default stderr); NULL = silent */
  const char *cache_path;       /**< NULL, or a Kernel Tuner cache file (kgen tune --cache; read by
                                  gen/search/kg_replay.h's kg_cache_load) whose configurations are
                                  already-measured points of one problem (the file's `problem`, else
                                  the one problem tuned): they are not measured again, guided
                                  searches are told their times first, they cost no budget, and
                                  they compete for the final rounds, which measure the finalists */
  long nwarm;                   /**< warm start (tune --warm-start): points measured first, before the
                                  strategy's (within --budget; guided strategies: after the winners
                                  of the earlier problems, at most --propose of them in all, see
                                  kg_tune_guided.c's seeds); 0 = none */
  const long *warm;             /**< [nwarm] indices into spec->points, best known first */
  const char *const *warm_from; /**< [nwarm] the machine id each came from (the report names them) */
  double cutoff;                /**< early cut-off during the search (0 = none, the default here;
                                  `kgen tune --cutoff`, default 2): a variant whose first samples are
                                  all at least cutoff x slower than the best p50 of its problem so far
                                  is stopped and recorded KG_ECENSORED with a lower bound (never
                                  wins).  Baselines and the final rounds are never cut off. */
  int shards;                   /**< > 1: the (point, problem) pairs are split into this many shards
                                  (kg_shard.h: kg_shard_of) and only those of the shards in
                                  shard_on are measured or loaded; the others are skipped (not
                                  counted, not stored).  0 or 1 = no split (default).  Exhaustive
                                  and random only (KG_EINVAL for a guided strategy). */
  const bool *shard_on;         /**< [shards] when shards > 1: the shards this run covers (kgen tune
                                  --shard I/N: shard I; kgen merge --allow-partial: those that
                                  finished) */
} kg_tune_opts;

void kg_tune_opts_default(kg_tune_opts *o);

/** One measurement of a variant (or baseline) on a problem. */
typedef struct kg_result {
  long point; /**< index into spec->points; -1 for a baseline */
  kg_measurement m;
  double compile_ms;
  bool resumed;        /**< loaded from the database instead of measured now */
  int rounds;          /**< > 0: m is the median of this many final rounds (see kg_tune) */
  double round_spread; /**< (max - min) / median of the final rounds' p50s; 0 when rounds < 2 */
} kg_result;

/** Everything measured for one problem, and the choice made. */
typedef struct kg_problem_result {
  int problem; /**< index into spec->problems */
  long nresults;
  kg_result *results;   /**< [nresults], one per evaluated variant, in evaluation order */
  kg_result *baselines; /**< [spec->nbaselines] */
  long winner;          /**< index into results, or -1 when no variant passed */
  long nties;
  long *ties;             /**< indices into results tied with the winner (winner excluded) */
  long evaluated, failed; /**< measured in this run (cached results excluded); failed includes censored */
  long cached;            /**< results read from opts.cache_path (resumed, not measured); the first ones */
  bool noisy;             /**< the winner's measurement was flagged noisy, or its final rounds
                              spread wider than the measure options' noisy_rel_ci */
  bool baselines_done;    /**< the baselines were measured (or loaded) in this run */
  bool finals;            /**< the final rounds ran: only results with rounds > 0 compete */
  /* The roofline reference of the problem's bound (kg_spec_problem.bound, runtime/kg_roofline.h),
   * measured in the final rounds beside the finalists and baselines.  reference.m.status says
   * whether it was measured (KG_EUNSUPPORTED with a reason when this CPU cannot run it). */
  bool has_reference;    /**< the spec declares a bound and the final rounds measured its reference */
  kg_result reference;   /**< its fastest round (a ceiling: interference only slows it) */
  double reference_work; /**< bytes (memory) or operations one call of the reference does */
} kg_problem_result;

/** The outcome of a tuning run.  Borrows the spec. */
typedef struct kg_tune_report {
  const kg_spec *spec;
  kg_machine machine;
  char compiler[512];
  char backend[8];
  char mode[8];    /**< "warm" or "cold" */
  char command[8]; /**< "tune" (default) or "bench": names the report's origin */
  char source[16]; /**< "" (this machine's own results), "nearest" (bench: another machine's winners),
                        "site" (a site file): where the measured variants came from */
  char from[80];   /**< with source "nearest": the machine id whose winners were measured */
  int nevents;     /**< counter events requested (opts.measure.events), in order */
  char events[KG_MAX_EVENTS][128];
  const struct kg_profile *profile; /**< borrowed machine profile for efficiency; NULL = none
                                         (the outputs say "no machine profile") */
  uint64_t template_hash;
  kg_strategy strategy;
  long budget;
  long nvariants; /**< variants evaluated (each on every selected problem) */
  int nproblems;
  kg_problem_result *problems;
  double elapsed_s;
  long nwarm;            /**< the warm start's points (copied from the options), measured first */
  long *warm;            /**< [nwarm] */
  char (*warm_from)[80]; /**< [nwarm] machine ids */
} kg_tune_report;

/**
 * Tune spec under opts.  On success *out is a new report (free with kg_tune_report_free), even
 * when every variant failed (each problem's winner is then -1; kg_tune_report_any_winner says).
 * Errors: KG_EINVAL (unknown problem name), KG_EDB, KG_EIO, KG_EUNSUPPORTED (backend),
 * KG_EINTERNAL.  Failing variants are data, not errors.
 */
kg_status kg_tune(const kg_spec *spec, const kg_tune_opts *opts, kg_tune_report **out, kg_ctx *ctx);

/** The OK results of pr in rank order (finalists first, each group by p50) into order
 *  [pr->nresults]; returns how many. */
long kg_tune_rank(const kg_problem_result *pr, long *order);

/** Whether at least one problem has a winner. */
bool kg_tune_report_any_winner(const kg_tune_report *r);

void kg_tune_report_free(kg_tune_report *r);

#endif
