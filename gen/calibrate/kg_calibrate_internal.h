/*
 * kg_calibrate_internal.h - what the parts of kgen calibrate share (gen/calibrate/ only):
 * kg_calibrate.c (rounds, the profile, its summary), kg_calibrate_peak.c, kg_calibrate_bw.c,
 * kg_calibrate_sgemm.c.
 */
#ifndef KG_CALIBRATE_INTERNAL_H
#define KG_CALIBRATE_INTERNAL_H

#include <stdbool.h>

#include <jansson.h>

#include "kg_calibrate.h"
#include "kg_compile.h"
#include "kg_machine.h"

#define KG_CALIBRATE_MAX_VARIANTS 16                /* bandwidth variants measured per size */
#define KG_CALIBRATE_CALL_BYTES (8.0 * 1024 * 1024) /* a cache-level call moves at least this */
#define KG_CALIBRATE_ROUNDS                                                                                            \
  4                             /* peak and bandwidth: at least this many rounds by default, each
                                 measuring every figure once, so they are spread over the run; then
                                 up to 3x as many for the figures not yet confirmed */
#define KG_CALIBRATE_AGREE 0.02 /* a best figure is confirmed when another round came this close */

/** The keys that name one figure: a peak by its thread count, a bandwidth by op, level,
 *  threads and nt (NULL-terminated). */
extern const char *const kg_peak_keys[];
extern const char *const kg_bw_keys[];

/** printf to o->progress (when set). */
void kg_calibrate_progress(const kg_calibrate_opts *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/** Thread counts to measure: 1, then doubling, then all cores; returns how many (<= cap). */
int kg_thread_list(int cores, int *list, int cap);

/** Whether the entry of acc matching probe on keys is already confirmed by a second round. */
bool kg_confirmed(const json_t *acc, const json_t *probe, const char *const *keys);

/** One round of peak figures ({"fp32": [...], "fp64": [...]}); those confirmed in prev (NULL in
 *  the first rounds) are not measured again.  New reference. */
json_t *kg_calibrate_peak(const kg_calibrate_opts *o, const kg_machine *m, kg_compiler *cc, const json_t *prev,
                          kg_ctx *ctx);

/** One round of bandwidth figures ({"kernel", "variant", "results": [...]} or {"error"}); those
 *  confirmed in prev (the results so far, NULL in the first rounds) are not measured again. */
json_t *kg_calibrate_bandwidth(const kg_calibrate_opts *o, const kg_machine *m, kg_compiler *cc, const json_t *prev,
                               kg_ctx *ctx);

/** The OpenBLAS sgemm figures ({"library", "results": [...]}), each core type in a child. */
json_t *kg_calibrate_sgemm(const kg_calibrate_opts *o, const kg_machine *m);

/* The roofline references (kg_calibrate_roofline.c): read-only bandwidth per level, fp32 FMA,
 * int8 (VNNI) and bf16 dot-product peaks, each {"rate", "unit", ...} or {"error"}. */
json_t *kg_calibrate_roofline(const kg_calibrate_opts *o, const kg_machine *m);

#endif
