/*
 * kg_profile.h - the machine profile written by `kgen calibrate` (tuned/machines/<id>.json),
 * and the roofline efficiency of a measured kernel against it.
 *
 * The profile's JSON keys (schema 1; more may appear):
 *
 *   {"schema": 1, "kind": "machine-profile", "kgen_version": "0.1.0", "quick": false,
 *    "machine": {<kg_machine_to_json>, "compiler": "clang 16.0.6", "flags": "-O3 ..."},
 *    "peak": {"isa": "avx512", "vector_bits": 512, "accumulators": 16,
 *             "fp32": [{"threads": 1, "gflops": 0, "min_ns": 0, "gflops_p50": 0, "p50_ns": 0,
 *                       "round_values": [0, ...], "confirmed": true}, ...],
 *             "fp64": [...], "rounds": 4},
 *    "bandwidth": {"kernel": "stream", "variant": "vec=16,unroll=4,...", "array_cap_bytes": 0,
 *                  "results": [{"op": "copy", "level": "l1", "bytes": 0, "passes": 512,
 *                               "threads": 1, "nt": 0, "gbps": 0, "min_ns": 0, "gbps_p50": 0,
 *                               "p50_ns": 0, "round_values": [0, ...], "confirmed": true}, ...],
 *                  "rounds": 4},
 *    "sgemm": {"library": "OpenBLAS", "results": [{"coretype": "default", "corename": "Zen",
 *              "threads": 1, "n": 256, "gflops": 0, "p50_ns": 0}, ...]},
 *    "balance": {"fp32_flops_per_byte": 0, "fp64_flops_per_byte": 0},
 *    "elapsed_s": 0}
 *
 * GFLOP/s and GB/s are 1e9 per second.  "gflops" and "gbps" are best rates (STREAM's convention:
 * the work over the fastest sample, min_ns, then the best of the rounds, whose figures are in
 * "round_values"; "confirmed" when a second round came within 2% of the best); "gflops_p50" and
 * "gbps_p50" are the same work over the median sample.  bytes is one pass over the arrays,
 * counted as what the kernel reads and writes (STREAM's convention, no write-allocate traffic);
 * one timed call makes `passes` passes (more than 1 at the cache levels, so that a call outlasts
 * the OpenMP fork and join).
 */
#ifndef KG_PROFILE_H
#define KG_PROFILE_H

#include <stdbool.h>
#include <stddef.h>

#include "kg_roofline.h"
#include "kg_status.h"

#define KG_PROFILE_MAX_PEAK 16
#define KG_PROFILE_MAX_BW 256

/** One bandwidth point of the profile. */
typedef struct kg_profile_bw {
  char op[8];    /**< "copy", "scale", "add", "triad" */
  char level[8]; /**< "l1", "l2", "l3", "dram" */
  double bytes;  /**< bytes the operation touches per run */
  int threads;
  double gbps;
} kg_profile_bw;

/** The parts of a machine profile the efficiency needs. */
typedef struct kg_profile {
  char path[1024];
  char machine_id[80];
  int npeak;
  struct {
    int threads;
    double fp32;
  } peak[KG_PROFILE_MAX_PEAK]; /**< fp32 GFLOP/s */
  int nbw;
  kg_profile_bw bw[KG_PROFILE_MAX_BW];
  double int8_dot, bf16_dot; /**< the roofline section's peaks on all cores (GOP/s, GFLOP/s); NAN when
                              * the profile predates them or the CPU lacks the instructions */
} kg_profile;

/** "tuned/machines/<machine_id>.json" under root (default "tuned") into buf[cap]. */
void kg_profile_default_path(const char *root, const char *machine_id, char *buf, size_t cap);

/**
 * Load a profile.  Errors: KG_ENOTFOUND (no such file), KG_EIO (unreadable, not JSON),
 * KG_EINVAL (not a machine profile, or without peak or bandwidth figures).
 */
kg_status kg_profile_load(const char *path, kg_profile *out, kg_ctx *ctx);

/** A kernel's roofline efficiency. */
typedef struct kg_efficiency {
  bool known; /**< false: a figure is missing (why says which) */
  char why[128];
  char bound[8];      /**< "compute" or "memory": the roof that applies */
  double fraction;    /**< achieved / ceiling (1.0 = at the roof) */
  double achieved;    /**< GFLOP/s or GB/s */
  double ceiling;     /**< peak GFLOP/s or bandwidth GB/s */
  double intensity;   /**< flops per byte; NAN when bytes unknown */
  double balance;     /**< the machine's peak / bandwidth at this size and thread count */
  int threads;        /**< thread count the ceiling was taken at */
  char reference[96]; /**< "fp32 peak, 2 threads" or "copy 8.4 MB (l3), 1 thread" */
} kg_efficiency;

/**
 * Efficiency of a kernel doing `flops` and moving `bytes` per run (either may be <= 0 when the
 * spec has no such metric) in p50_ns, run with `threads` threads (0 = unknown: the all-cores
 * ceiling).  The bound follows arithmetic intensity: memory when flops / bytes is below the
 * machine balance (the peak over the copy bandwidth measured at the size nearest `bytes`: the
 * best of 1..threads threads there), compute otherwise.  The compute peak is the one the spec's
 * `bound` names: KG_BOUND_INT8_DOT / KG_BOUND_BF16_DOT take the profile's all-cores int8_dot /
 * bf16_dot figure whatever `threads` says (dot products are never held against the fp32 FMA peak;
 * a profile without it gives known false, why naming it); any other bound the fp32 peak at
 * `threads`.  p may be NULL (then known is false with why "no machine profile (run kgen calibrate)").
 */
void kg_profile_efficiency(const kg_profile *p, double flops, double bytes, double p50_ns, int threads,
                           kg_roofline_bound bound, kg_efficiency *e);

#endif
