/*
 * kg_report.h - what a tuning or bench run leaves behind (gen/report/): the autotune JSON and
 * each winner's standalone source under tuned/, the report JSON, the per-variant CSV, the
 * summary table and the Markdown report of a kg_tune_report.  Files are written to a temporary
 * name beside their target and renamed, so a reader never sees half a file and a failed run
 * leaves tuned/ as it was.
 */
#ifndef KG_REPORT_H
#define KG_REPORT_H

#include <stdbool.h>
#include <stdio.h>

#include <jansson.h>

#include "kg_spec.h"
#include "kg_status.h"
#include "kg_tune.h"

/**
 * Write the report under out_dir as one set: out_dir/<kernel>/<machine-id>.json (the autotune
 * JSON of DESIGN.md; each problem's "source" names its file and the file's XXH64) and
 * out_dir/<kernel>/<machine-id>/<problem>.c (each winner's source; problems without a winner get
 * none).  The set is staged in <machine-id>.tmp.<pid>/ beside the target and swapped in with one
 * rename, so a reader or a kill at any moment sees the old set or the new one, never a mix (a
 * kill just after the swap leaves the new report inside the new directory, moved into place by
 * kg_tune_output_recover, which this calls first).  Errors: KG_EIO (the message names the path;
 * the old set is left as it was), KG_ENOMEM.
 */
kg_status kg_tune_write(const kg_tune_report *r, const char *out_dir, kg_ctx *ctx);

/**
 * Finish what an interrupted kg_tune_write left in kernel_dir (out_dir/<kernel>): a swapped-in
 * set whose report is still inside it gets its report moved into place, and staging leftovers of
 * processes that no longer exist (NAME.tmp.<pid>) are removed.  Returns how many entries it fixed
 * or removed.  Never fails: what it cannot fix stays as it was.
 */
int kg_tune_output_recover(const char *kernel_dir);

/** One CSV row per measured variant and baseline: problem, variant, every parameter, status,
 *  reason, p50/p90/p99/ci in ns, samples, GB/s, GFLOP/s.  Errors: KG_EIO. */
kg_status kg_tune_write_csv(const kg_tune_report *r, const char *path, kg_ctx *ctx);

/** Print the summary table (one row per problem; warm/cold named in the header; efficiency
 *  against r->profile; the counter events per run, "unavailable" with why) to f. */
void kg_tune_print_summary(const kg_tune_report *r, FILE *f);

/** The report JSON (as written by kg_tune_write, with "command" saying tune or bench) to path,
 *  atomically.  Errors: KG_EIO, KG_ENOMEM. */
kg_status kg_tune_write_json(const kg_tune_report *r, const char *path, kg_ctx *ctx);

/** A readable Markdown report: environment, a table per problem (winner and baselines with full
 *  statistics, noise, events, efficiency), and findings (speedup vs the fastest baseline, noisy
 *  measurements, unavailable counters).  Errors: KG_EIO. */
kg_status kg_tune_write_md(const kg_tune_report *r, const char *path, kg_ctx *ctx);

/** The fusion figures of one problem of a spec with a `fusion` key (kg_spec.h): fused = the
 *  problem's winner, unfused = the baseline the spec's fusion.unfused names, or a twin of it
 *  ("<name>_<suffix>") declared with the winner's thread count, from the same run (the same
 *  final rounds).  Times in ns (NAN when not measured), bytes from the spec's metrics
 *  (-1 when absent).  verdict: "fuse" when the fused median's 95% CI lies entirely below the
 *  unfused one (faster beyond noise), "avoid" when entirely above, "neutral" when they overlap,
 *  "unmeasured" when either is missing. */
typedef struct kg_fusion_figures {
  const char *pattern; /**< borrowed from the spec */
  double flops, fused_ns, unfused_ns, fused_ci[2], unfused_ci[2];
  double fused_bytes, unfused_bytes;
  double speedup;          /**< unfused / fused p50 */
  double memory_reduction; /**< 1 - fused bytes / unfused bytes */
  const char *verdict;
  const char *unfused; /**< the baseline measured as unfused (borrowed from the spec), or NULL */
} kg_fusion_figures;

/** Fill f for problem pr of r; false (f zeroed) when the spec has no `fusion` key. */
bool kg_report_fusion(const kg_tune_report *r, const kg_problem_result *pr, kg_fusion_figures *f);

/** The fusion contract's keys into the problem's JSON object jp (tune and bench JSON): "pattern",
 *  "flops", "fused_latency_ms", "unfused_latency_ms", "fused_gflops", "unfused_gflops",
 *  "fused_bytes", "unfused_bytes", "speedup_factor" (unfused / fused), "memory_reduction"
 *  (1 - fused / unfused bytes), "fusion_verdict", "unfused_baseline" (its name); nothing for a
 *  spec without `fusion`. */
void kg_report_fusion_json(const kg_tune_report *r, const kg_problem_result *pr, json_t *jp);

/** Threads a point runs with: the value of the parameter the spec's `roles.threads` names, else
 *  0 (unknown). */
int kg_tune_point_threads(const kg_spec *spec, long point);

#endif
