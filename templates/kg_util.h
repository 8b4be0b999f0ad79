/*
 * kg_util.h - small helpers shared by templates: dimension lookup, a seeded generator,
 * aligned allocation, tolerant comparison.  Header-only; the expander inlines it, so
 * emitted variants stay standalone.
 */
#ifndef KG_UTIL_H
#define KG_UTIL_H

#include "kg_abi.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__linux__)
#include <sys/mman.h>
#endif

/*
 * Thread cap of this variant: a variant with THREADS threads runs kg_threads(THREADS) =
 * min(THREADS, cap); the cap is unlimited unless the library's dispatch sets it (usable cores,
 * OMP_NUM_THREADS) through KG_NAME(kg_set_thread_cap).
 */
static int kg_thread_cap_ = 1 << 30;
static inline int kg_threads(int threads) { return threads < kg_thread_cap_ ? threads : kg_thread_cap_; }
/** Cap this variant's threads at n (n < 1: 1). */
void KG_NAME(kg_set_thread_cap)(int n);
void KG_NAME(kg_set_thread_cap)(int n) { kg_thread_cap_ = n < 1 ? 1 : n; }

#ifndef KG_PUBLIC_ONLY
/** The harness ABI this template speaks (kg_abi.h); kgen refuses a template without it or with
 *  another version.  Data, not code: the harness reads it without running the template. */
extern const int kg_abi_version;
const int kg_abi_version = KG_ABI_VERSION;
#endif

/** Value of dimension `name` in p, or `fallback` when the problem does not define it. */
static inline int64_t kg_dim(const kg_problem *p, const char *name, int64_t fallback) {
  for (int i = 0; i < p->ndims; i++)
    if (strcmp(p->dim_names[i], name) == 0) return p->dims[i];
  return fallback;
}

/** splitmix64 (Steele, Lea, Flood 2014): a tiny seeded generator for test inputs. */
static inline uint64_t kg_rand_next(uint64_t *s) {
  uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/** Uniform float in [-1, 1). */
static inline float kg_rand_float(uint64_t *s) {
  return (float)((double)(kg_rand_next(s) >> 11) * (2.0 / 9007199254740992.0) - 1.0);
}

/** Fill x[0..n) with uniform floats in [-1, 1). */
static inline void kg_fill_float(float *x, size_t n, uint64_t *s) {
  for (size_t i = 0; i < n; i++) x[i] = kg_rand_float(s);
}

/**
 * 64-byte aligned, zeroed allocation of `bytes`; free with free().  NULL on failure.
 * Blocks of 4 MB and more are 2 MB aligned and ask for transparent huge pages, which makes
 * first touch of large pools an order of magnitude cheaper.
 */
static inline void *kg_alloc(size_t bytes) {
  size_t align = bytes >= ((size_t)4 << 20) ? ((size_t)2 << 20) : 64;
  size_t n = (bytes + align - 1) & ~(align - 1);
  if (n == 0) n = align;
  void *p = aligned_alloc(align, n);
  if (!p) return NULL;
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  if (align > 64) madvise(p, n, MADV_HUGEPAGE);
#endif
  memset(p, 0, n);
  return p;
}

/**
 * Compare got[0..n) with want[0..n): |got - want| <= atol + rtol * |want| (NaN never passes).
 * Returns 0 when all pass; otherwise writes the first mismatch into msg and returns 1.
 */
static inline int kg_compare_float(const char *what, const float *got, const float *want,
                                   size_t n, double rtol, double atol, char *msg, size_t cap) {
  for (size_t i = 0; i < n; i++) {
    double d = fabs((double)got[i] - (double)want[i]);
    if (!(d <= atol + rtol * fabs((double)want[i]))) {
      snprintf(msg, cap, "%s[%zu] = %.9g, expected %.9g (|diff| %.3g > atol %.3g + rtol %.3g)",
               what, i, (double)got[i], (double)want[i], d, atol, rtol);
      return 1;
    }
  }
  return 0;
}

#endif
