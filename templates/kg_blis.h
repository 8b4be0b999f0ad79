/*
 * kg_blis.h - BLIS (Debian libblis-dev, libblis.so.4) as a baseline for templates, header-only
 * (inlined by the expander), dlopen'ed as templates/kg_blas.h does OpenBLAS.
 *
 * BLIS's native typed API (bli_sgemm: general row and column strides, docs/BLISTypedAPI.md) rather
 * than its CBLAS layer: the process already has OpenBLAS's cblas_sgemm and sgemm_ in its global
 * scope, and BLIS's CBLAS wrappers calling sgemm_ could bind to OpenBLAS's; bli_* names are BLIS's
 * alone.  Loaded RTLD_LOCAL once per module (lazily, at a baseline's first, warm-up call); a
 * failure aborts with a message on stderr (a baseline cannot return an error; the harness records
 * the abort as the baseline's failure).  The Debian build threads with OpenMP (its GOMP_* calls
 * resolve to the process's libomp).
 */
#ifndef KG_BLIS_H
#define KG_BLIS_H

#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* bli_sgemm(transa, transb, m, n, k, alpha, a, rsa, csa, b, rsb, csb, beta, c, rsc, csc):
 * trans_t is an enum (BLIS_NO_TRANSPOSE = 0), dim_t and inc_t are 64-bit (gint_t). */
typedef void (*kg_bli_sgemm_fn)(int ta, int tb, int64_t m, int64_t n, int64_t k, float *alpha, float *a, int64_t rsa,
                                int64_t csa, float *b, int64_t rsb, int64_t csb, float *beta, float *c, int64_t rsc,
                                int64_t csc);

/** The BLIS entry points; NULL until kg_blis_load. */
typedef struct kg_blis {
  kg_bli_sgemm_fn sgemm;
  void (*set_threads)(int64_t); /* bli_thread_set_num_threads */
} kg_blis;

static kg_blis kg_blis_lib; /* one per module */

/** Resolve BLIS (once); aborts with a message when it is not installed or lacks the symbols. */
static inline kg_blis *kg_blis_load(void) {
  if (kg_blis_lib.sgemm) return &kg_blis_lib;
  void *h = dlopen("libblis.so.4", RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    fprintf(stderr, "kg_blis: dlopen libblis.so.4: %s (install libblis-dev)\n", dlerror());
    abort();
  }
  kg_blis_lib.set_threads = (void (*)(int64_t))dlsym(h, "bli_thread_set_num_threads");
  kg_blis_lib.sgemm = (kg_bli_sgemm_fn)dlsym(h, "bli_sgemm");
  if (!kg_blis_lib.sgemm || !kg_blis_lib.set_threads) {
    fprintf(stderr, "kg_blis: libblis.so.4 lacks bli_sgemm or bli_thread_set_num_threads\n");
    abort();
  }
  return &kg_blis_lib;
}

#endif
