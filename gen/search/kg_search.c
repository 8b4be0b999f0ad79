/*
 * kg_search.c - the ask/tell driver, the RNG, and the two plain strategies (exhaustive, random).
 */
#include <stdlib.h>
#include <string.h>

#include "kg_search_impl.h"

/* ---- RNG: xoshiro256** seeded by splitmix64 (Blackman & Vigna, public domain) ---- */

static uint64_t kg_splitmix(uint64_t *x) {
  uint64_t z = (*x += UINT64_C(0x9e3779b97f4a7c15));
  z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
  z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
  return z ^ (z >> 31);
}

void kg_rng_seed(kg_rng *rng, uint64_t seed) {
  for (int i = 0; i < 4; i++) rng->s[i] = kg_splitmix(&seed);
}

static inline uint64_t kg_rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t kg_rng_next(kg_rng *rng) {
  uint64_t *s = rng->s;
  uint64_t r = kg_rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = kg_rotl(s[3], 45);
  return r;
}

uint64_t kg_rng_below(kg_rng *rng, uint64_t n) {
  /* Lemire, "Fast random integer generation in an interval", ACM TOMACS 2019. */
  __uint128_t m = (__uint128_t)kg_rng_next(rng) * n;
  uint64_t lo = (uint64_t)m;
  if (lo < n) {
    uint64_t t = -n % n;
    while (lo < t) {
      m = (__uint128_t)kg_rng_next(rng) * n;
      lo = (uint64_t)m;
    }
  }
  return (uint64_t)(m >> 64);
}

double kg_rng_uniform(kg_rng *rng) { return (double)(kg_rng_next(rng) >> 11) * 0x1.0p-53; }

double kg_rng_normal(kg_rng *rng) {
  double u = kg_rng_uniform(rng), v = kg_rng_uniform(rng);
  return sqrt(-2.0 * log(1.0 - u)) * cos(6.283185307179586 * v);
}

/* ---- the driver ---- */

static const kg_strategy_ops *const kg_all[] = {&kg_strategy_knn,       &kg_strategy_bandit, &kg_strategy_ga,
                                                &kg_strategy_anneal,    &kg_strategy_ils,    &kg_strategy_random,
                                                &kg_strategy_exhaustive};
enum { KG_NSTRATEGIES = sizeof kg_all / sizeof kg_all[0] };

const char *const *kg_search_strategies(void) {
  static const char *names[KG_NSTRATEGIES + 1];
  for (int i = 0; i < KG_NSTRATEGIES; i++) names[i] = kg_all[i]->name;
  return names;
}

kg_status kg_search_new(const kg_search_space *sp, const char *name, uint64_t seed, kg_search **out, kg_ctx *ctx) {
  *out = NULL;
  const kg_strategy_ops *ops = NULL;
  for (int i = 0; i < KG_NSTRATEGIES; i++)
    if (!strcmp(name, kg_all[i]->name)) ops = kg_all[i];
  if (!ops) {
    char known[256] = "";
    for (int i = 0; i < KG_NSTRATEGIES; i++) {
      strncat(known, i ? ", " : "", sizeof known - strlen(known) - 1);
      strncat(known, kg_all[i]->name, sizeof known - strlen(known) - 1);
    }
    return kg_ctx_set(ctx, KG_EINVAL, "unknown strategy '%s' (known: %s)", name, known);
  }
  kg_search *s = calloc(1, sizeof *s);
  if (!s) return kg_ctx_set(ctx, KG_ENOMEM, "search: out of memory");
  size_t n = sp->npoints;
  s->sp = sp;
  s->ops = ops;
  s->best = -1;
  s->best_cost = INFINITY;
  kg_rng_seed(&s->rng, seed);
  s->cost = malloc(sizeof *s->cost * n);
  s->seen = calloc(n, 1);
  s->unseen = malloc(sizeof *s->unseen * n);
  s->unseen_pos = malloc(sizeof *s->unseen_pos * n);
  if (!s->cost || !s->seen || !s->unseen || !s->unseen_pos) goto nomem;
  for (size_t i = 0; i < n; i++) {
    s->cost[i] = NAN;
    s->unseen[i] = s->unseen_pos[i] = i;
  }
  s->nunseen = n;
  s->st = ops->create(s);
  if (!s->st) goto nomem;
  *out = s;
  return KG_OK;
nomem:
  kg_search_free(s);
  return kg_ctx_set(ctx, KG_ENOMEM, "search: out of memory (%zu points)", n);
}

void kg_search_free(kg_search *s) {
  if (!s) return;
  if (s->st) s->ops->destroy(s->st);
  free(s->cost);
  free(s->seen);
  free(s->unseen);
  free(s->unseen_pos);
  free(s);
}

size_t kg_search_random_unseen(kg_search *s) { return s->unseen[kg_rng_below(&s->rng, s->nunseen)]; }

long kg_search_fresh(kg_search *s, const kg_strategy_ops *ops, void *st) {
  int pending_hits = 0;
  for (int repeats = 0; repeats < 1000; repeats++) {
    long p = ops->propose(st, s);
    if (p == KG_SEARCH_WAIT && s->npending > 0) return KG_SEARCH_WAIT;
    if (p < 0 || (size_t)p >= s->sp->npoints) break;
    if (s->seen[p] == 0) return p;
    if (s->seen[p] == 2) { /* pending: its cost is not known yet */
      if (++pending_hits >= 16) return KG_SEARCH_WAIT;
      continue;
    }
    ops->observe(st, s, (size_t)p, s->cost[p], false);
  }
  return (long)kg_search_random_unseen(s);
}

/* Mark point p (never asked) pending. */
static void kg_search_take(kg_search *s, size_t p) {
  size_t pos = s->unseen_pos[p], last = s->unseen[--s->nunseen];
  s->unseen[pos] = last;
  s->unseen_pos[last] = pos;
  s->seen[p] = 2;
  s->npending++;
}

size_t kg_search_ask_batch(kg_search *s, size_t n, size_t *out) {
  if (n > KG_SEARCH_MAX_BATCH) n = KG_SEARCH_MAX_BATCH;
  size_t k = 0;
  if (n > 1 && s->ops->propose_batch && s->nunseen > 0) {
    long prop[KG_SEARCH_MAX_BATCH];
    size_t m = s->ops->propose_batch(s->st, s, n < s->nunseen ? n : s->nunseen, prop);
    for (size_t i = 0; i < m && s->nunseen > 0; i++) {
      size_t p = prop[i] >= 0 && (size_t)prop[i] < s->sp->npoints && s->seen[prop[i]] == 0 ? (size_t)prop[i]
                                                                                           : kg_search_random_unseen(s);
      kg_search_take(s, p);
      out[k++] = p;
    }
    return k;
  }
  while (k < n && s->nunseen > 0) {
    long p = kg_search_fresh(s, s->ops, s->st);
    if (p < 0) break; /* KG_SEARCH_WAIT: only with something pending, so never before the first */
    kg_search_take(s, (size_t)p);
    out[k++] = (size_t)p;
  }
  return k;
}

bool kg_search_ask(kg_search *s, size_t *point) { return kg_search_ask_batch(s, 1, point) == 1; }

size_t kg_search_pending(const kg_search *s) { return s->npending; }

void kg_search_tell(kg_search *s, size_t point, double cost) {
  if (point >= s->sp->npoints || s->seen[point] == 1) return; /* a repeat or a bad index: nothing to learn */
  if (isnan(cost)) cost = INFINITY;
  if (s->seen[point] == 0) kg_search_take(s, point); /* told without an ask */
  s->seen[point] = 1;
  s->npending--;
  s->cost[point] = cost;
  s->nevals++;
  bool improved = cost < s->best_cost;
  if (improved) {
    s->best = (long)point;
    s->best_cost = cost;
  }
  s->ops->observe(s->st, s, point, cost, improved);
}

size_t kg_search_evaluations(const kg_search *s) { return s->nevals; }
long kg_search_best(const kg_search *s) { return s->best; }
const char *kg_search_name(const kg_search *s) { return s->ops->name; }

/* ---- random: uniform sampling without replacement ---- */

static void *kg_plain_create(kg_search *s) {
  size_t *next = calloc(1, sizeof *next);
  return next;
}
static void kg_plain_destroy(void *st) { free(st); }
static void kg_plain_observe(void *st, kg_search *s, size_t point, double cost, bool improved) {}
static long kg_random_propose(void *st, kg_search *s) { return -1; }

const kg_strategy_ops kg_strategy_random = {"random",         kg_plain_create,  kg_random_propose,
                                            kg_plain_observe, kg_plain_destroy, NULL};

/* ---- exhaustive: every point in index order ---- */

static long kg_exhaustive_propose(void *st, kg_search *s) {
  size_t *next = st;
  while (*next < s->sp->npoints && s->seen[*next]) (*next)++; /* told or pending */
  return *next < s->sp->npoints ? (long)*next : -1;
}

const kg_strategy_ops kg_strategy_exhaustive = {"exhaustive",     kg_plain_create,  kg_exhaustive_propose,
                                                kg_plain_observe, kg_plain_destroy, NULL};
