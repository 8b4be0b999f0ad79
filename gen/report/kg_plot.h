/*
 * kg_plot.h - pictures of an autotune report (gen/report/): SVG and PNG drawn by gnuplot
 * (Debian's gnuplot-nox, run as a child process with its cairo terminals).  Each chart's gnuplot
 * script (.gp) and data (.dat) stay beside its pictures, so a user can restyle and redraw it.
 *
 * Charts, each when the report holds what it needs:
 *   <kernel>-roofline      the roofline model (Williams, Waterman and Patterson, "Roofline: an
 *                          insightful visual performance model", CACM 2009): the machine's
 *                          compute and bandwidth ceilings (from the efficiency figures of the
 *                          report, i.e. the machine profile of `kgen calibrate`) and each
 *                          winner and baseline at its arithmetic intensity and GFLOP/s; needs a
 *                          profile and a flops metric;
 *   <kernel>-speedup       each problem's speedup over each baseline (baseline p50 / winner p50);
 *   <kernel>-vs-<dim>      p50 against a dimension that takes 3 or more values across problems
 *                          (the size sweeps: per-k latency of a cache, time against n of a
 *                          GEMM), log-log, one line per kind (winner, each baseline) and per value
 *                          of the other dimensions that vary;
 *   <kernel>-heatmap-<x>-<y>  the speedup over the best baseline across the two dimensions with
 *                          the most values (when the problems cover 2 x 2 or more of their grid).
 */
#ifndef KG_PLOT_H
#define KG_PLOT_H

#include "kg_status.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Charts drawn for one report: their base paths (DIR/<kernel>-<chart>; each has .svg, .png,
 *  .gp and .dat files), and those skipped with why. */
typedef struct kg_plot_result {
  int ncharts;
  char charts[64][4400];
  int nskipped;
  char skipped[8][256];
} kg_plot_result;

/**
 * Draw the charts of the autotune JSON at report_path (what `kgen tune` or `kgen bench --json`
 * writes) into dir (created when missing).  out receives the charts drawn and those skipped.
 * Errors: KG_EINVAL (the report cannot be read or parsed: file:line, or it has no problems),
 * KG_EIO (dir cannot be written, or gnuplot failed: its output is in the message),
 * KG_EUNSUPPORTED (gnuplot is not installed: the message names the package).
 */
kg_status kg_plot_report(const char *report_path, const char *dir, kg_plot_result *out, kg_ctx *ctx);

#ifdef __cplusplus
}
#endif

#endif
