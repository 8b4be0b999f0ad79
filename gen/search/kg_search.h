/*
 * kg_search.h - search spaces and search strategies behind one ask/tell interface.
 *
 * A space is a set of valid points; a point is an array of ndims value indices (int32_t, value i
 * of dimension d is the i-th entry of that dimension's value list, in the list's order, which is
 * also the order "adjacent" refers to).  The valid points are stored as mixed-radix codes
 * (code = sum_d idx[d] * radix[d]) in one sorted array, so point -> index is a binary search.
 *
 * A search (kg_search) drives one strategy over one space with a seeded RNG:
 *     kg_search_ask(s, &i)   -> index of the next point to measure (never one measured before)
 *     kg_search_tell(s, i, v) -> its measured cost (lower is better; INFINITY = the point failed)
 *     kg_search_ask_batch(s, B, out) -> up to B points to measure together (then tell each)
 * Asked and not yet told points are "pending": never proposed again, never picked at random.
 * The search records every told cost; a strategy that proposes an already measured point gets the
 * recorded cost back at once, for free (a repeat costs no evaluation), so strategies can be
 * written from their published descriptions without bookkeeping of their own.  The caller owns
 * the budget: it asks at most `budget` times.  The same space, strategy, options and seed give
 * the same sequence of proposals for the same told costs.
 *
 * Strategies (kg_search_strategies() lists them; the methodology of comparing them on replayed,
 * fully measured spaces follows Willemsen et al., "A methodology for comparing optimization
 * algorithms for auto-tuning", FGCS 2024):
 *   exhaustive  every point in index order.
 *   random      uniform sampling without replacement.
 *   ga          constraint-aware genetic algorithm (Kernel Tuner's genetic_algorithm, van Werkhoven
 *               et al., FGCS 2019; Schoonhoven et al., "Benchmarking optimization algorithms for
 *               auto-tuning GPU kernels", IEEE TEVC 2022): population 20, rank-weighted parents,
 *               single-point crossover, per-gene mutation (chance 1/10), invalid or already seen
 *               children repaired by resampling from the valid space.
 *   anneal      simulated annealing over valid adjacent neighbours (one parameter moved to an
 *               adjacent value; Kernel Tuner's simulated_annealing: T 1 -> 0.001, alpha 0.995,
 *               acceptance exp(-relative worsening / T)), restarted at a random point when cold.
 *   ils         greedy iterated local search (Kernel Tuner's greedy_ils, after Stuetzle's ILS):
 *               best-improvement over Hamming neighbours (one parameter changed to any value), a
 *               random walk of 30% of the parameters from a local optimum, a restart at a random
 *               point after 50 evaluations without a new best.
 *   bandit      OpenTuner's AUC bandit meta-technique (Ansel et al., "OpenTuner: an extensible
 *               framework for program autotuning", PACT 2014) over ga, anneal, ils and random:
 *               each proposal goes to the technique with the highest area-under-the-curve credit
 *               for recent new bests (window 500) plus an exploration term (C = 0.05).
 *   knn         k-nearest-neighbour surrogate screening (the default; see kg_search_new): each
 *               proposal is the best-predicted of a pool of unmeasured candidates (mutations of the
 *               best points seen, plus random points), prediction = mean cost of the k = 3 nearest
 *               measured points in Hamming distance; one proposal in 10 is random.
 *
 * Batches (kg_search_ask_batch): knn proposes the B best-predicted distinct candidates of a pool of
 * 16 B, each slot random with chance 1/10; the others make B sequential proposals with the earlier
 * ones pending, and stop early where their method needs a result first (their natural batch):
 * ga at the end of a generation (20 children), ils at the end of a neighbourhood scan and before a
 * random walk or a restart, anneal at a restart (its batch is B random adjacent neighbours of the
 * current point, each accepted or not in the order told), bandit when its techniques all wait.
 * A batch of 1 is exactly the sequential search (same proposals for the same seed).
 */
#ifndef KG_SEARCH_H
#define KG_SEARCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kg_status.h"

/* ---- RNG ----------------------------------------------------------------------------------- */

/** A small seeded generator (xoshiro256**, Blackman & Vigna 2018; seeded through splitmix64). */
typedef struct kg_rng {
  uint64_t s[4];
} kg_rng;

/** Seed rng from seed (any value, 0 included). */
void kg_rng_seed(kg_rng *rng, uint64_t seed);
/** Next 64 random bits. */
uint64_t kg_rng_next(kg_rng *rng);
/** Uniform integer in [0, n); n >= 1 (Lemire's nearly divisionless method). */
uint64_t kg_rng_below(kg_rng *rng, uint64_t n);
/** Uniform double in [0, 1). */
double kg_rng_uniform(kg_rng *rng);
/** Standard normal deviate (Box-Muller). */
double kg_rng_normal(kg_rng *rng);

/* ---- spaces -------------------------------------------------------------------------------- */

/** A set of valid points over ndims dimensions; immutable once built. */
typedef struct kg_search_space {
  int ndims;
  int32_t *card;   /**< [ndims] number of values of each dimension (>= 1) */
  uint64_t *radix; /**< [ndims] mixed-radix weights: radix[ndims-1] = 1 */
  size_t npoints;  /**< valid points (>= 1) */
  uint64_t *codes; /**< [npoints] sorted ascending, distinct */
  int32_t *points; /**< [npoints][ndims] value indices, in the order of codes */
} kg_search_space;

/**
 * Build a space from npoints points (value indices, [npoints][ndims], any order, duplicates
 * allowed and merged).  The product of the cardinalities must fit in 63 bits.  On success *out
 * is owned by the caller (kg_search_space_free).  Errors: KG_EINVAL (a value index outside its
 * dimension, no point, no dimension, too large a product), KG_ENOMEM.
 */
kg_status kg_search_space_new(int ndims, const int32_t *card, size_t npoints, const int32_t *points,
                              kg_search_space **out, kg_ctx *ctx);

/** Free; NULL is a no-op. */
void kg_search_space_free(kg_search_space *sp);

/** Index of point (value indices [ndims]) in the space, or -1 when it is not a valid point. */
long kg_search_space_find(const kg_search_space *sp, const int32_t *point);

/** Index of the point with the given mixed-radix code, or -1. */
long kg_search_space_find_code(const kg_search_space *sp, uint64_t code);

/** The value indices of point i ([ndims], borrowed from sp). */
static inline const int32_t *kg_search_space_point(const kg_search_space *sp, size_t i) {
  return sp->points + i * (size_t)sp->ndims;
}

/**
 * Valid Hamming neighbours of point i (points differing in exactly one dimension, to any value):
 * writes at most cap indices to out and returns how many exist (may exceed cap).
 */
size_t kg_search_space_hamming(const kg_search_space *sp, size_t i, long *out, size_t cap);

/**
 * Valid adjacent neighbours of point i (one dimension moved to the previous or next value of its
 * list): writes at most cap indices to out and returns how many exist (at most 2 * ndims).
 */
size_t kg_search_space_adjacent(const kg_search_space *sp, size_t i, long *out, size_t cap);

/** Hamming distance (number of differing dimensions) between points i and j. */
int kg_search_space_distance(const kg_search_space *sp, size_t i, size_t j);

/* ---- searches ------------------------------------------------------------------------------ */

typedef struct kg_search kg_search;

/** Name of the default strategy ("knn": it wins the replay benchmark, bench/replay.sh). */
#define KG_SEARCH_DEFAULT "knn"

/** The strategy names, NULL-terminated, in a fixed order (for usage texts and benchmarks). */
const char *const *kg_search_strategies(void);

/**
 * Start a search with strategy `name` (see the list above) over sp (borrowed: it must outlive the
 * search) with the given seed.  Errors: KG_EINVAL (unknown strategy: the message lists the
 * known ones), KG_ENOMEM.
 */
kg_status kg_search_new(const kg_search_space *sp, const char *name, uint64_t seed, kg_search **out, kg_ctx *ctx);

/** Free; NULL is a no-op. */
void kg_search_free(kg_search *s);

/**
 * The next point to measure: an index into sp that was never told before and is not pending
 * (kg_search_ask_batch with n = 1).  Returns false when every point has been measured or is
 * pending.  The point is pending until told (kg_search_tell).
 */
bool kg_search_ask(kg_search *s, size_t *point);

/** The largest batch kg_search_ask_batch proposes at once. */
#define KG_SEARCH_MAX_BATCH 256

/**
 * Up to n (capped at KG_SEARCH_MAX_BATCH) distinct points to measure together: writes their
 * indices to out[0..k) and returns k.  Each is never told before and not pending; they become
 * pending until told (in any order).  k is 0 only when every point is measured or pending; k < n
 * when the strategy needs results first (see the batch notes above) or too few points are left.
 * With n = 1 and nothing pending it proposes what kg_search_ask does.
 */
size_t kg_search_ask_batch(kg_search *s, size_t n, size_t *out);

/** Points asked and not yet told. */
size_t kg_search_pending(const kg_search *s);

/**
 * The measured cost of a point (any unit, lower is better; INFINITY or NaN when the point failed:
 * it then never becomes the best).  Usually a pending point; a point never asked may be told too
 * (known costs, e.g. from a cache, before the first ask); a point told before is ignored.
 */
void kg_search_tell(kg_search *s, size_t point, double cost);

/** Points told so far (evaluations). */
size_t kg_search_evaluations(const kg_search *s);

/** Index of the best point told so far, or -1 when none succeeded. */
long kg_search_best(const kg_search *s);

/** The strategy's name. */
const char *kg_search_name(const kg_search *s);

#endif
