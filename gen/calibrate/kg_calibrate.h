/*
 * kg_calibrate.h - what this machine can do: the machine profile of `kgen calibrate`
 * (keys in kg_profile.h).
 *
 * - Peak FLOP/s: a JIT-compiled FMA microkernel, fp32 and fp64, on the widest vectors the
 *   machine has (AVX-512, else AVX2, else scalar), with enough independent accumulators to
 *   cover the FMA latency times the FMA ports (16 zmm, 12 ymm, 8 scalar), run by 1 thread up to
 *   all cores (OpenMP), each measured in a forked worker (kg_measure.h).
 * - Bandwidth: the kernels of the bandwidth spec (specs/stream.lua: copy, scale, add, triad),
 *   found through its `roles` (vector, unroll, streaming_stores, threads parameters; size, op,
 *   passes dimensions; each operation named and sized by its problems and bytes metric), at
 *   the widest vector it offers and unroll 4, JIT-compiled and measured with kg_worker at one
 *   size per memory level
 *   (half of L1d, half of L2, half of L3 and 4x L3), 1 thread and all cores, with plain and
 *   (in DRAM) streaming stores.  The arrays are capped at KG_CALIBRATE_ARRAY_CAP bytes in total
 *   (hypervisors report huge virtual L3s: 508 MB on the development VM) and L3 at 64 MB.  Below
 *   DRAM one call repeats the operation (`passes`, inside one parallel region) until it moves
 *   KG_CALIBRATE_CALL_BYTES, so the all-core figure measures the caches, not the fork and join.
 * - Each figure is a best rate, as STREAM reports it: the work over the fastest sample, then the
 *   best of its rounds.  A disturbance only ever slows a sample down, so the fastest sample of
 *   rounds spread over the whole run is the figure that repeats from run to run.  Peak and
 *   bandwidth are taken in rounds, each measuring every figure once; after `rounds` (4) rounds,
 *   only the figures not yet "confirmed" (no second round within 2% of the best) are measured
 *   again, up to 3x `rounds`.  A figure still unconfirmed then is marked "confirmed": false and named
 *   below the tables: the machine was too noisy to settle it.  "round_values" keeps every
 *   round's figure, and the median-sample rate is kept beside the best.
 * - BLAS: OpenBLAS cblas_sgemm at n = 256, 512, 1024, 2048, 1 thread and all cores, with the
 *   default core dispatch (the caller's OPENBLAS_CORETYPE, if set, is kept: it is what the
 *   user's programs get) and, on x86 with AVX-512, OPENBLAS_CORETYPE=SkylakeX.  OpenBLAS reads
 *   the variable once when it loads, so each dispatch runs in a fresh process: `self_exe`
 *   re-executed as `self_exe __sgemm ...` (the executable must route that hidden subcommand to
 *   kg_calibrate_sgemm_main).
 */
#ifndef KG_CALIBRATE_H
#define KG_CALIBRATE_H

#include <stdbool.h>
#include <stdio.h>

#include <jansson.h>

#include "kg_compile.h"
#include "kg_status.h"

/** Total bytes of the largest STREAM arrays (512 MB). */
#define KG_CALIBRATE_ARRAY_CAP (512.0 * 1024 * 1024)

typedef struct kg_calibrate_opts {
  bool quick;                 /**< seconds, not minutes: fewer sizes, shorter samples, and one
                                 round unless `rounds` says otherwise (tests) */
  int rounds;                 /**< peak and bandwidth: at least this many rounds, at most 3x as
                                 many for the figures not yet confirmed (0: 4; with quick, 1) */
  const char *bandwidth_spec; /**< the bandwidth spec (specs/stream.lua): its roles name what calibrate needs */
  const char *self_exe;       /**< executable that serves `__sgemm` (default /proc/self/exe) */
  kg_compile_opts compile;
  FILE *progress; /**< progress lines; NULL = silent */
} kg_calibrate_opts;

/**
 * Measure this machine.  On success *out is a new JSON profile (json_decref it).
 * Errors: KG_EIO, KG_ESPEC (stream spec), KG_ECOMPILE, KG_EINTERNAL.  A part that cannot be
 * measured (no OpenBLAS child, a crashed microkernel) is recorded in the profile with an
 * "error" key rather than failing the whole run.
 */
kg_status kg_calibrate(const kg_calibrate_opts *o, json_t **out, kg_ctx *ctx);

/** Print the profile as readable tables. */
void kg_calibrate_print(const json_t *profile, FILE *f);

/**
 * The `__sgemm` child: argv = {"__sgemm", "--sizes", "256,512", "--threads", "1,2",
 * "--min-time", "0.2"}; prints one JSON object {"corename": ..., "results": [{n, threads,
 * gflops, p50_ns}]} on stdout.  Returns an exit code.
 */
int kg_calibrate_sgemm_main(int argc, char **argv);

/**
 * The C source of the peak microkernel (a kgen module: kg_create, kg_run, kg_destroy): `nacc`
 * independent chains a = a * b + c per thread on vectors of `vbytes` bytes of float (fp64:
 * double), `iters` steps, run by `threads` OpenMP threads; clang's default -ffp-contract=on makes
 * each step one FMA, so a run is 2 x (vbytes / element size) x nacc x iters x threads flops.
 * Chain k of every lane starts at k + 1, with b = (T)0.9999999 and c = (T)1e-7; the module also
 * exports `double kg_peak_result(const void *state, int thread)`: the sum over the chains and
 * lanes of that thread's final values after kg_run, so every FMA shows in the result.
 * Returns a malloc'd string, NULL when out of memory.
 */
char *kg_calibrate_peak_source(int vbytes, bool fp64, int nacc, int threads, long iters);

#endif
