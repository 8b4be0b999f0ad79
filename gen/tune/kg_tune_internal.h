/*
 * kg_tune_internal.h - what the pieces of the tuner share (gen/tune/ only): kg_tune.c (options,
 * variant selection, the search loop), kg_tune_guided.c (the guided strategies' loop), kg_tune_measure.c (one measurement, progress),
 * kg_tune_rank.c (ranking, the winner), kg_tune_final.c (the final rounds).
 */
#ifndef KG_TUNE_INTERNAL_H
#define KG_TUNE_INTERNAL_H

#include <stdbool.h>
#include <stdio.h>

#include "kg_compile.h"
#include "kg_db.h"
#include "kg_measure.h"
#include "kg_spec.h"
#include "kg_tune.h"
#include "kg_worker.h"

/** The progress line on stderr (a tty gets one line rewritten in place). */
typedef struct kg_progress {
  FILE *f;
  bool tty;
  long done, total, failed, censored; /* failed excludes censored (cut off as too slow: not a fault) */
  double start, last;
} kg_progress;

/** One variant of a batch: its compiled module or why it has none. */
typedef struct kg_variant {
  long point;
  long pos; /* position in the run's selection (kg_shard_of); -1 = none (a guided search) */
  kg_module *module;
  char *name;        /* "a=1,b=2" */
  kg_status compile; /* KG_OK or the compile failure */
  char reason[1024];
  double compile_ms;
  bool shared; /* module owned by the guided search's store of compiled variants, not the batch */
} kg_variant;

/* Measure (or load) one entry of one problem.  `worker` is the live worker or NULL; it is started
 * on demand with the batch's create/destroy and restarted after a crash. */
typedef struct kg_problem_run {
  const kg_spec *spec;
  const kg_tune_opts *opts;
  kg_db *db;
  const kg_db_key *key;
  kg_problem prob;
  const kg_spec_problem *sp;
  kg_worker *worker;
  kg_create_fn create;
  kg_prepare_fn prepare; /* optional */
  kg_destroy_fn destroy;
  bool create_failed;
  kg_measurement create_failure;
  double cutoff_ns;    /* this measurement's early cut-off (0 = none); see kg_tune_cutoff_ns */
  kg_phases_fn phases; /* this measurement's kg_phases (kg_abi.h), final rounds only; NULL: none */
  bool screen;         /* a search measurement: opts->screen_time applies (kg_tune_opts) */
} kg_problem_run;

/* The early cut-off for the next variant of a problem: opts->cutoff x the best p50 so far (0 = none). */
/* Whether a stored row stands with --resume: a success or a censored variant always; a failure (a
 * timeout on a loaded machine, a crash) only with --keep-failures, else it is measured again. */
bool kg_tune_row_stands(const kg_tune_opts *o, const kg_db_row *row);

double kg_tune_cutoff_ns(const kg_tune_opts *opts, const kg_problem_result *res);

/** Print the progress line: at most every 0.1 s on a tty, every 10 s otherwise, unless force. */
void kg_progress_line(kg_progress *pg, const char *problem, const char *best, bool force);

/** *r becomes a failed result of point with status st and reason. */
void kg_result_fail(kg_result *r, long point, kg_status st, const char *reason);

/** Index of pr's successful result with the smallest p50, or -1 when none succeeded. */
long kg_tune_fastest(const kg_problem_result *pr);

/** "12.3 us (a=1,b=2)": the fastest result so far of pr, for the progress line. */
void kg_tune_best_label(const kg_tune_report *r, const kg_problem_result *pr, char *buf, size_t cap);

/** Measure (or, with --resume, load) entry `variant` (point, or -1 for a baseline) of one
 *  problem into *res and store it in the database.  Errors: KG_EDB, worker failures. */
kg_status kg_problem_measure(kg_problem_run *pr, const char *variant, long point, kg_run_fn run, kg_verify_fn verify,
                             double compile_ms, kg_result *res, kg_ctx *ctx);

/** Store a variant that failed to compile as a result of problem.  Errors: KG_EDB. */
kg_status kg_tune_store_failure(kg_db *db, const kg_db_key *key, const char *problem, const kg_variant *v, kg_ctx *ctx);

/** Choose the winner of one problem and its statistical ties (kg_tune.h: ties are broken by
 *  lower p90, then by simpler parameters). */
void kg_tune_choose(const kg_spec *spec, kg_problem_result *pr);

/** The final rounds of problem p (spec problem sp_index); chooses its winner again. */
kg_status kg_tune_final_problem(kg_tune_report *r, kg_compiler *cc, kg_db *db, const kg_db_key *key,
                                const kg_tune_opts *opts, int p, int sp_index, kg_progress *pg, kg_ctx *ctx);

/** What one kg_tune call works with. */
typedef struct kg_tune_run {
  const kg_spec *spec;
  const kg_tune_opts *opts;
  kg_tune_report *r;
  kg_compiler *cc;
  kg_db *db; /* NULL: no database */
  kg_db_key key;
  int *probs; /* [r->nproblems] spec problem of each report problem */
  kg_progress pg;
  unsigned char *cached; /* NULL, or [r->nproblems][spec->npoints]: the point came from --cache */
  long nsel;             /* points selected (the shards split nsel x nproblems pairs) */
} kg_tune_run;

/** Compile batch[0..nb) (points pts[0..nb), at selection positions pos0.. or -1), opts->jobs at
 *  a time; a failing variant is data.  Errors: KG_ENOMEM, KG_EDB. */
kg_status kg_tune_compile_batch(kg_tune_run *t, const long *pts, long pos0, kg_variant *batch, int nb, kg_ctx *ctx);

/** Measure the compiled batch on report problem p in one worker.  Errors: KG_EDB, worker failures. */
kg_status kg_tune_measure_batch(kg_tune_run *t, int p, kg_variant *batch, int nb, kg_ctx *ctx);

/** Free the batch's names and the modules it owns (not the shared ones). */
void kg_batch_free(kg_variant *batch, int nb);

/** The guided strategies' loop (kg_tune_guided.c): opts->budget evaluations per problem. */
kg_status kg_tune_guided(kg_tune_run *t, kg_ctx *ctx);

#endif
