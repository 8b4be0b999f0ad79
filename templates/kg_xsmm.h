/*
 * kg_xsmm.h - LIBXSMM (Debian libxsmm-dev 1.17) as a baseline for templates, header-only (inlined
 * by the expander).
 *
 * Debian ships LIBXSMM as static archives only; the build links /usr/lib/libxsmm.a whole into a
 * loadable module, libkg_xsmm.so (gen/xsmm/kg_xsmm_module.c, CMakeLists.txt), whose path kgen puts
 * in $KGEN_LIBXSMM.  It is dlopen'ed RTLD_LOCAL once per module, lazily (a baseline's first,
 * warm-up call); a failure aborts with a message on stderr (a baseline cannot return an error; the
 * harness records the abort as the baseline's failure).  LIBXSMM's normal small-matrix API:
 * libxsmm_smmdispatch JIT-generates a kernel for one (m, n, k, lda, ldb, ldc, alpha, beta)
 * (column-major; Heinecke et al., "LIBXSMM: accelerating small matrix multiplications by runtime
 * code generation", SC'16), called as kernel(a, b, c).
 */
#ifndef KG_XSMM_H
#define KG_XSMM_H

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

/* libxsmm_smmfunction: void (*)(const float *a, const float *b, float *c, ...) */
typedef void (*kg_xsmm_kernel)(const float *a, const float *b, float *c, ...);
/* libxsmm_smmdispatch(m, n, k, lda, ldb, ldc, alpha, beta, flags, prefetch); libxsmm_blasint is
 * int (Debian's build: LP64 BLAS interface) */
typedef kg_xsmm_kernel (*kg_xsmm_dispatch_fn)(int m, int n, int k, const int *lda, const int *ldb, const int *ldc,
                                              const float *alpha, const float *beta, const int *flags,
                                              const int *prefetch);

static kg_xsmm_dispatch_fn kg_xsmm_dispatch; /* one per module; NULL until kg_xsmm_load */

/** Resolve LIBXSMM (once); aborts with a message when the module is missing. */
static inline kg_xsmm_dispatch_fn kg_xsmm_load(void) {
  if (kg_xsmm_dispatch) return kg_xsmm_dispatch;
  const char *path = getenv("KGEN_LIBXSMM");
  if (!path || !*path) {
    fprintf(stderr, "kg_xsmm: KGEN_LIBXSMM is not set (kgen was built without libxsmm-dev: install it and "
                    "rebuild)\n");
    abort();
  }
  void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    fprintf(stderr, "kg_xsmm: dlopen %s: %s\n", path, dlerror());
    abort();
  }
  kg_xsmm_dispatch = (kg_xsmm_dispatch_fn)dlsym(h, "libxsmm_smmdispatch");
  if (!kg_xsmm_dispatch) {
    fprintf(stderr, "kg_xsmm: %s lacks libxsmm_smmdispatch\n", path);
    abort();
  }
  return kg_xsmm_dispatch;
}

#endif
