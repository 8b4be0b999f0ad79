/*
 * paired_cache_core.h - the Paired Replacement cache itself, shared by the templates that update
 * one: paired_cache.c (the cache update alone) and moe_step.c (the end-to-end MoE step).
 *
 * Holds the cache object (kgen_paired_cache: pools, packed slots, slot_of, mask), the row copies,
 * the mask diff, the growth of the slot buffers, the paired update and the hybrid's gather, the
 * variant's update pc_update(cache, mask) and the public kgen_paired_cache_new/free.  The layouts
 * and the algorithm are described in paired_cache.c's banner.  Tunables (macros with defaults, as
 * every template's): GRAIN, THRESHOLD, SCHEDULE, COPY, PREFETCH, THREADS, TAU.
 * The expander inlines this file into each template that includes it (once), so a variant stays
 * one standalone source.
 */
#ifndef KG_PAIRED_CACHE_CORE_H
#define KG_PAIRED_CACHE_CORE_H

#include "kg_util.h"

#include <stdint.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#else
static inline int omp_get_max_threads(void) { return 1; }
#endif
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#ifndef GRAIN
#define GRAIN 16
#endif
#ifndef THRESHOLD
#define THRESHOLD 8
#endif
#define SCHEDULE_static 0
#define SCHEDULE_dynamic 1
#ifndef SCHEDULE
#define SCHEDULE SCHEDULE_static
#endif
#define COPY_memcpy 0
#define COPY_loop 1
#define COPY_nt 2
#ifndef COPY
#define COPY COPY_memcpy
#endif
#ifndef PREFETCH
#define PREFETCH 0
#endif
#ifndef THREADS
#define THREADS 1
#endif
#ifndef TAU
#define TAU 0 /* hybrid: rebuild when k > TAU/100 * m; 0 = always the paired update */
#endif

#if SCHEDULE == SCHEDULE_dynamic
#define PC_SCHEDULE dynamic
#else
#define PC_SCHEDULE static
#endif

#define PC_MASKS 32     /* length of the precomputed mask chain */

/* The public object (kgen/kgen.h's opaque kgen_paired_cache).  Its layout depends on no
 * tunable: every variant updates any cache, so the library's dispatch may pick a different
 * variant for each update. */
typedef struct kgen_paired_cache {
  int64_t N, hidden, up_cols, gate_cols;
  const float *up, *down_T, *gate; /* pools, borrowed; gate is NULL when gate_cols == 0 */
  int64_t m, cap;
  float *gu;        /* [cap, gate_cols + up_cols] */
  float *down;      /* [cap, hidden] */
  int32_t *indices; /* [cap] */
  int32_t *slot_of; /* [N], -1 when the row is not cached */
  uint8_t *mask;    /* [N], the cache's current mask */
  int32_t *added, *removed; /* scratch [N] */
} kgen_paired_cache;
typedef kgen_paired_cache pc_cache;

/* ---- row copies ---------------------------------------------------------------------------- */

static inline void pc_copy(float *restrict dst, const float *restrict src, int64_t n) {
#if COPY == COPY_memcpy
  memcpy(dst, src, (size_t)n * sizeof(float));
#elif COPY == COPY_nt && defined(__AVX512F__)
  int64_t j = 0;
  if (((uintptr_t)dst & 63) == 0)
    for (; j + 16 <= n; j += 16) _mm512_stream_ps(dst + j, _mm512_loadu_ps(src + j));
  for (; j < n; j++) dst[j] = src[j];
#elif defined(__AVX512F__)
  int64_t j = 0;
  for (; j + 64 <= n; j += 64) {
    __m512 a = _mm512_loadu_ps(src + j), b = _mm512_loadu_ps(src + j + 16);
    __m512 c = _mm512_loadu_ps(src + j + 32), d = _mm512_loadu_ps(src + j + 48);
    _mm512_storeu_ps(dst + j, a);
    _mm512_storeu_ps(dst + j + 16, b);
    _mm512_storeu_ps(dst + j + 32, c);
    _mm512_storeu_ps(dst + j + 48, d);
  }
  for (; j < n; j++) dst[j] = src[j];
#else
  for (int64_t j = 0; j < n; j++) dst[j] = src[j];
#endif
}

static inline void pc_prefetch_row(const float *row, int64_t n) {
#if defined(__x86_64__)
  for (int64_t j = 0; j < n; j += 16) _mm_prefetch((const char *)(row + j), _MM_HINT_T0);
#else
  (void)row, (void)n;
#endif
}

/* Copy pool row `idx` into `slot` and record it. */
static inline void pc_fill_slot(pc_cache *c, int64_t slot, int32_t idx) {
  float *gu = c->gu + slot * (c->gate_cols + c->up_cols);
  if (c->gate) pc_copy(gu, c->gate + idx * c->gate_cols, c->gate_cols);
  pc_copy(gu + c->gate_cols, c->up + idx * c->up_cols, c->up_cols);
  pc_copy(c->down + slot * c->hidden, c->down_T + idx * c->hidden, c->hidden);
  c->indices[slot] = idx;
}

/* Move the cached row in slot `from` to slot `to` (both < m). */
static inline void pc_move_slot(pc_cache *c, int64_t to, int64_t from) {
  int64_t w = c->gate_cols + c->up_cols;
  pc_copy(c->gu + to * w, c->gu + from * w, w);
  pc_copy(c->down + to * c->hidden, c->down + from * c->hidden, c->hidden);
  c->indices[to] = c->indices[from];
  c->slot_of[c->indices[to]] = (int32_t)to;
}

static inline void pc_prefetch_pool_row(const pc_cache *c, int32_t idx) {
  if (c->gate) pc_prefetch_row(c->gate + idx * c->gate_cols, c->gate_cols);
  pc_prefetch_row(c->up + idx * c->up_cols, c->up_cols);
  pc_prefetch_row(c->down_T + idx * c->hidden, c->hidden);
}

/* added = new & ~old, removed = old & ~new, both ascending.  The masks are compared 64 bytes
 * at a time with AVX-512BW (8 with plain C), visiting only the bytes that differ. */
static void pc_diff(int64_t N, const uint8_t *old, const uint8_t *nw, int32_t *added,
                    int64_t *na, int32_t *removed, int64_t *nr) {
  int64_t a = 0, r = 0, j = 0;
#if defined(__AVX512BW__)
  for (; j + 64 <= N; j += 64) {
    __mmask64 d = _mm512_cmpneq_epi8_mask(_mm512_loadu_si512(old + j), _mm512_loadu_si512(nw + j));
    while (d) {
      int64_t t = j + __builtin_ctzll(d);
      d &= d - 1;
      if (nw[t]) added[a++] = (int32_t)t;
      else removed[r++] = (int32_t)t;
    }
  }
#endif
  for (; j + 8 <= N; j += 8) {
    uint64_t x, y;
    memcpy(&x, old + j, 8);
    memcpy(&y, nw + j, 8);
    if (x == y) continue;
    for (int64_t t = j; t < j + 8; t++)
      if (old[t] != nw[t]) {
        if (nw[t]) added[a++] = (int32_t)t;
        else removed[r++] = (int32_t)t;
      }
  }
  for (; j < N; j++)
    if (old[j] != nw[j]) {
      if (nw[j]) added[a++] = (int32_t)j;
      else removed[r++] = (int32_t)j;
    }
  *na = a;
  *nr = r;
}

/* Grow the cache's slot buffers to hold `need` rows (doubling, at most N); the rows in slots
 * 0..m-1 are kept.  Returns 0, or -1 when out of memory (the cache is then unchanged). */
static int pc_reserve(pc_cache *c, int64_t need) {
  if (need <= c->cap) return 0;
  int64_t cap = c->cap * 2 > need ? c->cap * 2 : need;
  if (cap < 64) cap = 64;
  if (cap > c->N) cap = c->N;
  const int64_t w = c->gate_cols + c->up_cols;
  float *gu = kg_alloc(sizeof(float) * (size_t)(cap * w));
  float *down = kg_alloc(sizeof(float) * (size_t)(cap * c->hidden));
  int32_t *indices = kg_alloc(sizeof(int32_t) * (size_t)cap);
  if (!gu || !down || !indices) {
    free(gu), free(down), free(indices);
    return -1;
  }
  if (c->m) {
    memcpy(gu, c->gu, sizeof(float) * (size_t)(c->m * w));
    memcpy(down, c->down, sizeof(float) * (size_t)(c->m * c->hidden));
    memcpy(indices, c->indices, sizeof(int32_t) * (size_t)c->m);
  }
  free(c->gu), free(c->down), free(c->indices);
  c->gu = gu, c->down = down, c->indices = indices, c->cap = cap;
  return 0;
}

/* ---- the variant: paired update --------------------------------------------------------------- */

/* Update cache c to mask nw (values 0 or 1) by paired replacement, given its diff.  Returns 0,
 * or -1 when out of memory for the grown cache (the cache is then unchanged). */
static int pc_update_paired(pc_cache *c, const uint8_t *nw, const int32_t *added, int64_t na,
                            const int32_t *removed, int64_t nr) {
  if (pc_reserve(c, c->m + na - nr)) return -1;
  int64_t pairs = na < nr ? na : nr;

#if THREADS > 1
#pragma omp parallel for schedule(PC_SCHEDULE, GRAIN) if (pairs >= THRESHOLD) num_threads(kg_threads(THREADS))
#endif
  for (int64_t i = 0; i < pairs; i++) {
#if PREFETCH > 0
    if (i + PREFETCH < pairs) pc_prefetch_pool_row(c, added[i + PREFETCH]);
#endif
    int32_t slot = c->slot_of[removed[i]];
    pc_fill_slot(c, slot, added[i]);
    c->slot_of[added[i]] = slot;
    c->slot_of[removed[i]] = -1;
  }
  /* Leftover additions are appended. */
  for (int64_t i = pairs; i < na; i++) {
    pc_fill_slot(c, c->m, added[i]);
    c->slot_of[added[i]] = (int32_t)c->m;
    c->m++;
  }
  /* Each leftover removal's gap takes the last row. */
  for (int64_t i = pairs; i < nr; i++) {
    int64_t gap = c->slot_of[removed[i]], last = c->m - 1;
    c->slot_of[removed[i]] = -1;
    if (gap != last) pc_move_slot(c, gap, last);
    c->m--;
  }
#if COPY == COPY_nt && defined(__AVX512F__)
  _mm_sfence();
#endif
  (void)nw;
  return 0;
}

#if TAU > 0
/* The hybrid's rebuild: the slots of the paired rules (indices only), then every active row
 * gathered from the pools into its slot. */
static int pc_update_gather(pc_cache *c, const int32_t *added, int64_t na, const int32_t *removed,
                            int64_t nr) {
  if (pc_reserve(c, c->m + na - nr)) return -1;
  int64_t pairs = na < nr ? na : nr;
  for (int64_t i = 0; i < pairs; i++) {
    int32_t slot = c->slot_of[removed[i]];
    c->indices[slot] = added[i];
    c->slot_of[added[i]] = slot;
    c->slot_of[removed[i]] = -1;
  }
  for (int64_t i = pairs; i < na; i++) {
    c->indices[c->m] = added[i];
    c->slot_of[added[i]] = (int32_t)c->m;
    c->m++;
  }
  for (int64_t i = pairs; i < nr; i++) {
    int64_t gap = c->slot_of[removed[i]], last = c->m - 1;
    c->slot_of[removed[i]] = -1;
    if (gap != last) {
      c->indices[gap] = c->indices[last];
      c->slot_of[c->indices[gap]] = (int32_t)gap;
    }
    c->m--;
  }
  const int64_t m = c->m, w = c->gate_cols + c->up_cols;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(kg_threads(omp_get_max_threads()))
#endif
  for (int64_t j = 0; j < m; j++) {
    const int64_t idx = c->indices[j];
    float *gu = c->gu + j * w;
    if (c->gate) memcpy(gu, c->gate + idx * c->gate_cols, sizeof(float) * (size_t)c->gate_cols);
    memcpy(gu + c->gate_cols, c->up + idx * c->up_cols, sizeof(float) * (size_t)c->up_cols);
    memcpy(c->down + j * c->hidden, c->down_T + idx * c->hidden, sizeof(float) * (size_t)c->hidden);
  }
  return 0;
}
#endif

/* The variant's update to mask nw (values 0 or 1, not checked): paired, or for the hybrid
 * (TAU > 0) the gather when k > TAU% of m.  Returns KG_API_OK or KG_API_ENOMEM (unchanged). */
static int pc_update(pc_cache *c, const uint8_t *nw) {
  int64_t na, nr;
  pc_diff(c->N, c->mask, nw, c->added, &na, c->removed, &nr);
  int rc;
#if TAU > 0
  if (100 * (na + nr) > TAU * c->m) rc = pc_update_gather(c, c->added, na, c->removed, nr);
  else
#endif
    rc = pc_update_paired(c, nw, c->added, na, c->removed, nr);
  if (rc) return KG_API_ENOMEM;
  /* The cache's mask changes only where the update did. */
  for (int64_t i = 0; i < na; i++) c->mask[c->added[i]] = 1;
  for (int64_t i = 0; i < nr; i++) c->mask[c->removed[i]] = 0;
  return KG_API_OK;
}

/* ---- the public API (kgen/kgen.h) ---------------------------------------------------------- */

/** Free a cache (NULL: nothing); the pools stay the caller's. */
void KG_NAME(kgen_paired_cache_free)(kgen_paired_cache *c) {
  if (!c) return;
  free(c->gu), free(c->down), free(c->indices), free(c->slot_of), free(c->mask);
  free(c->added), free(c->removed);
  free(c);
}

/**
 * An empty cache (m = 0, every mask bit 0) over the pools up[N, up_cols], down_t[N, hidden] and
 * gate[N, gate_cols] (NULL when gate_cols == 0), borrowed for the cache's lifetime.  NULL on a
 * bad size (N, hidden, up_cols < 1, gate_cols < 0, N > 2^31 - 1), a NULL pool, or no memory.
 */
kgen_paired_cache *KG_NAME(kgen_paired_cache_new)(int64_t N, int64_t hidden, int64_t up_cols,
                                                  int64_t gate_cols, const float *up,
                                                  const float *down_t, const float *gate) {
  if (N < 1 || N > INT32_MAX || hidden < 1 || up_cols < 1 || gate_cols < 0 || !up || !down_t ||
      (gate_cols > 0 && !gate))
    return NULL;
  kgen_paired_cache *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  c->N = N, c->hidden = hidden, c->up_cols = up_cols, c->gate_cols = gate_cols;
  c->up = up, c->down_T = down_t, c->gate = gate_cols > 0 ? gate : NULL;
  c->slot_of = kg_alloc(sizeof(int32_t) * (size_t)N);
  c->mask = kg_alloc((size_t)N);
  c->added = kg_alloc(sizeof(int32_t) * (size_t)N);
  c->removed = kg_alloc(sizeof(int32_t) * (size_t)N);
  if (!c->slot_of || !c->mask || !c->added || !c->removed) {
    KG_NAME(kgen_paired_cache_free)(c);
    return NULL;
  }
  for (int64_t j = 0; j < N; j++) c->slot_of[j] = -1;
  return c;
}

#endif /* KG_PAIRED_CACHE_CORE_H */
