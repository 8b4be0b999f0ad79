/*
 * kg_abi.h - the contract between kgen's harness and a kernel template.
 *
 * A template is a C file that, once expanded with a variant's parameters, exports these
 * entry points (fixed names, C linkage).  The harness knows nothing else about the kernel:
 * allocation, seeded initialisation, the reference check and any state kept across steps
 * (the paired cache's active set) all live in the template.
 *
 *   void *kg_create(const kg_problem *p);                 allocate and seed-initialise; NULL on failure
 *   void  kg_run(void *state);                             one step of the variant (the timed region)
 *   int   kg_verify(void *state, char *msg, size_t cap);   run variant and reference on the same inputs,
 *                                                          compare; 0 when equal within tolerance,
 *                                                          otherwise non-zero with a message in msg;
 *                                                          on success it may write a JSON object of
 *                                                          accuracy figures (e.g. {"rel_err": 1e-3}),
 *                                                          which the reports carry as "accuracy"
 *   void  kg_destroy(void *state);                         free everything kg_create made
 *   void  kg_prepare(void *state);                         optional: once, on the fresh state,
 *                                                          before any variant runs: what every
 *                                                          kg_verify needs (the reference output),
 *                                                          so that each variant's isolated copy of
 *                                                          the state (kg_worker.h) finds it done
 *   void  kg_baseline_<name>(void *state);                 one step of each baseline the spec names
 *   int   kg_baseline_<name>_applies(const kg_problem *p); optional: 0 when the baseline does not
 *                                                          apply to problem p (a small-matrix
 *                                                          library on a large product): the harness
 *                                                          records it "unsupported" there and never
 *                                                          runs it
 *   int   kg_phases(void *state, const char **names,       optional: the phases of one step (e.g.
 *                   double *ns, int cap);                  gating, selection, update, matmuls): up to
 *                                                          cap names (static strings, C identifiers)
 *                                                          and the typical ns each takes per kg_run
 *                                                          (or baseline) call over the calls the
 *                                                          state has seen (moe_step.c: the median);
 *                                                          returns the number of phases.  The worker
 *                                                          calls it after the final rounds' timing of
 *                                                          each finalist and baseline (kgen tune,
 *                                                          kgen bench); the reports write
 *                                                          "phases": {name: share of the sum} and
 *                                                          "phases_ns": {name: ns per call}
 *
 * Public API: each template also exports its kernel's public entry points (kgen/kgen.h), named
 * through KG_NAME(); the harness functions above are thin wrappers that make inputs and call
 * them.  Defining KG_PUBLIC_ONLY leaves the harness (and its OpenBLAS glue) out.
 *
 * kg_run may be called any number of times after kg_create and after kg_verify; each call must
 * do the same amount of work (a stateful kernel cycles through precomputed inputs).
 * Every function is called from one thread; the variant itself may use OpenMP.
 */
#ifndef KG_ABI_H
#define KG_ABI_H

#include <stddef.h>
#include <stdint.h>

#define KG_ABI_VERSION 1

/*
 * KG_NAME(x): the name of a public symbol x that a template exports (kgen_sgemm, ...).  By
 * default the plain name, so a variant (or a tuned/ file) is the public API itself; inside a
 * library of many variants, `kgen ship` defines it to a per-variant prefix before the source
 * (#define KG_NAME(x) kgv_gemm_3_##x), so any number of variants link together.
 */
#ifndef KG_NAME
#define KG_NAME(x) x
#endif

/* Status codes of the public entry points (kgen/kgen.h's KGEN_E* have the same values). */
enum {
  KG_API_OK = 0,
  KG_API_EINVAL = 1,   /* bad argument: NULL, negative or inconsistent size, bad mask value */
  KG_API_ENOMEM = 2,   /* out of memory */
  KG_API_ERECIPE = 3,  /* unknown quantization recipe */
  KG_API_ENOVARIANT = 4 /* no usable variant (library dispatch) */
};
#define KG_MAX_DIMS 16

/** A problem instance: named integer dimensions (sorted by name), seed and tolerance. */
typedef struct kg_problem {
  int ndims;
  const char *const *dim_names; /**< [ndims], sorted by strcmp */
  const int64_t *dims;          /**< [ndims] */
  uint64_t seed;                /**< seed for all pseudo-random inputs */
  double rtol, atol;            /**< |x - ref| <= atol + rtol * |ref| passes; 0, 0 = exact */
} kg_problem;

typedef void *(*kg_create_fn)(const kg_problem *p);
typedef void (*kg_run_fn)(void *state);
typedef int (*kg_verify_fn)(void *state, char *msg, size_t cap);
typedef void (*kg_destroy_fn)(void *state);
typedef void (*kg_prepare_fn)(void *state);
typedef int (*kg_phases_fn)(void *state, const char **names, double *ns, int cap);

#endif
