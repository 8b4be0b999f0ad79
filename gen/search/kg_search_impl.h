/*
 * kg_search_impl.h - what a strategy sees of a search (internal to gen/search/).
 *
 * A strategy is a state object plus four functions (and an optional fifth).  propose returns the
 * index of the point it wants measured next (it may be one measured before: the search then tells
 * it the recorded cost at once, for free, and asks again; a pending one is skipped without a
 * cost), -1 to let the search pick a random unmeasured point, or KG_SEARCH_WAIT when it needs the
 * results of pending points first (honoured only while some are pending; else it means -1).
 * propose_batch (NULL: B sequential proposals) fills out[0..n) with up to n proposals (-1 = a
 * random point) and returns how many; it is used for batches of 2 or more.
 * observe receives every cost the strategy is told, for its own proposals and, after too many
 * free repeats in a row, for a random point the search picked instead (so observe must accept
 * any point).  `improved` says whether the cost is a new best of the whole search.
 */
#ifndef KG_SEARCH_IMPL_H
#define KG_SEARCH_IMPL_H

#include <math.h>

#include "kg_search.h"

typedef struct kg_strategy_ops {
  const char *name;
  void *(*create)(kg_search *s); /**< NULL = out of memory */
  long (*propose)(void *st, kg_search *s);
  void (*observe)(void *st, kg_search *s, size_t point, double cost, bool improved);
  void (*destroy)(void *st);
  size_t (*propose_batch)(void *st, kg_search *s, size_t n, long *out);
} kg_strategy_ops;

/** propose's answer "ask me again once the pending points are told". */
#define KG_SEARCH_WAIT (-2L)

struct kg_search {
  const kg_search_space *sp;
  const kg_strategy_ops *ops;
  void *st;
  kg_rng rng;
  double *cost;       /**< [npoints] told cost (INFINITY = failed); valid where seen[i] == 1 */
  uint8_t *seen;      /**< [npoints] 0 never asked, 1 told, 2 pending (asked, not told) */
  size_t *unseen;     /**< [nunseen] indices neither told nor pending, in any order */
  size_t *unseen_pos; /**< [npoints] position of i in unseen */
  size_t nunseen;
  size_t nevals;
  long best;
  double best_cost;
  size_t npending; /**< points asked and not yet told */
};

/** Whether point i was told (not merely pending). */
static inline bool kg_search_told(const kg_search *s, size_t i) { return s->seen[i] == 1; }

/** A uniformly random unmeasured point (the search must have one: nunseen > 0). */
size_t kg_search_random_unseen(kg_search *s);

/**
 * Ask strategy (ops, st) for an unmeasured, not pending point, telling it the recorded cost of
 * every measured point it proposes (free repeats); after 1000 repeats in a row, a random
 * unmeasured point.  Returns KG_SEARCH_WAIT when the strategy waits for pending results (or keeps
 * proposing pending points) while some are pending.  Requires nunseen > 0.
 */
long kg_search_fresh(kg_search *s, const kg_strategy_ops *ops, void *st);

/** Cost used for comparisons: failed points (NaN, INFINITY) rank last. */
static inline double kg_search_cost(const kg_search *s, size_t i) { return s->cost[i]; }

extern const kg_strategy_ops kg_strategy_random, kg_strategy_exhaustive, kg_strategy_ga, kg_strategy_anneal,
    kg_strategy_ils, kg_strategy_bandit, kg_strategy_knn;

#endif
