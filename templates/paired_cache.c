/*
 * paired_cache.c - Paired Replacement weight cache for sparse / MoE inference.
 *
 * Pools, float32 row-major: up[N, up_cols], down_T[N, hidden] (the down projection stored
 * transposed, one row per neuron) and optionally gate[N, gate_cols].  The cache keeps the m
 * active rows packed for the readers:
 *   gu[m, gate_cols + up_cols]   gate row then up row, concatenated per slot
 *   down[m, hidden]              = down_T rows: the transpose of the [hidden, m] down projection
 *   indices[m]                   the pool row held by each slot; slot_of[N] maps back (-1: none)
 *
 * An update takes a new mask: added = new AND NOT old, removed = old AND NOT new (both
 * ascending), k = |added| + |removed|.  The paired update overwrites the slot of removed[i] with
 * pool row added[i], appends leftover additions and fills the gap of each leftover removal with
 * the last row.  It writes max(|added|, |removed|) rows, the lower bound.  The baseline gathers
 * every active row from the pools (full rebuild); the hybrid variants (TAU > 0) rebuild instead
 * of pairing when k > TAU% of m.
 *
 * Tunables: the OpenMP grain and schedule of the pair loop and the pair count from which it runs
 * in parallel (THRESHOLD), the row-copy method, the software prefetch distance in pairs, threads,
 * and the hybrid's rebuild threshold TAU (percent of m; 0 never rebuilds).
 * The mask sequence is precomputed in kg_create (outside the timed region): from a seeded random
 * m-subset, each step turns k/2 active rows off and k/2 inactive rows on; kg_run walks it
 * forwards and back so every call makes one such update.
 */
#include "kg_util.h"

#include <stdint.h>
#include <string.h>
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

typedef struct pc_cache {
  int64_t m, cap;
  float *gu;        /* [cap, gate_cols + up_cols] */
  float *down;      /* [cap, hidden] */
  int32_t *indices; /* [cap] */
  int32_t *slot_of; /* [N], -1 when the row is not cached */
  uint8_t *mask;    /* [N], the cache's current mask */
} pc_cache;

typedef struct pc_state {
  int64_t N, hidden, up_cols, gate_cols, m0, k;
  float *up, *down_T, *gate; /* pools; gate is NULL when gate_cols == 0 */
  pc_cache cache;            /* the cache kg_run updates */
  uint8_t *masks;            /* [PC_MASKS, N] */
  int pos, dir;              /* position in the chain and walking direction */
  int32_t *added, *removed;  /* scratch [N] */
} pc_state;

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
static inline void pc_fill_slot(const pc_state *s, pc_cache *c, int64_t slot, int32_t idx) {
  float *gu = c->gu + slot * (s->gate_cols + s->up_cols);
  if (s->gate) pc_copy(gu, s->gate + idx * s->gate_cols, s->gate_cols);
  pc_copy(gu + s->gate_cols, s->up + idx * s->up_cols, s->up_cols);
  pc_copy(c->down + slot * s->hidden, s->down_T + idx * s->hidden, s->hidden);
  c->indices[slot] = idx;
}

/* Move the cached row in slot `from` to slot `to` (both < m). */
static inline void pc_move_slot(const pc_state *s, pc_cache *c, int64_t to, int64_t from) {
  int64_t w = s->gate_cols + s->up_cols;
  pc_copy(c->gu + to * w, c->gu + from * w, w);
  pc_copy(c->down + to * s->hidden, c->down + from * s->hidden, s->hidden);
  c->indices[to] = c->indices[from];
  c->slot_of[c->indices[to]] = (int32_t)to;
}

static inline void pc_prefetch_pool_row(const pc_state *s, int32_t idx) {
  if (s->gate) pc_prefetch_row(s->gate + idx * s->gate_cols, s->gate_cols);
  pc_prefetch_row(s->up + idx * s->up_cols, s->up_cols);
  pc_prefetch_row(s->down_T + idx * s->hidden, s->hidden);
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

/* ---- the variant: paired update --------------------------------------------------------------- */

/* Update cache c to mask nw by paired replacement.  Returns 0, or -1 when the new active set
 * would exceed the cache's capacity (the cache is then unchanged). */
static int pc_update_paired(const pc_state *s, pc_cache *c, const uint8_t *nw, int32_t *added,
                            int32_t *removed) {
  int64_t na, nr;
  pc_diff(s->N, c->mask, nw, added, &na, removed, &nr);
  if (c->m + na - nr > c->cap) return -1;
  int64_t pairs = na < nr ? na : nr;

#if THREADS > 1
#pragma omp parallel for schedule(PC_SCHEDULE, GRAIN) if (pairs >= THRESHOLD) num_threads(THREADS)
#endif
  for (int64_t i = 0; i < pairs; i++) {
#if PREFETCH > 0
    if (i + PREFETCH < pairs) pc_prefetch_pool_row(s, added[i + PREFETCH]);
#endif
    int32_t slot = c->slot_of[removed[i]];
    pc_fill_slot(s, c, slot, added[i]);
    c->slot_of[added[i]] = slot;
    c->slot_of[removed[i]] = -1;
  }
  /* Leftover additions are appended. */
  for (int64_t i = pairs; i < na; i++) {
    pc_fill_slot(s, c, c->m, added[i]);
    c->slot_of[added[i]] = (int32_t)c->m;
    c->m++;
  }
  /* Each leftover removal's gap takes the last row. */
  for (int64_t i = pairs; i < nr; i++) {
    int64_t gap = c->slot_of[removed[i]], last = c->m - 1;
    c->slot_of[removed[i]] = -1;
    if (gap != last) pc_move_slot(s, c, gap, last);
    c->m--;
  }
#if COPY == COPY_nt && defined(__AVX512F__)
  _mm_sfence();
#endif
  /* The cache's mask changes only where the update did. */
  for (int64_t i = 0; i < na; i++) c->mask[added[i]] = 1;
  for (int64_t i = 0; i < nr; i++) c->mask[removed[i]] = 0;
  return 0;
}

/* ---- the reference: the same paired algorithm, scalar and sequential ---------------------------- */

static void pc_ref_copy(float *dst, const float *src, int64_t n) {
  for (int64_t j = 0; j < n; j++) dst[j] = src[j];
}

static void pc_ref_fill(const pc_state *s, pc_cache *c, int64_t slot, int32_t idx) {
  float *gu = c->gu + slot * (s->gate_cols + s->up_cols);
  if (s->gate) pc_ref_copy(gu, s->gate + idx * s->gate_cols, s->gate_cols);
  pc_ref_copy(gu + s->gate_cols, s->up + idx * s->up_cols, s->up_cols);
  pc_ref_copy(c->down + slot * s->hidden, s->down_T + idx * s->hidden, s->hidden);
  c->indices[slot] = idx;
  c->slot_of[idx] = (int32_t)slot;
}

static int pc_ref_update(const pc_state *s, pc_cache *c, const uint8_t *nw) {
  int64_t na = 0, nr = 0;
  int32_t *added = malloc(sizeof(int32_t) * (size_t)s->N);
  int32_t *removed = malloc(sizeof(int32_t) * (size_t)s->N);
  if (!added || !removed) {
    free(added), free(removed);
    return -1;
  }
  for (int64_t j = 0; j < s->N; j++) {
    if (nw[j] && !c->mask[j]) added[na++] = (int32_t)j;
    if (!nw[j] && c->mask[j]) removed[nr++] = (int32_t)j;
  }
  int rc = 0;
  if (c->m + na - nr > c->cap) {
    rc = -1;
    goto done;
  }
  int64_t i = 0;
  for (; i < na && i < nr; i++) {
    int64_t slot = c->slot_of[removed[i]];
    c->slot_of[removed[i]] = -1;
    pc_ref_fill(s, c, slot, added[i]);
  }
  for (int64_t a = i; a < na; a++) pc_ref_fill(s, c, c->m++, added[a]);
  for (int64_t r = i; r < nr; r++) {
    int64_t gap = c->slot_of[removed[r]], last = c->m - 1, w = s->gate_cols + s->up_cols;
    c->slot_of[removed[r]] = -1;
    if (gap != last) {
      pc_ref_copy(c->gu + gap * w, c->gu + last * w, w);
      pc_ref_copy(c->down + gap * s->hidden, c->down + last * s->hidden, s->hidden);
      c->indices[gap] = c->indices[last];
      c->slot_of[c->indices[gap]] = (int32_t)gap;
    }
    c->m--;
  }
  memcpy(c->mask, nw, (size_t)s->N);
done:
  free(added);
  free(removed);
  return rc;
}

/* ---- the baseline: full rebuild ------------------------------------------------ */

static int64_t pc_count(int64_t N, const uint8_t *mask) {
  int64_t n = 0;
  for (int64_t j = 0; j < N; j++) n += mask[j] != 0;
  return n;
}

/* Gather every active row of mask nw, ascending, into slots 0..m-1. */
static void pc_rebuild(const pc_state *s, pc_cache *c, const uint8_t *nw, int32_t *list) {
  int64_t m = 0;
  for (int64_t j = 0; j < s->N; j++)
    if (nw[j]) list[m++] = (int32_t)j;
  for (int64_t j = 0; j < c->m; j++) c->slot_of[c->indices[j]] = -1;
#pragma omp parallel for schedule(static)
  for (int64_t j = 0; j < m; j++) {
    float *gu = c->gu + j * (s->gate_cols + s->up_cols);
    if (s->gate) memcpy(gu, s->gate + list[j] * s->gate_cols, sizeof(float) * (size_t)s->gate_cols);
    memcpy(gu + s->gate_cols, s->up + list[j] * s->up_cols, sizeof(float) * (size_t)s->up_cols);
    memcpy(c->down + j * s->hidden, s->down_T + list[j] * s->hidden, sizeof(float) * (size_t)s->hidden);
    c->indices[j] = list[j];
    c->slot_of[list[j]] = (int32_t)j;
  }
  c->m = m;
  memcpy(c->mask, nw, (size_t)s->N);
}

/* The reference of one step: the hybrid's choice (TAU), then the scalar paired update or a
 * scalar sequential rebuild. */
static int pc_ref_step(const pc_state *s, pc_cache *c, const uint8_t *nw) {
  int64_t k = 0;
  for (int64_t j = 0; j < s->N; j++) k += nw[j] != c->mask[j];
  if (TAU > 0 && 100 * k > TAU * c->m) {
    if (pc_count(s->N, nw) > c->cap) return -1;
    for (int64_t t = 0; t < c->m; t++) c->slot_of[c->indices[t]] = -1;
    c->m = 0;
    for (int64_t j = 0; j < s->N; j++)
      if (nw[j]) pc_ref_fill(s, c, c->m++, (int32_t)j);
    memcpy(c->mask, nw, (size_t)s->N);
    return 0;
  }
  return pc_ref_update(s, c, nw);
}

/* ---- the harness ABI ---------------------------------------------------------------------------- */

static void pc_cache_free(pc_cache *c) {
  free(c->gu), free(c->down), free(c->indices), free(c->slot_of), free(c->mask);
  memset(c, 0, sizeof *c);
}

static int pc_cache_init(const pc_state *s, pc_cache *c, int64_t cap) {
  memset(c, 0, sizeof *c);
  c->cap = cap;
  c->gu = kg_alloc(sizeof(float) * (size_t)(cap * (s->gate_cols + s->up_cols)));
  c->down = kg_alloc(sizeof(float) * (size_t)(cap * s->hidden));
  c->indices = kg_alloc(sizeof(int32_t) * (size_t)cap);
  c->slot_of = kg_alloc(sizeof(int32_t) * (size_t)s->N);
  c->mask = kg_alloc((size_t)s->N);
  if (!c->gu || !c->down || !c->indices || !c->slot_of || !c->mask) {
    pc_cache_free(c);
    return -1;
  }
  for (int64_t j = 0; j < s->N; j++) c->slot_of[j] = -1;
  return 0;
}

/* Turn `count` rows of mask that are equal to `from` into `!from`, chosen at random. */
static void pc_flip(uint8_t *mask, int64_t N, int64_t count, int from, uint64_t *rng) {
  while (count > 0) {
    int64_t j = (int64_t)(kg_rand_next(rng) % (uint64_t)N);
    if (mask[j] == from) {
      mask[j] = (uint8_t)!from;
      count--;
    }
  }
}

/* Fill a pool so each row is distinct: seeded values, one generator call per 4 values. */
static void pc_fill_pool(float *x, size_t n, uint64_t *rng) {
  for (size_t i = 0; i < n; i += 4) {
    uint64_t r = kg_rand_next(rng);
    for (size_t t = 0; t < 4 && i + t < n; t++) x[i + t] = (float)((r >> (16 * t)) & 0xffff) / 65536.0f;
  }
}

void kg_destroy(void *st);

void *kg_create(const kg_problem *p) {
  pc_state *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->N = kg_dim(p, "N", 8192);
  s->hidden = kg_dim(p, "hidden", 1024);
  s->up_cols = kg_dim(p, "up_cols", 1024);
  s->gate_cols = kg_dim(p, "gate_cols", 0);
  s->m0 = kg_dim(p, "m", 1024);
  s->k = kg_dim(p, "k", 16);
  if (s->N <= 0 || s->m0 <= 0 || s->m0 > s->N || s->k < 0 || s->k / 2 > s->m0 ||
      s->k / 2 > s->N - s->m0 || s->up_cols <= 0 || s->hidden <= 0 || s->gate_cols < 0) {
    free(s);
    return NULL;
  }
  uint64_t rng = p->seed;
  s->up = kg_alloc(sizeof(float) * (size_t)(s->N * s->up_cols));
  s->down_T = kg_alloc(sizeof(float) * (size_t)(s->N * s->hidden));
  if (s->gate_cols) s->gate = kg_alloc(sizeof(float) * (size_t)(s->N * s->gate_cols));
  s->masks = kg_alloc((size_t)(PC_MASKS * s->N));
  s->added = kg_alloc(sizeof(int32_t) * (size_t)s->N);
  s->removed = kg_alloc(sizeof(int32_t) * (size_t)s->N);
  if (!s->up || !s->down_T || (s->gate_cols && !s->gate) || !s->masks || !s->added || !s->removed)
    goto fail;
  pc_fill_pool(s->up, (size_t)(s->N * s->up_cols), &rng);
  pc_fill_pool(s->down_T, (size_t)(s->N * s->hidden), &rng);
  if (s->gate) pc_fill_pool(s->gate, (size_t)(s->N * s->gate_cols), &rng);

  pc_flip(s->masks, s->N, s->m0, 0, &rng); /* seeded random m-subset */
  for (int t = 1; t < PC_MASKS; t++) {
    uint8_t *mk = s->masks + t * s->N;
    memcpy(mk, mk - s->N, (size_t)s->N);
    pc_flip(mk, s->N, s->k / 2, 1, &rng);
    pc_flip(mk, s->N, s->k / 2, 0, &rng);
  }
  int64_t cap = s->m0 + 256 < s->N ? s->m0 + 256 : s->N;
  if (pc_cache_init(s, &s->cache, cap)) goto fail;
  pc_rebuild(s, &s->cache, s->masks, s->added);
  s->pos = 0;
  s->dir = 1;
  return s;
fail:
  kg_destroy(s);
  return NULL;
}

void kg_destroy(void *st) {
  pc_state *s = st;
  if (!s) return;
  pc_cache_free(&s->cache);
  free(s->up), free(s->down_T), free(s->gate), free(s->masks), free(s->added), free(s->removed);
  free(s);
}

/* The next mask of the chain, walking forwards then back. */
static const uint8_t *pc_next_mask(pc_state *s) {
  if (s->pos + s->dir < 0 || s->pos + s->dir >= PC_MASKS) s->dir = -s->dir;
  s->pos += s->dir;
  return s->masks + (int64_t)s->pos * s->N;
}

/* The variant's update: paired, or for the hybrid a rebuild when k > TAU% of m. */
static int pc_update(const pc_state *s, pc_cache *c, const uint8_t *nw, int32_t *added,
                     int32_t *removed) {
#if TAU > 0
  int64_t k = 0;
  for (int64_t j = 0; j < s->N; j++) k += nw[j] != c->mask[j];
  if (100 * k > TAU * c->m) {
    if (pc_count(s->N, nw) > c->cap) return -1;
    pc_rebuild(s, c, nw, added);
    return 0;
  }
#endif
  return pc_update_paired(s, c, nw, added, removed);
}

void kg_run(void *st) {
  pc_state *s = st;
  pc_update(s, &s->cache, pc_next_mask(s), s->added, s->removed);
}

void kg_baseline_full_rebuild(void *st) {
  pc_state *s = st;
  pc_rebuild(s, &s->cache, pc_next_mask(s), s->added);
}

/* Check the invariants of cache c against mask: the packed rows equal the pool rows of
 * indices, the active set equals the mask, slot_of inverts indices. */
static int pc_check_invariants(const pc_state *s, const pc_cache *c, const char *who, char *msg,
                               size_t cap) {
  int64_t active = 0, w = s->gate_cols + s->up_cols;
  for (int64_t j = 0; j < s->N; j++) active += c->mask[j] != 0;
  if (active != c->m) {
    snprintf(msg, cap, "%s: %lld rows cached, mask has %lld", who, (long long)c->m, (long long)active);
    return 1;
  }
  for (int64_t t = 0; t < c->m; t++) {
    int32_t idx = c->indices[t];
    if (idx < 0 || idx >= s->N || !c->mask[idx] || c->slot_of[idx] != t) {
      snprintf(msg, cap, "%s: slot %lld holds row %d, which is not active there", who, (long long)t, idx);
      return 1;
    }
    const float *gu = c->gu + t * w;
    if ((s->gate && memcmp(gu, s->gate + idx * s->gate_cols, sizeof(float) * (size_t)s->gate_cols)) ||
        memcmp(gu + s->gate_cols, s->up + idx * s->up_cols, sizeof(float) * (size_t)s->up_cols) ||
        memcmp(c->down + t * s->hidden, s->down_T + idx * s->hidden, sizeof(float) * (size_t)s->hidden)) {
      snprintf(msg, cap, "%s: slot %lld does not hold pool row %d", who, (long long)t, idx);
      return 1;
    }
  }
  return 0;
}

/*
 * Run the variant and the reference from the same start through the mask chain and back, then
 * through unbalanced steps (more additions than removals and the reverse), comparing after
 * every step: invariants, and the exact slot order of the paired algorithm.
 */
int kg_verify(void *st, char *msg, size_t cap) {
  pc_state *s = st;
  pc_cache v, r;
  int rc = 1;
  int64_t ccap = s->cache.cap;
  uint8_t *mk = kg_alloc((size_t)s->N);
  uint64_t rng = 0x5eed ^ (uint64_t)s->N;
  if (!mk || pc_cache_init(s, &v, ccap) || pc_cache_init(s, &r, ccap)) {
    snprintf(msg, cap, "out of memory");
    free(mk);
    return 1;
  }
  pc_rebuild(s, &v, s->masks, s->added);
  pc_rebuild(s, &r, s->masks, s->added);
  int steps = 2 * PC_MASKS + 8;
  for (int t = 1; t < steps; t++) {
    int idx = t < PC_MASKS ? t : 2 * PC_MASKS - 2 - t;
    if (idx >= 0) {
      memcpy(mk, s->masks + (int64_t)idx * s->N, (size_t)s->N);
    } else { /* unbalanced steps: add or remove up to 16 extra rows */
      int64_t extra = 1 + (int64_t)(kg_rand_next(&rng) % 16);
      int64_t on = (t & 1) ? extra : extra / 2, off = (t & 1) ? extra / 2 : extra;
      if (v.m + on > ccap) on = 0;
      if (off > v.m - 1) off = 0;
      memcpy(mk, v.mask, (size_t)s->N);
      pc_flip(mk, s->N, on, 0, &rng);
      pc_flip(mk, s->N, off, 1, &rng);
    }
    if (pc_update(s, &v, mk, s->added, s->removed) || pc_ref_step(s, &r, mk)) {
      snprintf(msg, cap, "step %d: update refused (capacity)", t);
      goto done;
    }
    if ((t % 16 == 0 || t == steps - 1) && pc_check_invariants(s, &v, "variant", msg, cap))
      goto done;
    if (v.m != r.m || memcmp(v.indices, r.indices, sizeof(int32_t) * (size_t)v.m)) {
      int64_t at = 0;
      while (at < v.m && at < r.m && v.indices[at] == r.indices[at]) at++;
      snprintf(msg, cap, "step %d: slot order differs from the paired algorithm at slot %lld", t, (long long)at);
      goto done;
    }
  }
  if (memcmp(v.gu, r.gu, sizeof(float) * (size_t)(v.m * (s->gate_cols + s->up_cols))) ||
      memcmp(v.down, r.down, sizeof(float) * (size_t)(v.m * s->hidden))) {
    snprintf(msg, cap, "packed buffers differ from the reference after %d steps", steps);
    goto done;
  }
  rc = 0;
done:
  pc_cache_free(&v);
  pc_cache_free(&r);
  free(mk);
  return rc;
}
