/*
 * kg_roofline.h - the machine's roofline references: kernels that reach a bound of this machine,
 * measured in the same run (and the same worker protocol, kg_measure.h) as a kernel's winner and
 * baselines, so that an efficiency compares two figures taken side by side.
 *
 * A spec declares each problem's bound (kg_spec.h `bound`):
 *   "memory"    a read-bandwidth kernel over the problem's bytes (its `bytes` metric) from the
 *               same cache level: the buffer has those bytes, and in cold mode it is flushed out of
 *               the caches before every call like the kernel's inputs; rate in GB/s
 *   "fp32_fma"  the fp32 FMA peak: independent vector FMA chains in registers; GFLOP/s (2 per FMA lane)
 *   "int8_dot"  the int8 dot-product peak: AVX-512 VNNI vpdpbusd chains; GOP/s (2 per multiply-add)
 *   "bf16_dot"  the bf16 dot-product peak: AVX-512 BF16 vdpbf16ps chains; GFLOP/s (2 per pair)
 * A reference runs on all usable cores (OpenMP, the runtime the kernels use), one thread for a
 * memory problem under 256 KB (a fork-join would cost more than the pass).  The compute peaks do
 * a fixed amount of work per call (about a millisecond; the peak does not depend on the problem's
 * size), the read kernel exactly the problem's bytes.
 *
 * A reference is a kg_abi.h entry set: kg_roofline_create reads the kg_problem dimensions
 * "bound" (a kg_roofline_bound), "bytes" (memory) and "threads" (0 = all usable cores), so
 * kg_measure can fork, create and time it as it times a kernel.
 *
 * The read kernel is the STREAM-style sum over the buffer (McCalpin, STREAM; here read-only, as
 * the weight streams of a decode step are), 4 independent accumulators of 64-byte loads, each
 * thread reading its range as 1, 2 or 8 interleaved sequential streams, whichever read the
 * buffer fastest in a probe at creation (one stream per core leaves bandwidth unused on some
 * machines, eight streams on others: kg_roofline.c).
 */
#ifndef KG_ROOFLINE_H
#define KG_ROOFLINE_H

#include <stdbool.h>

#include "kg_abi.h"
#include "kg_status.h"

typedef enum kg_roofline_bound {
  KG_BOUND_NONE = 0,
  KG_BOUND_MEMORY,
  KG_BOUND_FP32_FMA,
  KG_BOUND_INT8_DOT,
  KG_BOUND_BF16_DOT,
} kg_roofline_bound;

/** "memory", "fp32_fma", "int8_dot", "bf16_dot" into *out.  Errors: KG_EINVAL (the message
 *  lists the names). */
kg_status kg_roofline_parse(const char *name, kg_roofline_bound *out, kg_ctx *ctx);

/** The spec name of bound b ("memory", ...); "none" for KG_BOUND_NONE. */
const char *kg_roofline_name(kg_roofline_bound b);

/** The unit of a reference's rate: "GB/s" (memory), "GFLOP/s" (fp32, bf16), "GOP/s" (int8). */
const char *kg_roofline_unit(kg_roofline_bound b);

/** Whether this CPU can run the reference for b (int8_dot needs AVX-512 VNNI, bf16_dot AVX-512
 *  BF16; memory and fp32_fma always run, with AVX-512, AVX2+FMA or plain C).  When not, why[cap]
 *  says what is missing. */
bool kg_roofline_supported(kg_roofline_bound b, char *why, size_t cap);

/** The ISA the reference for b uses on this CPU ("avx512", "avx2", "scalar"). */
const char *kg_roofline_isa(kg_roofline_bound b);

/**
 * The kg_problem dimensions of a reference (sorted by name, as kg_abi.h requires): names[3] and
 * dims[3] are filled for kg_roofline_create; `bytes` is the problem's bytes per call (memory
 * bound; ignored otherwise), threads 0 = all usable cores.  p gets pointers into names and dims
 * (keep them alive while p is used).
 */
void kg_roofline_problem(kg_roofline_bound b, double bytes, int threads, const char *names[3], int64_t dims[3],
                         kg_problem *p);

/** kg_abi.h kg_create of a reference: NULL when the dimensions are bad (bound none or unknown,
 *  memory with bytes < 64), the CPU lacks the ISA, or memory is short. */
void *kg_roofline_create(const kg_problem *p);

/** kg_abi.h kg_run of a reference: one pass (memory) or one fixed block of dot products. */
void kg_roofline_run(void *state);

/** kg_abi.h kg_destroy; NULL is a no-op. */
void kg_roofline_destroy(void *state);

/** The work one kg_roofline_run does, in the unit's numerator: bytes read (memory) or
 *  operations (2 per multiply-add lane).  So rate = kg_roofline_work(s) / ns per call. */
double kg_roofline_work(const void *state);

/** The work of one call of the reference that kg_roofline_problem(b, bytes, ...) describes,
 *  without creating it (the same figure as kg_roofline_work). */
double kg_roofline_work_of(kg_roofline_bound b, double bytes, int threads);

#endif
