/*
 * kgen.h - kgen's shipped kernels: the public C API (C99).
 *
 * Status: int, 0 on success, non-zero on error; kgen_strerror(status) names it (the
 * kgen_semimarkov_* functions have their own codes: kgen_semimarkov_strerror) and
 * kgen_last_error() gives this thread's message for the last failed call.  Sizes are int64_t;
 * matrices are row-major float32; pointers are borrowed for the call unless said otherwise.
 * Each call dispatches, once per machine and shape (then cached), to the variant tuned for the
 * nearest machine and problem (kgen_explain says which and why).  Environment: KGEN_MACHINE=<id>
 * forces a machine entry, KGEN_MAX_ISA=avx2|avx512 caps the ISA, KGEN_VERBOSE=1 prints the
 * choice of machine once, OMP_NUM_THREADS caps the threads.
 */
#ifndef KGEN_KGEN_H
#define KGEN_KGEN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Status codes. */
#define KGEN_OK 0
#define KGEN_EINVAL 1     /* bad argument: NULL, negative or inconsistent size, bad mask value */
#define KGEN_ENOMEM 2     /* out of memory */
#define KGEN_ERECIPE 3    /* unknown quantization recipe */
#define KGEN_ENOVARIANT 4 /* no variant this CPU can run */

/** What the library chose for `kernel` ("gemm", "qmatmul", "paired_cache", "semiring_scan"), and
 *  why: the CPU, the machine entry and its distance, the last decision's variant parameters and
 *  shape distance.  Writes at most cap bytes (NUL-terminated); KGEN_EINVAL for an unknown kernel. */
int kgen_explain(const char *kernel, char *buf, size_t cap);

/** A static name for a status. */
const char *kgen_strerror(int status);

/** This thread's message for the last failed call ("" before any). */
const char *kgen_last_error(void);

#ifdef __cplusplus
}
#endif
