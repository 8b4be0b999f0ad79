/*
 * kg_report_internal.h - what kg_report.c shares with kg_report_text.c (gen/report/ only).
 */
#ifndef KG_REPORT_INTERNAL_H
#define KG_REPORT_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "kg_measure.h"
#include "kg_profile.h"
#include "kg_spec.h"
#include "kg_tune.h"

/** A "point" below -1 names baseline b as KG_BASELINE_POINT(b). */
#define KG_BASELINE_POINT(b) (-2L - (long)(b))
/** kg_report_best_baseline's `threads` for any thread count. */
#define KG_ANY_THREADS (-1)

/** A derived figure: IPC (instructions / cycles) and misses per 1000 instructions for every
 *  event whose name says "miss", when their inputs were requested. */
typedef struct kg_derived {
  char name[160];
  bool ok;
  double value;
  char why[96];
} kg_derived;

/** The value indices of point `point` of s (borrowed). */
const int32_t *kg_report_point(const kg_spec *s, long point);

/** Achieved rates per run of the kernel (bytes or flops over p50 ns): NAN when the spec has no
 *  such metric. */
double kg_report_gbps(const kg_spec_problem *sp, double p50_ns);
double kg_report_gflops(const kg_spec_problem *sp, double p50_ns);

/** Event i of a measurement: true with *v when counted, else false with *why. */
bool kg_report_event_value(const kg_measurement *m, int i, double *v, const char **why);

/** The derived figures of m into d[cap]; returns how many. */
int kg_report_derive(const kg_tune_report *r, const kg_measurement *m, kg_derived *d, int cap);

/** Threads of a point or baseline (KG_BASELINE_POINT): 0 when not known. */
int kg_report_threads_of(const kg_tune_report *r, long point);

/** The roofline efficiency of measurement m on problem sp run by `point`. */
void kg_report_eff(const kg_tune_report *r, const kg_spec_problem *sp, const kg_measurement *m, long point,
                   kg_efficiency *e);

/** The efficiency of a result against the problem's roofline reference (kg_report_roofline.c). */
typedef struct kg_ref_eff {
  bool known;       /**< else why says why not */
  char why[320];
  const char *bound, *unit; /**< "memory", "GB/s", ... */
  double fraction;  /**< achieved rate / the reference's rate, not clamped */
  double rate;      /**< achieved: bytes or operations per ns (= G.../s) */
  double ref_rate;  /**< the reference's, same unit */
  double noise;     /**< the relative noise of the ratio (CIs and round spreads of both, at least 2%) */
  bool suspect;     /**< fraction > 1 + noise: the reference is not the bound (a bug) */
} kg_ref_eff;

/** Efficiency of result x (the winner or a baseline) of problem pr against its reference. */
void kg_report_ref_eff(const kg_problem_result *pr, const kg_spec_problem *sp, const kg_result *x, kg_ref_eff *e);

/** Set "efficiency" (a fraction, or null) and "efficiency_ref" ({"bound", "ref", "rate", "unit",
 *  ...}, or {"bound", "why"}, or null without a bound) on the timing object o. */
void kg_report_ref_json(json_t *o, const kg_problem_result *pr, const kg_spec_problem *sp, const kg_result *x);

/** The winners and baselines of r whose efficiency is above 100% beyond noise (a reference bug),
 *  listed into buf[cap]; returns how many. */
int kg_report_ref_suspects(const kg_tune_report *r, char *buf, size_t cap);

/** The fastest measured baseline of a problem among those with `threads` (KG_ANY_THREADS: all),
 *  or -1. */
int kg_report_best_baseline(const kg_tune_report *r, const kg_problem_result *pr, int threads);

#endif
