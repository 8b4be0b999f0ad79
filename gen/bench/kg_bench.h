/*
 * kg_bench.h - what `kgen bench` and `kgen compare` need beyond the tuner: finding the shipped
 * winners of this machine (or naming the closest machine that has results), turning them into
 * points of the spec, and comparing two reports for regressions.
 *
 * The measuring itself is kg_tune with an explicit list of points (kg_tune_opts.points and
 * problem_points) and no database, so bench and tune share one protocol and one report format.
 */
#ifndef KG_BENCH_H
#define KG_BENCH_H

#include <stdio.h>

#include <jansson.h>

#include "kg_machine.h"
#include "kg_spec.h"
#include "kg_status.h"
#include "kg_tune.h"

/**
 * How alike a recorded machine fingerprint (the "machine" object of a report or profile) is to
 * m: 4 for the same microarchitecture, up to 3 for the ISA flags in common (Jaccard), 1 for the
 * same core count, 0.5 for the same vendor.  Higher is closer; 8.5 is the same machine class.
 */
double kg_bench_machine_score(const json_t *machine, const kg_machine *m);

/**
 * Load dir/<kernel>/<m->id>.json into *out (json_decref it).  When it does not exist, returns
 * KG_ENOTFOUND with a message that says so and names the closest machine whose results exist
 * (kg_bench_machine_score over dir/<kernel>/ *.json), or that no machine has any.
 * Errors: KG_EIO (unreadable or not JSON).
 */
kg_status kg_bench_load_tuned(const char *dir, const char *kernel, const kg_machine *m, json_t **out, kg_ctx *ctx);

/**
 * Distance of a recorded machine fingerprint (the "machine" object of a report: vendor, family,
 * model, isa, cores, caches) from m by the shipped library's rule (gen/ship/runtime/
 * kgen_mdist.h: ISA level, then microarchitecture, cores, caches; 0 the same machine), or -1
 * when that machine has an ISA feature m lacks (its winners may not run here) or j is not an
 * object.
 */
double kg_bench_machine_distance(const json_t *machine, const kg_machine *m);

/**
 * The nearest compatible machine's results: among dir/<kernel>/ *.json other than m's own, the
 * one whose machine is nearest to m by kg_bench_machine_distance (ties: the first id in name
 * order), loaded into *out (json_decref it); its machine id into from[cap], its distance into
 * *dist.  Errors: KG_ENOTFOUND when no machine with results is compatible (the message names
 * the reason, and the closest incompatible one if any), KG_EIO (the chosen file unreadable).
 */
kg_status kg_bench_load_nearest(const char *dir, const char *kernel, const kg_machine *m, json_t **out, char *from,
                                size_t cap, double *dist, kg_ctx *ctx);

/**
 * Warm start (`kgen tune --warm-start`): the winners, ties and finalists ("top") of this machine's
 * own last report when it is stale (another spec or template hash) and of every other compatible
 * machine's results in dir/<kernel>/ *.json, this machine first, then nearest first (by
 * kg_bench_machine_distance), each machine's winners before its ties and finalists, as distinct
 * indices into spec->points (those outside the spec's space are skipped) into points[cap], with
 * the machine id of each into from[cap] (strdup'd: free each).  *n gets the count (0 when no
 * machine has results; a template that cannot be read counts as unchanged).  Errors: KG_ENOMEM.
 */
kg_status kg_bench_warm_points(const char *dir, const kg_spec *spec, const kg_machine *m, long *points, char **from,
                               long cap, long *n, kg_ctx *ctx);

/**
 * The points to re-measure from a tuned report: for each selected problem (`problems`, or every
 * problem of the report with a winner when nproblems is 0), its winner's parameters as an index
 * into spec->points.  Fills names[*nsel] (problem names, borrowed from tuned), problem_points
 * [*nsel], and points[*npoints] (the distinct ones); each array has room for spec->nproblems.
 * Errors: KG_EINVAL (a problem the report or the spec lacks, parameters outside the space:
 * the spec changed since the tuning run).
 */
kg_status kg_bench_points(const kg_spec *spec, const json_t *tuned, int nproblems, const char *const *problems,
                          const char **names, long *problem_points, int *nsel, long *points, long *npoints,
                          kg_ctx *ctx);

/**
 * Compare NEW with BASE (autotune or bench JSON), problem by problem (matched by name): NEW's
 * winner p50 against BASE's.  A regression is NEW slower beyond noise (its 95% CI of the median
 * lies entirely above BASE's) and by more than threshold_pct percent; a problem whose winner
 * vanished (null in NEW) or that NEW lacks is a regression too.  Prints a table to f;
 * *regressions gets the count.  Errors: KG_EINVAL, the same for either file (not a report: no
 * "problems" array, a problem without a name, a winner without p50_ns or with a p50 that is not
 * a positive finite number inside its CI; BASE without problems; a threshold that is negative
 * or not finite).
 */
kg_status kg_bench_compare(const json_t *base, const json_t *cur, double threshold_pct, FILE *f, int *regressions,
                           kg_ctx *ctx);

#endif
