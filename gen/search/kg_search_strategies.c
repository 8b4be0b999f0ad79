/*
 * kg_search_strategies.c - genetic algorithm, simulated annealing, greedy iterated local search and
 * the AUC bandit ensemble, each a state machine behind kg_strategy_ops (kg_search_impl.h).
 * Sources are cited in kg_search.h.
 */
#include <stdlib.h>
#include <string.h>

#include "kg_search_impl.h"


/* Random valid point that differs from point i in `changes` random dimensions (each set to a random
 * other value); retries `tries` times, then -1. */
static long kg_perturb(kg_search *s, size_t i, int changes, int tries, int32_t *buf) {
  const kg_search_space *sp = s->sp;
  for (int t = 0; t < tries; t++) {
    memcpy(buf, kg_search_space_point(sp, i), sizeof *buf * (size_t)sp->ndims);
    for (int c = 0; c < changes; c++) {
      int d = (int)kg_rng_below(&s->rng, (uint64_t)sp->ndims);
      if (sp->card[d] < 2) continue;
      int32_t v = (int32_t)kg_rng_below(&s->rng, (uint64_t)sp->card[d] - 1);
      buf[d] = v >= buf[d] ? v + 1 : v;
    }
    long j = kg_search_space_find(sp, buf);
    if (j >= 0 && (size_t)j != i && !s->seen[j]) return j;
  }
  return -1;
}

/* ==== genetic algorithm ==================================================================== */

enum { KG_GA_POP = 20, KG_GA_MUTATION = 10, KG_GA_TRIES = 20 };

typedef struct kg_ga {
  long pop[2 * KG_GA_POP]; /* parents [0, npop) then this generation's children */
  double cost[2 * KG_GA_POP];
  int npop, nchild;
  int inflight; /* proposals not observed yet (batches: a generation waits for its children) */
  long expect;  /* the child proposed last, -1 when none */
  int32_t *a;  /* [ndims] scratch */
} kg_ga;

static void *kg_ga_create(kg_search *s) {
  kg_ga *g = calloc(1, sizeof *g);
  if (!g) return NULL;
  g->a = malloc(sizeof *g->a * (size_t)s->sp->ndims);
  if (!g->a) {
    free(g);
    return NULL;
  }
  g->expect = -1;
  return g;
}

static void kg_ga_destroy(void *st) {
  kg_ga *g = st;
  free(g->a);
  free(g);
}

static int kg_ga_parent(kg_search *s, int npop) {
  /* rank-weighted choice: weight npop - rank (the population is sorted best first) */
  uint64_t total = (uint64_t)npop * (uint64_t)(npop + 1) / 2, r = kg_rng_below(&s->rng, total);
  for (int k = 0; k < npop; k++) {
    uint64_t w = (uint64_t)(npop - k);
    if (r < w) return k;
    r -= w;
  }
  return 0;
}

static long kg_ga_propose(void *st, kg_search *s) {
  kg_ga *g = st;
  const kg_search_space *sp = s->sp;
  if (s->npending > 0 && (g->npop < KG_GA_POP ? g->npop : g->nchild) + g->inflight >= KG_GA_POP)
    return KG_SEARCH_WAIT; /* this generation is complete once its pending members are told */
  g->inflight++;
  if (g->npop < KG_GA_POP) return g->expect = -1; /* initial population: random points */
  for (int t = 0; t < KG_GA_TRIES; t++) {
    const int32_t *x = kg_search_space_point(sp, (size_t)g->pop[kg_ga_parent(s, g->npop)]);
    const int32_t *y = kg_search_space_point(sp, (size_t)g->pop[kg_ga_parent(s, g->npop)]);
    int cut = sp->ndims > 1 ? 1 + (int)kg_rng_below(&s->rng, (uint64_t)sp->ndims - 1) : 0;
    for (int d = 0; d < sp->ndims; d++) {
      g->a[d] = d < cut ? x[d] : y[d];
      if (sp->card[d] > 1 && kg_rng_below(&s->rng, KG_GA_MUTATION) == 0) {
        int32_t v = (int32_t)kg_rng_below(&s->rng, (uint64_t)sp->card[d] - 1);
        g->a[d] = v >= g->a[d] ? v + 1 : v;
      }
    }
    long j = kg_search_space_find(sp, g->a);
    if (j >= 0 && !s->seen[j]) return g->expect = j;
  }
  return g->expect = -1; /* repair: resample from the valid space */
}

static int kg_ga_cmp_cost(const void *a, const void *b) {
  const double *x = a, *y = b;
  return (*x > *y) - (*x < *y);
}

static void kg_ga_observe(void *st, kg_search *s, size_t point, double cost, bool improved) {
  kg_ga *g = st;
  if (g->inflight > 0) g->inflight--;
  if (g->npop < KG_GA_POP) {
    g->pop[g->npop] = (long)point;
    g->cost[g->npop++] = cost;
    return;
  }
  g->pop[g->npop + g->nchild] = (long)point;
  g->cost[g->npop + g->nchild++] = cost;
  if (g->nchild < KG_GA_POP) return;
  /* next generation: the best KG_GA_POP of parents and children (a (mu + lambda) replacement) */
  struct {
    double c;
    long p;
  } all[2 * KG_GA_POP];
  int n = g->npop + g->nchild, m = 0;
  for (int k = 0; k < n; k++) {
    bool dup = false;
    for (int q = 0; q < m; q++) dup |= all[q].p == g->pop[k];
    if (!dup) all[m].c = g->cost[k], all[m++].p = g->pop[k];
  }
  qsort(all, (size_t)m, sizeof all[0], kg_ga_cmp_cost);
  g->npop = m < KG_GA_POP ? m : KG_GA_POP;
  for (int k = 0; k < g->npop; k++) g->pop[k] = all[k].p, g->cost[k] = all[k].c;
  g->nchild = 0;
}

const kg_strategy_ops kg_strategy_ga = {"ga", kg_ga_create, kg_ga_propose, kg_ga_observe, kg_ga_destroy, NULL};

/* ==== simulated annealing ================================================================== */

typedef struct kg_sa {
  long cur, start; /* start: the random point of the last restart */
  double cur_cost, temp;
  long *nb;                       /* [2 * ndims] */
  long prop[KG_SEARCH_MAX_BATCH]; /* neighbours proposed and not observed yet */
  int nprop;
} kg_sa;

#define KG_SA_T0 1.0
#define KG_SA_TMIN 0.001
#define KG_SA_ALPHA 0.995

static void *kg_sa_create(kg_search *s) {
  kg_sa *a = calloc(1, sizeof *a);
  if (!a) return NULL;
  a->nb = malloc(sizeof *a->nb * 2 * (size_t)s->sp->ndims);
  if (!a->nb) {
    free(a);
    return NULL;
  }
  a->cur = a->start = -1;
  a->temp = KG_SA_T0;
  return a;
}

static void kg_sa_destroy(void *st) {
  kg_sa *a = st;
  free(a->nb);
  free(a);
}

/* A restart at a random unmeasured point (with a batch: once the last restart's point is told). */
static long kg_sa_restart(kg_sa *a, kg_search *s) {
  if (a->start >= 0 && s->seen[a->start] == 2) return KG_SEARCH_WAIT;
  return a->start = (long)kg_search_random_unseen(s);
}

static long kg_sa_propose(void *st, kg_search *s) {
  kg_sa *a = st;
  if (a->cur < 0) return kg_sa_restart(a, s);
  size_t n = kg_search_space_adjacent(s->sp, (size_t)a->cur, a->nb, 2 * (size_t)s->sp->ndims);
  if (n == 0) { /* an isolated point: restart */
    a->cur = -1;
    return kg_sa_restart(a, s);
  }
  long p = a->nb[kg_rng_below(&s->rng, n)];
  bool known = false;
  for (int i = 0; i < a->nprop && !known; i++) known = a->prop[i] == p;
  if (!known) {
    if (a->nprop == KG_SEARCH_MAX_BATCH) memmove(a->prop, a->prop + 1, sizeof a->prop[0] * (size_t)--a->nprop);
    a->prop[a->nprop++] = p;
  }
  return p;
}

static void kg_sa_observe(void *st, kg_search *s, size_t point, double cost, bool improved) {
  kg_sa *a = st;
  int at = -1;
  for (int i = 0; i < a->nprop && at < 0; i++)
    if (a->prop[i] == (long)point) at = i;
  if (at >= 0) memmove(a->prop + at, a->prop + at + 1, sizeof a->prop[0] * (size_t)(--a->nprop - at));
  if (a->start == (long)point) a->start = -1;
  if (a->cur < 0) { /* a (re)start */
    a->cur = (long)point, a->cur_cost = cost, a->temp = KG_SA_T0;
    return;
  }
  if (at < 0) { /* a point picked for us: move there only if it is better */
    if (cost < a->cur_cost) a->cur = (long)point, a->cur_cost = cost;
    return;
  }
  double ap;
  if (!isfinite(a->cur_cost)) ap = 1.0;
  else if (!isfinite(cost)) ap = 0.0;
  else if (cost < a->cur_cost) ap = 1.0;
  else ap = exp((a->cur_cost - cost) / a->cur_cost / a->temp);
  if (ap >= 1.0 || kg_rng_uniform(&s->rng) < ap) a->cur = (long)point, a->cur_cost = cost;
  a->temp *= KG_SA_ALPHA;
  if (a->temp < KG_SA_TMIN) { /* cold: restart at a random point */
    a->cur = -1;
    a->temp = KG_SA_T0;
  }
}

const kg_strategy_ops kg_strategy_anneal = {"anneal", kg_sa_create, kg_sa_propose, kg_sa_observe, kg_sa_destroy, NULL};

/* ==== greedy iterated local search ========================================================= */

enum { KG_ILS_NO_IMPROVEMENT = 50 };
#define KG_ILS_WALK 0.3

typedef struct kg_ils {
  long cur;
  long walk, restart; /* the last random-walk step and restart point, -1 once observed */
  double cur_cost;
  long *nb; /* [cap] Hamming neighbours of cur, shuffled */
  size_t cap, nnb, next;
  long best_nb; /* best neighbour of this scan */
  double best_nb_cost;
  size_t last_best; /* evaluations at the search's last new best */
  int32_t *buf;
} kg_ils;

static void *kg_ils_create(kg_search *s) {
  kg_ils *l = calloc(1, sizeof *l);
  if (!l) return NULL;
  l->cap = 0;
  for (int d = 0; d < s->sp->ndims; d++) l->cap += (size_t)s->sp->card[d];
  l->nb = malloc(sizeof *l->nb * l->cap);
  l->buf = malloc(sizeof *l->buf * (size_t)s->sp->ndims);
  if (!l->nb || !l->buf) {
    free(l->nb);
    free(l->buf);
    free(l);
    return NULL;
  }
  l->cur = l->walk = l->restart = -1;
  return l;
}

static void kg_ils_destroy(void *st) {
  kg_ils *l = st;
  free(l->nb);
  free(l->buf);
  free(l);
}

static void kg_ils_move(kg_search *s, kg_ils *l, long to, double cost) {
  l->cur = to;
  l->cur_cost = cost;
  l->nnb = kg_search_space_hamming(s->sp, (size_t)to, l->nb, l->cap);
  for (size_t k = l->nnb; k > 1; k--) { /* Fisher-Yates */
    size_t j = kg_rng_below(&s->rng, k);
    long t = l->nb[k - 1];
    l->nb[k - 1] = l->nb[j];
    l->nb[j] = t;
  }
  l->next = 0;
  l->best_nb = -1;
  l->best_nb_cost = INFINITY;
}

/* A pending point of ours whose result the next move needs, or none. */
static bool kg_ils_waits(const kg_ils *l, const kg_search *s) {
  if (s->npending == 0) return false;
  if ((l->walk >= 0 && s->seen[l->walk] == 2) || (l->restart >= 0 && s->seen[l->restart] == 2)) return true;
  if (l->cur < 0 || l->next < l->nnb) return false;
  for (size_t k = 0; k < l->nnb; k++) /* the scan is complete once its pending neighbours are told */
    if (s->seen[l->nb[k]] == 2) return true;
  return false;
}

static long kg_ils_propose(void *st, kg_search *s) {
  kg_ils *l = st;
  if (kg_ils_waits(l, s)) return KG_SEARCH_WAIT;
  if (l->cur < 0) return l->restart = (long)kg_search_random_unseen(s);
  if (l->next < l->nnb) return l->nb[l->next++];
  /* the scan is complete: move to the best neighbour if it improves */
  if (l->best_nb >= 0 && l->best_nb_cost < l->cur_cost) {
    kg_ils_move(s, l, l->best_nb, l->best_nb_cost);
    if (l->next < l->nnb) return l->nb[l->next++];
  }
  /* a local optimum: restart after a stall, else a random walk from here */
  if (s->nevals - l->last_best >= KG_ILS_NO_IMPROVEMENT) {
    l->last_best = s->nevals;
    l->cur = -1;
    return l->restart = (long)kg_search_random_unseen(s);
  }
  int changes = (int)ceil(KG_ILS_WALK * s->sp->ndims);
  l->walk = kg_perturb(s, (size_t)l->cur, changes, 20, l->buf);
  if (l->walk < 0) l->walk = (long)kg_search_random_unseen(s); /* no valid walk: a random point */
  return l->walk;
}

static void kg_ils_observe(void *st, kg_search *s, size_t point, double cost, bool improved) {
  kg_ils *l = st;
  if (improved) l->last_best = s->nevals;
  bool scanned = false; /* a neighbour of this scan */
  for (size_t k = 0; l->cur >= 0 && (long)point != l->walk && k < l->next && !scanned; k++)
    scanned = l->nb[k] == (long)point;
  if (!scanned) { /* (re)start, walk, or picked for us */
    if (l->walk == (long)point) l->walk = -1;
    if (l->restart == (long)point) l->restart = -1;
    kg_ils_move(s, l, (long)point, cost);
    return;
  }
  if (cost < l->best_nb_cost) l->best_nb = (long)point, l->best_nb_cost = cost;
}

const kg_strategy_ops kg_strategy_ils = {"ils", kg_ils_create, kg_ils_propose, kg_ils_observe, kg_ils_destroy, NULL};

/* ==== AUC bandit ensemble (OpenTuner) ====================================================== */

enum { KG_BANDIT_N = 4, KG_BANDIT_WINDOW = 500 };
#define KG_BANDIT_C 0.05

typedef struct kg_bandit {
  const kg_strategy_ops *ops[KG_BANDIT_N];
  void *st[KG_BANDIT_N];
  long uses[KG_BANDIT_N];
  uint8_t hist_tech[KG_BANDIT_WINDOW], hist_imp[KG_BANDIT_WINDOW];
  int nhist, head;
  int active;
  long pend[KG_SEARCH_MAX_BATCH];         /* points proposed and not observed yet (ring; -1 = free) ... */
  uint8_t pend_tech[KG_SEARCH_MAX_BATCH]; /* ... and the technique that proposed each */
  int pend_head;
} kg_bandit;

static void kg_bandit_destroy(void *st) {
  kg_bandit *b = st;
  for (int k = 0; k < KG_BANDIT_N; k++)
    if (b->st[k]) b->ops[k]->destroy(b->st[k]);
  free(b);
}

static void *kg_bandit_create(kg_search *s) {
  kg_bandit *b = calloc(1, sizeof *b);
  if (!b) return NULL;
  const kg_strategy_ops *ops[KG_BANDIT_N] = {&kg_strategy_ga, &kg_strategy_anneal, &kg_strategy_ils,
                                             &kg_strategy_random};
  for (int k = 0; k < KG_BANDIT_N; k++) {
    b->ops[k] = ops[k];
    if (!(b->st[k] = ops[k]->create(s))) {
      kg_bandit_destroy(b);
      return NULL;
    }
  }
  b->active = -1;
  for (int i = 0; i < KG_SEARCH_MAX_BATCH; i++) b->pend[i] = -1;
  return b;
}

static double kg_bandit_score(const kg_bandit *b, int k) {
  if (b->uses[k] == 0) return INFINITY;
  /* exploitation: area under the curve of k's improvements in the window, recent ones weigh more */
  double pos = 0, sum = 0;
  for (int i = 0; i < b->nhist; i++) {
    int at = (b->head - b->nhist + i + KG_BANDIT_WINDOW) % KG_BANDIT_WINDOW;
    if (b->hist_tech[at] != k) continue;
    pos += 1;
    if (b->hist_imp[at]) sum += pos;
  }
  double exploit = pos > 0 ? sum * 2.0 / (pos * (pos + 1.0)) : 0.0;
  double explore = sqrt(2.0 * log2((double)(b->nhist > 1 ? b->nhist : 2)) / (double)b->uses[k]);
  return exploit + KG_BANDIT_C * explore;
}

static long kg_bandit_propose(void *st, kg_search *s) {
  kg_bandit *b = st;
  double score[KG_BANDIT_N];
  bool tried[KG_BANDIT_N] = {false};
  for (int k = 0; k < KG_BANDIT_N; k++) score[k] = kg_bandit_score(b, k);
  for (int round = 0; round < KG_BANDIT_N; round++) { /* best score first; the next when it waits */
    int best = -1;
    for (int k = 0; k < KG_BANDIT_N; k++)
      if (!tried[k] && (best < 0 || score[k] > score[best])) best = k;
    tried[best] = true;
    long p = kg_search_fresh(s, b->ops[best], b->st[best]);
    if (p == KG_SEARCH_WAIT) continue;
    b->active = best;
    b->pend[b->pend_head] = p;
    b->pend_tech[b->pend_head] = (uint8_t)best;
    b->pend_head = (b->pend_head + 1) % KG_SEARCH_MAX_BATCH;
    return p;
  }
  return KG_SEARCH_WAIT;
}

static void kg_bandit_observe(void *st, kg_search *s, size_t point, double cost, bool improved) {
  kg_bandit *b = st;
  int k = b->active >= 0 ? b->active : 0;
  for (int i = 0; i < KG_SEARCH_MAX_BATCH; i++) /* the technique that proposed it */
    if (b->pend[i] == (long)point) {
      k = b->pend_tech[i];
      b->pend[i] = -1;
      break;
    }
  b->ops[k]->observe(b->st[k], s, point, cost, improved);
  /* a new best is shared with the other techniques (OpenTuner's techniques all read the one
   * results database): to each it is a point picked for it */
  if (improved)
    for (int o = 0; o < KG_BANDIT_N; o++)
      if (o != k) b->ops[o]->observe(b->st[o], s, point, cost, improved);
  b->uses[k]++;
  b->hist_tech[b->head] = (uint8_t)k;
  b->hist_imp[b->head] = improved;
  b->head = (b->head + 1) % KG_BANDIT_WINDOW;
  if (b->nhist < KG_BANDIT_WINDOW) b->nhist++;
  b->active = -1;
}

const kg_strategy_ops kg_strategy_bandit = {"bandit",          kg_bandit_create,  kg_bandit_propose,
                                            kg_bandit_observe, kg_bandit_destroy, NULL};

/* ==== k-nearest-neighbour surrogate screening ============================================== */

enum { KG_KNN_INIT = 20, KG_KNN_TOP = 16, KG_KNN_POOL = 16, KG_KNN_REF = 128, KG_KNN_K = 3, KG_KNN_RANDOM = 10 };

typedef struct kg_knn {
  long top[KG_KNN_TOP]; /* best successful points, best first */
  double top_cost[KG_KNN_TOP];
  int ntop;
  long ref[KG_KNN_REF]; /* the most recent measured points (ring) */
  int nref, head;
  double worst; /* largest finite cost seen */
  int32_t *buf;
  long *cand;   /* [KG_KNN_POOL * KG_SEARCH_MAX_BATCH] a batch's candidates */
  double *pred; /* [KG_KNN_POOL * KG_SEARCH_MAX_BATCH] their predictions */
} kg_knn;

static void *kg_knn_create(kg_search *s) {
  kg_knn *k = calloc(1, sizeof *k);
  if (!k) return NULL;
  k->buf = malloc(sizeof *k->buf * (size_t)s->sp->ndims);
  k->cand = malloc(sizeof *k->cand * KG_KNN_POOL * KG_SEARCH_MAX_BATCH);
  k->pred = malloc(sizeof *k->pred * KG_KNN_POOL * KG_SEARCH_MAX_BATCH);
  if (!k->buf || !k->cand || !k->pred) {
    free(k->buf);
    free(k->cand);
    free(k->pred);
    free(k);
    return NULL;
  }
  return k;
}

static void kg_knn_destroy(void *st) {
  kg_knn *k = st;
  free(k->buf);
  free(k->cand);
  free(k->pred);
  free(k);
}

/* log cost, failed points ranked as twice the worst successful one */
static double kg_knn_value(const kg_knn *k, double cost) {
  return isfinite(cost) ? log(cost) : log(k->worst > 0 ? 2 * k->worst : 1.0);
}

/* mean log cost of the KG_KNN_K reference points nearest to c in Hamming distance, plus the
 * distance to the nearest (smaller is more certain); ties in distance go to the better point */
static double kg_knn_predict(const kg_search *s, const kg_knn *k, size_t c) {
  int bd[KG_KNN_K];
  double bv[KG_KNN_K];
  int nb = 0;
  for (int r = 0; r < k->nref; r++) {
    int d = kg_search_space_distance(s->sp, c, (size_t)k->ref[r]);
    double v = kg_knn_value(k, s->cost[k->ref[r]]);
    int at = nb < KG_KNN_K ? nb++ : KG_KNN_K;
    while (at > 0 && (bd[at - 1] > d || (bd[at - 1] == d && bv[at - 1] > v))) {
      if (at < KG_KNN_K) bd[at] = bd[at - 1], bv[at] = bv[at - 1];
      at--;
    }
    if (at < KG_KNN_K) bd[at] = d, bv[at] = v;
  }
  double sum = 0;
  for (int i = 0; i < nb; i++) sum += bv[i];
  return nb ? sum / nb : 0.0;
}

static long kg_knn_propose(void *st, kg_search *s) {
  kg_knn *k = st;
  if (s->nevals < KG_KNN_INIT || k->ntop == 0 || kg_rng_below(&s->rng, KG_KNN_RANDOM) == 0) return -1;
  long best = -1;
  double best_pred = INFINITY;
  for (int c = 0; c < KG_KNN_POOL; c++) {
    /* a parent among the best points (rank-weighted), changed in 1 + Geometric(1/2) dimensions */
    int parent = kg_ga_parent(s, k->ntop), changes = 1;
    while (changes < s->sp->ndims && kg_rng_below(&s->rng, 2)) changes++;
    long cand = kg_perturb(s, (size_t)k->top[parent], changes, 8, k->buf);
    if (cand < 0) continue;
    double pred = kg_knn_predict(s, k, (size_t)cand);
    if (pred < best_pred) best = cand, best_pred = pred;
  }
  return best;
}

/* A batch of n: the n best-predicted distinct candidates of a pool of KG_KNN_POOL * n mutations of
 * the best points, each slot random (-1) with chance 1 / KG_KNN_RANDOM; all random while fewer than
 * KG_KNN_INIT points are measured (at most the initial points still missing, once some are). */
static size_t kg_knn_propose_batch(void *st, kg_search *s, size_t n, long *out) {
  kg_knn *k = st;
  size_t ask = s->nevals + s->npending;
  if (s->nevals < KG_KNN_INIT || k->ntop == 0) {
    /* the initial points (then wait for them: ask < KG_KNN_INIT while none are pending), or all
     * random while every point measured failed */
    size_t m = s->nevals >= KG_KNN_INIT ? n : ask < KG_KNN_INIT ? KG_KNN_INIT - ask : 0;
    if (m > n) m = n;
    for (size_t i = 0; i < m; i++) out[i] = -1;
    return m;
  }
  size_t nc = 0;
  for (size_t c = 0; c < KG_KNN_POOL * n; c++) {
    int parent = kg_ga_parent(s, k->ntop), changes = 1;
    while (changes < s->sp->ndims && kg_rng_below(&s->rng, 2)) changes++;
    long cand = kg_perturb(s, (size_t)k->top[parent], changes, 8, k->buf);
    bool dup = cand < 0;
    for (size_t j = 0; j < nc && !dup; j++) dup = k->cand[j] == cand;
    if (dup) continue;
    double pred = kg_knn_predict(s, k, (size_t)cand);
    size_t at = nc++; /* insertion by prediction, the earlier candidate first among equals */
    while (at > 0 && k->pred[at - 1] > pred) {
      k->cand[at] = k->cand[at - 1], k->pred[at] = k->pred[at - 1];
      at--;
    }
    k->cand[at] = cand, k->pred[at] = pred;
  }
  size_t next = 0;
  for (size_t i = 0; i < n; i++)
    out[i] = kg_rng_below(&s->rng, KG_KNN_RANDOM) == 0 || next == nc ? -1 : k->cand[next++];
  return n;
}

static void kg_knn_observe(void *st, kg_search *s, size_t point, double cost, bool improved) {
  kg_knn *k = st;
  if (isfinite(cost) && cost > k->worst) k->worst = cost;
  k->ref[k->head] = (long)point;
  k->head = (k->head + 1) % KG_KNN_REF;
  if (k->nref < KG_KNN_REF) k->nref++;
  if (!isfinite(cost)) return;
  for (int i = 0; i < k->ntop; i++)
    if (k->top[i] == (long)point) return;
  int at = k->ntop < KG_KNN_TOP ? k->ntop++ : KG_KNN_TOP;
  while (at > 0 && k->top_cost[at - 1] > cost) {
    if (at < KG_KNN_TOP) k->top[at] = k->top[at - 1], k->top_cost[at] = k->top_cost[at - 1];
    at--;
  }
  if (at < KG_KNN_TOP) k->top[at] = (long)point, k->top_cost[at] = cost;
}

const kg_strategy_ops kg_strategy_knn = {"knn",          kg_knn_create,  kg_knn_propose,
                                         kg_knn_observe, kg_knn_destroy, kg_knn_propose_batch};
