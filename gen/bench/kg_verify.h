/*
 * kg_verify.h - drift of shipped winners (`kgen verify`): a winner of tuned/ (or of a site file)
 * re-verified and re-measured here beside its baselines (kg_tune on its point, as `kgen bench`
 * does), judged against what was shipped.
 *
 * Drift, per problem (each reason is named in the row's "drift" array):
 *   - "fails verification": the winner no longer computes right (or crashes, hangs) here;
 *   - "slower than shipped": its p50 is slower than the shipped p50 beyond noise (its 95% CI of
 *     the median lies entirely above the shipped CI) and by more than threshold_pct percent
 *     (the seeds' regression rule, as `kgen compare`); only judged when the shipped figures are
 *     this machine's (comparable).  When the same baseline was measured then and now, the
 *     figure is first divided by the load factor (baseline p50 now / baseline p50 shipped): a
 *     machine that runs everything 2x slower today (shared L3, DRAM, other tenants) moves the
 *     winner and its baseline alike and is not drift; a winner that alone got slower is;
 *   - "no longer beats its baseline": it beat its fastest baseline when shipped (speedup > 1)
 *     and is now slower than that baseline beyond noise (CIs apart) and by more than
 *     threshold_pct percent;
 *   - "accuracy drift": a figure of its accuracy object (kg_abi.h: e.g. rel_err) differs from the
 *     shipped one by more than 1e-3 (absolute), or the shipped object had it and now it is gone.
 */
#ifndef KG_VERIFY_H
#define KG_VERIFY_H

#include <stdbool.h>

#include <jansson.h>

#include "kg_tune.h"

/** Accuracy figures farther apart than this are drift. */
#define KG_VERIFY_ACCURACY_TOL 1e-3

/**
 * Judge problem index p of report r (the re-measurement of a shipped winner) against shipped,
 * that problem's object in the shipped report (autotune JSON: winner.p50_ns, winner.ci95_ns,
 * winner.accuracy, speedup).  comparable: the shipped figures were measured on this machine.
 * Returns a new JSON row (name, params, verified, reason, shipped_p50_ns, shipped_ci95_ns,
 * p50_ns, ci95_ns, change_pct, load_factor, change_vs_baseline_pct (null without a shipped figure of
 * the baseline), baseline {name, p50_ns, ci95_ns}, speedup, shipped_speedup,
 * accuracy, shipped_accuracy, drift [reasons], verdict "ok" | "DRIFT"); *ndrift gets the number
 * of reasons.  NULL when out of memory.
 */
json_t *kg_verify_problem(const kg_tune_report *r, int p, const json_t *shipped, bool comparable, double threshold_pct,
                          int *ndrift);

#endif
