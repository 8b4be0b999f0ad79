/*
 * kg_calibrate_fusion.h - the fusion profile of `kgen calibrate --fusion` (issue 15): the
 * problems of the specs that have a `fusion` key (kg_spec.h) measured fused against unfused in
 * the same rounds, summarised per pattern with a verdict.
 *
 * Which problems: fusion.quick of each spec (default: the first problem of each pattern), every
 * problem with `full`.  Which variant: this machine's shipped winner of the problem
 * (tuned/<kernel>/<machine-id>.json) when there is one, else the spec's default point; the
 * report names which ("variant_source": "tuned" | "default").  Measured as `kgen bench` measures
 * (kg_tune over the given points, baselines side by side, final rounds), with no database.
 *
 * The JSON (the machine profile's "fusion_profiles"):
 *   {"full": false, "elapsed_s": 12.3,
 *    "rule": "...",
 *    "patterns": {"linear_relu": {"speedup": 1.04, "verdict": "fuse",
 *                                 "shapes": [{"kernel": "fusion_linear", "problem": "...",
 *                                             "dims": {...}, "params": {...}, "variant_source": "tuned",
 *                                             "speedup": 1.04, "memory_reduction": 0.5,
 *                                             "fused_gflops": 100, "unfused_gflops": 96,
 *                                             "fused_latency_ms": 10.1, "unfused_latency_ms": 10.5,
 *                                             "verdict": "fuse"}, ...]}, ...}}
 * A shape's verdict is kg_report_fusion's (95% CIs of the medians apart: fuse or avoid, else
 * neutral); a pattern's speedup is the geometric mean over its shapes, its verdict "fuse" when
 * some shape says fuse and none avoid, "avoid" when some says avoid and none fuse, else neutral.
 */
#ifndef KG_CALIBRATE_FUSION_H
#define KG_CALIBRATE_FUSION_H

#include <stdbool.h>
#include <stdio.h>

#include <jansson.h>

#include "kg_compile.h"
#include "kg_status.h"

typedef struct kg_calibrate_fusion_opts {
  bool full;                /**< every problem of each spec, not the quick subset */
  bool quick;               /**< short samples and one final round (tests) */
  int nspecs;               /**< > 0: these spec files; 0: every specs_dir/ *.lua with a `fusion` key */
  const char *const *specs; /**< [nspecs] */
  const char *specs_dir;    /**< where to look when nspecs is 0 */
  const char *tuned_dir;    /**< shipped winners (default "tuned") */
  kg_compile_opts compile;
  FILE *progress; /**< progress lines; NULL = silent */
} kg_calibrate_fusion_opts;

/**
 * Measure the fusion problems.  On success *out is the new "fusion_profiles" object (json_decref
 * it).  Errors: KG_ESPEC (a named spec does not load, or has no `fusion` key), KG_ENOTFOUND (no
 * spec with a `fusion` key in specs_dir), KG_EIO, and those of kg_tune.  A spec of specs_dir that
 * does not load is skipped with a progress line.
 */
kg_status kg_calibrate_fusion(const kg_calibrate_fusion_opts *o, json_t **out, kg_ctx *ctx);

/** Print the summary table of a "fusion_profiles" object: pattern, CPU speedup, verdict. */
void kg_calibrate_fusion_print(const json_t *fp, FILE *f);

#endif
