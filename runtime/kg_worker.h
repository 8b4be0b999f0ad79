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
 */
#ifndef KG_WORKER_H
#define KG_WORKER_H

#include <stdbool.h>

#include "kg_measure.h"

typedef struct kg_worker kg_worker;

/**
 * Fork a worker, pin it (opts->cpu) and create problem p in it with `create`.  On success *out
 * is a live worker.  When kg_create fails or crashes, returns KG_OK with *out NULL and
 * *create_failure filled (status and reason).  Errors: KG_EINTERNAL (fork or pipe failed).
 */
kg_status kg_worker_start(const kg_problem *p, kg_create_fn create, kg_destroy_fn destroy, const kg_measure_opts *opts,
                          kg_worker **out, kg_measurement *create_failure, kg_ctx *ctx);

/**
 * Verify (when verify is not NULL) and measure `run` in the worker under the options given at
 * start; the outcome lands in *out.  When the variant crashed or exceeded opts->timeout_s, the
 * worker is gone (kg_worker_alive says false) and out->status tells why.  Errors: KG_EINVAL
 * (worker not alive), KG_EINTERNAL (pipe failure).
 */
kg_status kg_worker_measure(kg_worker *w, kg_run_fn run, kg_verify_fn verify, kg_measurement *out, kg_ctx *ctx);

/** kg_worker_measure with this request's early cut-off (kg_measure_opts.cutoff_ns; 0 = none):
 *  a variant whose first samples are all slower than cutoff_ns ns per call comes back
 *  KG_ECENSORED with a lower bound in its stats. */
kg_status kg_worker_measure_cutoff(kg_worker *w, kg_run_fn run, kg_verify_fn verify, double cutoff_ns,
                                   kg_measurement *out, kg_ctx *ctx);

/** Whether the worker is still running. */
bool kg_worker_alive(const kg_worker *w);

/** Destroy the state, end the worker and reap it.  NULL is a no-op. */
void kg_worker_stop(kg_worker *w);

#endif
