/*
 * kg_blas.h - OpenBLAS as a baseline for templates, header-only (inlined by the expander).
 *
 * Two instances: the process's (its default dispatch; loaded globally when the process lacks
 * it) and a private one forced to the SkylakeX (AVX-512) kernels.  OpenBLAS reads
 * OPENBLAS_CORETYPE once, when it initialises, and the process's copy already has, so the
 * private copy is loaded with dlmopen into a new link-map namespace with the variable set; the
 * environment is restored afterwards.  Resolution is lazy (a baseline's first, warm-up call)
 * and failures abort with a message on stderr: a baseline cannot return an error, and the
 * harness records the abort as the baseline's failure.
 */
#ifndef KG_BLAS_H
#define KG_BLAS_H

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* dlmopen and RTLD_DEFAULT are GNU extensions; gnu17 without _GNU_SOURCE does not declare them. */
#ifndef LM_ID_NEWLM
extern void *dlmopen(long nsid, const char *file, int mode);
#define LM_ID_NEWLM (-1L)
#endif
#ifndef RTLD_DEFAULT
#define RTLD_DEFAULT ((void *)0)
#endif

enum { KG_BLAS_ROW_MAJOR = 101, KG_BLAS_NO_TRANS = 111, KG_BLAS_TRANS = 112 };

typedef void (*kg_sgemm_fn)(int order, int ta, int tb, int m, int n, int k, float alpha,
                            const float *a, int lda, const float *b, int ldb, float beta, float *c,
                            int ldc);
typedef void (*kg_sgemv_fn)(int order, int ta, int m, int n, float alpha, const float *a, int lda,
                            const float *x, int incx, float beta, float *y, int incy);

/** One OpenBLAS instance; all NULL until resolved.  Lives in a template's state. */
typedef struct kg_blas {
  kg_sgemm_fn sgemm;
  kg_sgemv_fn sgemv;
  void (*set_threads)(int);
} kg_blas;

/* Resolve the entry points in h, checking the core name when want_core is set. */
static inline void kg_blas_resolve(kg_blas *bl, void *h, const char *want_core) {
  char *(*corename)(void) = (char *(*)(void))dlsym(h, "openblas_get_corename");
  bl->sgemm = (kg_sgemm_fn)dlsym(h, "cblas_sgemm");
  bl->sgemv = (kg_sgemv_fn)dlsym(h, "cblas_sgemv");
  bl->set_threads = (void (*)(int))dlsym(h, "openblas_set_num_threads");
  if (!bl->sgemm || !bl->sgemv || !bl->set_threads ||
      (want_core && (!corename || strcmp(corename(), want_core) != 0))) {
    fprintf(stderr, "kg_blas: OpenBLAS not usable (core %s, wanted %s)\n",
            corename ? corename() : "?", want_core ? want_core : "any");
    abort();
  }
}

/** The process's OpenBLAS (default dispatch). */
static inline void kg_blas_default(kg_blas *bl) {
  if (bl->sgemm) return;
  /* RTLD_DEFAULT is a null handle: test the lookup, not the handle. */
  int in_process = dlsym(RTLD_DEFAULT, "cblas_sgemm") != NULL;
  void *h = in_process ? RTLD_DEFAULT : dlopen("libopenblas.so.0", RTLD_NOW | RTLD_GLOBAL);
  if (!in_process && !h) {
    fprintf(stderr, "kg_blas: dlopen libopenblas.so.0: %s\n", dlerror());
    abort();
  }
  kg_blas_resolve(bl, h, NULL);
}

/** A private OpenBLAS instance on its SkylakeX kernels (checked with openblas_get_corename). */
static inline void kg_blas_skylakex(kg_blas *bl) {
  if (bl->sgemm) return;
  const char *old = getenv("OPENBLAS_CORETYPE");
  char *saved = old ? strdup(old) : NULL;
  setenv("OPENBLAS_CORETYPE", "SkylakeX", 1);
  void *h = dlmopen(LM_ID_NEWLM, "libopenblas.so.0", RTLD_NOW | RTLD_LOCAL);
  if (saved) setenv("OPENBLAS_CORETYPE", saved, 1);
  else unsetenv("OPENBLAS_CORETYPE");
  free(saved);
  if (!h) {
    fprintf(stderr, "kg_blas: dlmopen libopenblas.so.0: %s\n", dlerror());
    abort();
  }
  kg_blas_resolve(bl, h, "SkylakeX");
}

#endif
