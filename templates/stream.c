/*
 * stream.c - STREAM kernels (McCalpin, "Memory Bandwidth and Machine Balance", 1995) on float32
 * arrays: copy c = a, scale b = s*c, add c = a + b, triad a = b + s*c.  The problem's `op`
 * dimension picks the operation (0..3), `n` the array length, and the optional `passes` (default
 * 1) how many times one call repeats it.  Each thread repeats its own slice inside one parallel
 * region, so a cache-sized array stays in that thread's cache and one call outlasts the OpenMP
 * fork and join: without it, a 2-thread pass over 512 KB of L2 measures the threading.
 *
 * Parameters: VEC floats per vector (1 scalar, 8 AVX2, 16 AVX-512; GCC vector extensions, so
 * any width compiles anywhere), UNROLL vectors per iteration (the unrolled bodies come from Lua
 * slots), NT non-temporal stores (AVX/AVX-512 streaming stores; plain stores where the ISA lacks
 * them), THREADS OpenMP threads (static split in whole iterations).
 */
#include "kg_util.h"

#include <stdint.h>
#include <string.h>
#if defined(__AVX__) || defined(__AVX512F__)
#include <immintrin.h>
#endif
#ifdef _OPENMP
#include <omp.h>
#endif

#ifndef VEC
#define VEC 1
#endif
#ifndef UNROLL
#define UNROLL 1
#endif
#ifndef NT
#define NT 0
#endif
#ifndef THREADS
#define THREADS 1
#endif

#define STREAM_STEP (VEC * UNROLL)
#define STREAM_SCALAR 3.0f

#if VEC == 1
typedef float vf;
#else
typedef float vf __attribute__((vector_size(VEC * 4), aligned(4), may_alias));
#endif

#define VLOAD(p) (*(const vf *)(p))

/* Store one vector; streaming store when NT is set and the ISA has one for this width. */
static inline void vstore(float *p, vf v) {
#if NT && VEC == 16 && defined(__AVX512F__)
  _mm512_stream_ps(p, (__m512)v);
#elif NT && VEC == 8 && defined(__AVX__)
  _mm256_stream_ps(p, (__m256)v);
#else
  *(vf *)p = v;
#endif
}

typedef struct stream_state {
  int op;
  size_t n, passes;
  float *a, *b, *c;
  uint64_t seed;
  double rtol, atol;
} stream_state;

/* One operation over [lo, hi): unrolled vector body, then a scalar tail. */
static void stream_range(int op, float *restrict a, float *restrict b, float *restrict c, size_t lo,
                         size_t hi) {
  const float s = STREAM_SCALAR;
  size_t i = lo;
  switch (op) {
  case 0:
    for (; i + STREAM_STEP <= hi; i += STREAM_STEP) {
      /*$slot copy_body
      for u = 0, UNROLL - 1 do emit("vf t%d = VLOAD(a + i + %d);", u, u * VEC) end
      for u = 0, UNROLL - 1 do emit("vstore(c + i + %d, t%d);", u * VEC, u) end
      $*/
      for (int u = 0; u < UNROLL; u++) vstore(c + i + u * VEC, VLOAD(a + i + u * VEC));
      /*$end*/
    }
    for (; i < hi; i++) c[i] = a[i];
    break;
  case 1:
    for (; i + STREAM_STEP <= hi; i += STREAM_STEP) {
      /*$slot scale_body
      for u = 0, UNROLL - 1 do emit("vf t%d = s * VLOAD(c + i + %d);", u, u * VEC) end
      for u = 0, UNROLL - 1 do emit("vstore(b + i + %d, t%d);", u * VEC, u) end
      $*/
      for (int u = 0; u < UNROLL; u++) vstore(b + i + u * VEC, s * VLOAD(c + i + u * VEC));
      /*$end*/
    }
    for (; i < hi; i++) b[i] = s * c[i];
    break;
  case 2:
    for (; i + STREAM_STEP <= hi; i += STREAM_STEP) {
      /*$slot add_body
      for u = 0, UNROLL - 1 do emit("vf t%d = VLOAD(a + i + %d) + VLOAD(b + i + %d);", u, u * VEC, u * VEC) end
      for u = 0, UNROLL - 1 do emit("vstore(c + i + %d, t%d);", u * VEC, u) end
      $*/
      for (int u = 0; u < UNROLL; u++) vstore(c + i + u * VEC, VLOAD(a + i + u * VEC) + VLOAD(b + i + u * VEC));
      /*$end*/
    }
    for (; i < hi; i++) c[i] = a[i] + b[i];
    break;
  default:
    for (; i + STREAM_STEP <= hi; i += STREAM_STEP) {
      /*$slot triad_body
      for u = 0, UNROLL - 1 do emit("vf t%d = VLOAD(b + i + %d) + s * VLOAD(c + i + %d);", u, u * VEC, u * VEC) end
      for u = 0, UNROLL - 1 do emit("vstore(a + i + %d, t%d);", u * VEC, u) end
      $*/
      for (int u = 0; u < UNROLL; u++) vstore(a + i + u * VEC, VLOAD(b + i + u * VEC) + s * VLOAD(c + i + u * VEC));
      /*$end*/
    }
    for (; i < hi; i++) a[i] = b[i] + s * c[i];
    break;
  }
}

/* `passes` times over [lo, hi).  Every operation is idempotent on its slice (no output is also an
 * input), so the passes need no barrier; the empty asm keeps the compiler from merging them. */
static void stream_passes(const stream_state *st, size_t lo, size_t hi) {
  for (size_t p = 0; p < st->passes; p++) {
    stream_range(st->op, st->a, st->b, st->c, lo, hi);
    __asm__ volatile("" ::: "memory");
  }
}

/* The variant: split n in whole STREAM_STEP blocks over THREADS threads. */
static void stream_variant(stream_state *st) {
#if THREADS > 1 && defined(_OPENMP)
#pragma omp parallel num_threads(THREADS)
  {
    size_t blocks = st->n / STREAM_STEP, t = (size_t)omp_get_thread_num(), nt = (size_t)omp_get_num_threads();
    size_t lo = blocks * t / nt * STREAM_STEP;
    size_t hi = t + 1 == nt ? st->n : blocks * (t + 1) / nt * STREAM_STEP;
    stream_passes(st, lo, hi);
  }
#else
  stream_passes(st, 0, st->n);
#endif
#if NT && (defined(__AVX__) || defined(__AVX512F__))
  _mm_sfence(); /* streaming stores are weakly ordered */
#endif
}

/* The oracle: plain scalar loops. */
static void stream_reference(int op, float *a, float *b, float *c, size_t n) {
  const float s = STREAM_SCALAR;
  for (size_t i = 0; i < n; i++) {
    switch (op) {
    case 0: c[i] = a[i]; break;
    case 1: b[i] = s * c[i]; break;
    case 2: c[i] = a[i] + b[i]; break;
    default: a[i] = b[i] + s * c[i]; break;
    }
  }
}

static void stream_seed(stream_state *st) {
  uint64_t s = st->seed;
  kg_fill_float(st->a, st->n, &s);
  kg_fill_float(st->b, st->n, &s);
  kg_fill_float(st->c, st->n, &s);
}

void *kg_create(const kg_problem *p) {
  int64_t n = kg_dim(p, "n", -1), op = kg_dim(p, "op", 3), passes = kg_dim(p, "passes", 1);
  if (n < 1 || op < 0 || op > 3 || passes < 1) return NULL;
  stream_state *st = calloc(1, sizeof *st);
  if (!st) return NULL;
  st->op = (int)op;
  st->n = (size_t)n;
  st->passes = (size_t)passes;
  st->seed = p->seed;
  st->rtol = p->rtol;
  st->atol = p->atol;
  st->a = kg_alloc(st->n * sizeof(float));
  st->b = kg_alloc(st->n * sizeof(float));
  st->c = kg_alloc(st->n * sizeof(float));
  if (!st->a || !st->b || !st->c) {
    free(st->a);
    free(st->b);
    free(st->c);
    free(st);
    return NULL;
  }
  stream_seed(st);
  return st;
}

void kg_run(void *state) { stream_variant(state); }

int kg_verify(void *state, char *msg, size_t cap) {
  stream_state *st = state;
  size_t bytes = st->n * sizeof(float);
  float *ra = kg_alloc(bytes), *rb = kg_alloc(bytes), *rc = kg_alloc(bytes);
  int bad = 0;
  if (!ra || !rb || !rc) {
    snprintf(msg, cap, "out of memory for the reference arrays");
    bad = 1;
  } else {
    stream_seed(st);
    memcpy(ra, st->a, bytes);
    memcpy(rb, st->b, bytes);
    memcpy(rc, st->c, bytes);
    stream_variant(st);
    stream_reference(st->op, ra, rb, rc, st->n);
    bad = kg_compare_float("a", st->a, ra, st->n, st->rtol, st->atol, msg, cap) ||
          kg_compare_float("b", st->b, rb, st->n, st->rtol, st->atol, msg, cap) ||
          kg_compare_float("c", st->c, rc, st->n, st->rtol, st->atol, msg, cap);
  }
  free(ra);
  free(rb);
  free(rc);
  return bad;
}

void kg_destroy(void *state) {
  stream_state *st = state;
  if (!st) return;
  free(st->a);
  free(st->b);
  free(st->c);
  free(st);
}

/* Baseline: libc memcpy of the n floats of a into c, `passes` times. */
void kg_baseline_memcpy(void *state) {
  stream_state *st = state;
  for (size_t p = 0; p < st->passes; p++) {
    memcpy(st->c, st->a, st->n * sizeof(float));
    __asm__ volatile("" ::: "memory");
  }
}
