/*
 * kg_worker.h - a persistent, isolated measurement worker for one problem.
 *
 * Creating a problem can cost far more than measuring one variant on it (the paired cache
 * allocates and seeds 64-96 MB of pools), so a worker forks once per problem, creates the state
 * once and then verifies and measures a sequence of variants on it, each request answered over
 * a pipe.  The variants' code must be in the parent's address space before the fork (the child
 * calls the same addresses).  A variant that crashes or hangs takes the worker down with it: the
 * request returns that outcome and the caller starts a new worker for the next variant.
 *
 * The state is created with one variant's kg_create and run by others: a template's kg_create
 * and kg_destroy must not depend on its tunable parameters (kg_abi.h).
 *
 * Isolation: the worker keeps the state pristine.  Each variant is verified and measured in a
 * child forked for it (a copy-on-write image of the state, in its own process group), so what a
 * variant changes in the state never reaches the next variant or a baseline; the child then
 * frees its copy and a death at that point (heap corruption) fails the variant.  A variant that
 * times out or crashes no longer takes the worker down.
 */
#ifndef KG_WORKER_H
#define KG_WORKER_H

#include <stdbool.h>

#include "kg_measure.h"

/** Seconds a variant's child may take to free its state and exit after reporting. */
#define KG_WORKER_REAP_S 10.0

typedef struct kg_worker kg_worker;

/**
 * Fork a worker, pin it (opts->cpu), limit its memory (opts->mem_limit_bytes), create problem p
 * in it with `create` and, when not NULL, run `prepare` on the new state (the template's
 * optional kg_prepare: work every variant's verification needs, such as the reference output,
 * done once on the pristine state).  On success *out is a live worker.  When kg_create fails or crashes, returns KG_OK with *out NULL and
 * *create_failure filled (status and reason).  Errors: KG_EINTERNAL (fork or pipe failed).
 */
kg_status kg_worker_start(const kg_problem *p, kg_create_fn create, kg_prepare_fn prepare, kg_destroy_fn destroy,
                          const kg_measure_opts *opts, kg_worker **out, kg_measurement *create_failure, kg_ctx *ctx);

/**
 * Verify (when verify is not NULL) and measure `run` in the worker under the options given at
 * start, in a child of the worker (see above); the outcome lands in *out (a crash, a timeout or
 * a death after the measurement in out->status).  The worker is gone (kg_worker_alive says
 * false) only when the worker itself died or stopped answering.  Errors: KG_EINVAL
 * (worker not alive), KG_EINTERNAL (pipe failure).
 */
kg_status kg_worker_measure(kg_worker *w, kg_run_fn run, kg_verify_fn verify, kg_measurement *out, kg_ctx *ctx);

/** kg_worker_measure with this request's early cut-off (kg_measure_opts.cutoff_ns; 0 = none):
 *  a variant whose first samples are all slower than cutoff_ns ns per call comes back
 *  KG_ECENSORED with a lower bound in its stats. */
kg_status kg_worker_measure_cutoff(kg_worker *w, kg_run_fn run, kg_verify_fn verify, double cutoff_ns,
                                   kg_measurement *out, kg_ctx *ctx);

/** kg_worker_measure_cutoff that also reads the phases of the measured entry: after a successful
 *  timing the child calls `phases` (the template's optional kg_phases, kg_abi.h; NULL: none) on
 *  its state and writes them into out->phases as {"name": ns per call, ...}; names that are not
 *  C identifiers, and phases past KG_WORKER_MAX_PHASES, are left out. */
kg_status kg_worker_measure_phases(kg_worker *w, kg_run_fn run, kg_verify_fn verify, kg_phases_fn phases,
                                   double cutoff_ns, kg_measurement *out, kg_ctx *ctx);

/** The most phases kg_worker_measure_phases reads. */
#define KG_WORKER_MAX_PHASES 16

/** Whether the worker is still running. */
bool kg_worker_alive(const kg_worker *w);

/** Destroy the state, end the worker and reap it.  NULL is a no-op. */
void kg_worker_stop(kg_worker *w);

#endif
