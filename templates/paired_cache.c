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
 * Public API (kgen/kgen.h): kgen_paired_cache_new/update/size/concat/down_t/indices/free on the
 * caller's pools; the cache's buffers grow with m (doubling) and never shrink.  Every variant
 * gives the same slot order for any mask sequence: the hybrid computes the slots by the paired
 * rules and then gathers every active row into them.
 * The mask sequence is precomputed in kg_create (outside the timed region): from a seeded random
 * m-subset, each step turns k/2 active rows off and k/2 inactive rows on; kg_run walks it
 * forwards and back so every call makes one such update.
 */
#include "paired_cache_core.h"

/**
 * The update's k (rows that change) for mask[N], or -1 when c or mask is NULL or a mask value
 * is neither 0 nor 1.  The library's dispatch keys its choice of variant on it.
 */
int64_t KG_NAME(kg_pc_update_k)(const kgen_paired_cache *c, const uint8_t *mask);
int64_t KG_NAME(kg_pc_update_k)(const kgen_paired_cache *c, const uint8_t *mask) {
  if (!c || !mask) return -1;
  const int64_t N = c->N;
  int64_t k = 0, j = 0;
  uint64_t bad = 0;
  for (; j + 8 <= N; j += 8) {
    uint64_t x, y;
    memcpy(&x, mask + j, 8);
    memcpy(&y, c->mask + j, 8);
    bad |= x & 0xfefefefefefefefeull;
    k += __builtin_popcountll(x ^ y); /* bytes 0 or 1: one bit per differing byte */
  }
  for (; j < N; j++) {
    bad |= mask[j] & 0xfe;
    k += mask[j] != c->mask[j];
  }
  return bad ? -1 : k;
}

/** The update of a checked mask (values 0 or 1): KG_API_OK, or KG_API_ENOMEM (unchanged). */
int KG_NAME(kg_pc_update_checked)(kgen_paired_cache *c, const uint8_t *mask);
int KG_NAME(kg_pc_update_checked)(kgen_paired_cache *c, const uint8_t *mask) { return pc_update(c, mask); }

/**
 * Update the cache to mask[N] (values 0 or 1) by the paired rules (see the header comment).
 * Returns KG_API_OK; KG_API_EINVAL (NULL, a value other than 0 or 1: the cache is unchanged);
 * KG_API_ENOMEM (unchanged).
 */
int KG_NAME(kgen_paired_cache_update)(kgen_paired_cache *c, const uint8_t *mask) {
  if (KG_NAME(kg_pc_update_k)(c, mask) < 0) return KG_API_EINVAL;
  return pc_update(c, mask);
}

/** m, the active rows (0 for NULL). */
int64_t KG_NAME(kgen_paired_cache_size)(const kgen_paired_cache *c) { return c ? c->m : 0; }
/** [m, gate_cols + up_cols]: gate row then up row per slot; valid until the next update. */
const float *KG_NAME(kgen_paired_cache_concat)(const kgen_paired_cache *c) { return c ? c->gu : NULL; }
/** [m, hidden]: the down_t row per slot; valid until the next update. */
const float *KG_NAME(kgen_paired_cache_down_t)(const kgen_paired_cache *c) { return c ? c->down : NULL; }
/** [m]: the pool row held by each slot; valid until the next update. */
const int32_t *KG_NAME(kgen_paired_cache_indices)(const kgen_paired_cache *c) { return c ? c->indices : NULL; }

#ifndef KG_PUBLIC_ONLY
/* ---- the reference: the same paired algorithm, scalar and sequential ---------------------------- */

static void pc_ref_copy(float *dst, const float *src, int64_t n) {
  for (int64_t j = 0; j < n; j++) dst[j] = src[j];
}

static void pc_ref_fill(pc_cache *c, int64_t slot, int32_t idx) {
  float *gu = c->gu + slot * (c->gate_cols + c->up_cols);
  if (c->gate) pc_ref_copy(gu, c->gate + idx * c->gate_cols, c->gate_cols);
  pc_ref_copy(gu + c->gate_cols, c->up + idx * c->up_cols, c->up_cols);
  pc_ref_copy(c->down + slot * c->hidden, c->down_T + idx * c->hidden, c->hidden);
  c->indices[slot] = idx;
  c->slot_of[idx] = (int32_t)slot;
}

static int pc_ref_update(pc_cache *c, const uint8_t *nw) {
  int64_t na = 0, nr = 0;
  int32_t *added = c->added, *removed = c->removed;
  for (int64_t j = 0; j < c->N; j++) {
    if (nw[j] && !c->mask[j]) added[na++] = (int32_t)j;
    if (!nw[j] && c->mask[j]) removed[nr++] = (int32_t)j;
  }
  if (pc_reserve(c, c->m + na - nr)) return -1;
  int64_t i = 0;
  for (; i < na && i < nr; i++) {
    int64_t slot = c->slot_of[removed[i]];
    c->slot_of[removed[i]] = -1;
    pc_ref_fill(c, slot, added[i]);
  }
  for (int64_t a = i; a < na; a++) pc_ref_fill(c, c->m++, added[a]);
  for (int64_t r = i; r < nr; r++) {
    int64_t gap = c->slot_of[removed[r]], last = c->m - 1, w = c->gate_cols + c->up_cols;
    c->slot_of[removed[r]] = -1;
    if (gap != last) {
      pc_ref_copy(c->gu + gap * w, c->gu + last * w, w);
      pc_ref_copy(c->down + gap * c->hidden, c->down + last * c->hidden, c->hidden);
      c->indices[gap] = c->indices[last];
      c->slot_of[c->indices[gap]] = (int32_t)gap;
    }
    c->m--;
  }
  memcpy(c->mask, nw, (size_t)c->N);
  return 0;
}

#include "paired_cache_rebuild.h"

/* ---- the harness ABI ---------------------------------------------------------------------------- */

typedef struct pc_state {
  int64_t N, hidden, up_cols, gate_cols, m0, k;
  float *up, *down_T, *gate; /* pools; gate is NULL when gate_cols == 0 */
  pc_cache *cache;           /* the cache kg_run updates */
  uint8_t *masks;            /* [PC_MASKS, N] */
  int pos, dir;              /* position in the chain and walking direction */
} pc_state;

/* A new cache over s's pools with room for `cap` rows. */
static pc_cache *pc_cache_for(const pc_state *s, int64_t cap) {
  pc_cache *c = KG_NAME(kgen_paired_cache_new)(s->N, s->hidden, s->up_cols, s->gate_cols, s->up,
                                               s->down_T, s->gate);
  if (c && pc_reserve(c, cap)) {
    KG_NAME(kgen_paired_cache_free)(c);
    return NULL;
  }
  return c;
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
  if (!s->up || !s->down_T || (s->gate_cols && !s->gate) || !s->masks) goto fail;
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
  /* Room for the chain (m0 rows) and verification's unbalanced steps: kg_run never allocates. */
  if (!(s->cache = pc_cache_for(s, s->m0 + 256 < s->N ? s->m0 + 256 : s->N))) goto fail;
  pc_rebuild(s->cache, s->masks);
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
  KG_NAME(kgen_paired_cache_free)(s->cache);
  free(s->up), free(s->down_T), free(s->gate), free(s->masks);
  free(s);
}

/* The next mask of the chain, walking forwards then back. */
static const uint8_t *pc_next_mask(pc_state *s) {
  if (s->pos + s->dir < 0 || s->pos + s->dir >= PC_MASKS) s->dir = -s->dir;
  s->pos += s->dir;
  return s->masks + (int64_t)s->pos * s->N;
}

/* One update through the public API's body (the chain's masks are valid by construction). */
void kg_run(void *st) {
  pc_state *s = st;
  if (pc_update(s->cache, pc_next_mask(s))) abort();
}

void kg_baseline_full_rebuild(void *st) {
  pc_state *s = st;
  pc_rebuild(s->cache, pc_next_mask(s));
}

/* Check the invariants of cache c: the packed rows equal the pool rows of indices, the active
 * set equals the mask, slot_of inverts indices. */
static int pc_check_invariants(const pc_cache *c, const char *who, char *msg, size_t cap) {
  int64_t active = 0, w = c->gate_cols + c->up_cols;
  for (int64_t j = 0; j < c->N; j++) active += c->mask[j] != 0;
  if (active != c->m) {
    snprintf(msg, cap, "%s: %lld rows cached, mask has %lld", who, (long long)c->m, (long long)active);
    return 1;
  }
  for (int64_t t = 0; t < c->m; t++) {
    int32_t idx = c->indices[t];
    if (idx < 0 || idx >= c->N || !c->mask[idx] || c->slot_of[idx] != t) {
      snprintf(msg, cap, "%s: slot %lld holds row %d, which is not active there", who, (long long)t, idx);
      return 1;
    }
    const float *gu = c->gu + t * w;
    if ((c->gate && memcmp(gu, c->gate + idx * c->gate_cols, sizeof(float) * (size_t)c->gate_cols)) ||
        memcmp(gu + c->gate_cols, c->up + idx * c->up_cols, sizeof(float) * (size_t)c->up_cols) ||
        memcmp(c->down + t * c->hidden, c->down_T + idx * c->hidden, sizeof(float) * (size_t)c->hidden)) {
      snprintf(msg, cap, "%s: slot %lld does not hold pool row %d", who, (long long)t, idx);
      return 1;
    }
  }
  return 0;
}

/*
 * Run the variant (through its public API) and the reference from an empty cache through the
 * mask chain and back, then through unbalanced steps (more additions than removals and the
 * reverse), comparing after every step: invariants, and the exact slot order of the paired
 * rules, which every variant (the hybrid included) must give.
 */
int kg_verify(void *st, char *msg, size_t cap) {
  pc_state *s = st;
  int rc = 1;
  uint8_t *mk = kg_alloc((size_t)s->N);
  uint64_t rng = 0x5eed ^ (uint64_t)s->N;
  pc_cache *v = pc_cache_for(s, 0), *r = pc_cache_for(s, 0);
  if (!mk || !v || !r) {
    snprintf(msg, cap, "out of memory");
    goto done;
  }
  int steps = 2 * PC_MASKS + 8;
  for (int t = 0; t < steps; t++) {
    int idx = t < PC_MASKS ? t : 2 * PC_MASKS - 2 - t;
    if (idx >= 0) {
      memcpy(mk, s->masks + (int64_t)idx * s->N, (size_t)s->N);
    } else { /* unbalanced steps: add or remove up to 16 extra rows */
      int64_t extra = 1 + (int64_t)(kg_rand_next(&rng) % 16);
      int64_t on = (t & 1) ? extra : extra / 2, off = (t & 1) ? extra / 2 : extra;
      if (v->m + on > s->N) on = 0;
      if (off > v->m - 1) off = 0;
      memcpy(mk, v->mask, (size_t)s->N);
      pc_flip(mk, s->N, on, 0, &rng);
      pc_flip(mk, s->N, off, 1, &rng);
    }
    if (KG_NAME(kgen_paired_cache_update)(v, mk) || pc_ref_update(r, mk)) {
      snprintf(msg, cap, "step %d: update failed (out of memory)", t);
      goto done;
    }
    if ((t % 16 == 0 || t == steps - 1) && pc_check_invariants(v, "variant", msg, cap)) goto done;
    if (v->m != r->m || memcmp(v->indices, r->indices, sizeof(int32_t) * (size_t)v->m)) {
      int64_t at = 0;
      while (at < v->m && at < r->m && v->indices[at] == r->indices[at]) at++;
      snprintf(msg, cap, "step %d: slot order differs from the paired algorithm at slot %lld", t, (long long)at);
      goto done;
    }
  }
  if (memcmp(v->gu, r->gu, sizeof(float) * (size_t)(v->m * (s->gate_cols + s->up_cols))) ||
      memcmp(v->down, r->down, sizeof(float) * (size_t)(v->m * s->hidden))) {
    snprintf(msg, cap, "packed buffers differ from the reference after %d steps", steps);
    goto done;
  }
  rc = 0;
done:
  KG_NAME(kgen_paired_cache_free)(v);
  KG_NAME(kgen_paired_cache_free)(r);
  free(mk);
  return rc;
}
#endif /* KG_PUBLIC_ONLY */
