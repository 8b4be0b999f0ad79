/*
 * kg_team.h - a small team of spinning helper threads for templates whose parallel parts are
 * too short for an OpenMP parallel region (~1.1 us of fork/join on the 2-core VM we tune on,
 * the team ~0.45 us).  Header-only and kernel-free: the expander inlines it into a variant (the
 * harness's team: one per state), and the shipped library compiles it once in its runtime
 * (gen/ship/runtime/kgen_pool.c: one team shared by every variant of the library, see
 * KG_SHARED_TEAM below).
 *
 * kg_team_run(t, job, arg, nth): the caller and nth - 1 helpers run job(arg, id, nth), id 0
 * being the caller.  Each helper has a cache line with its job and `go` word: job j is posted
 * as go = 4j + 1 and taken by a compare-and-swap, to 4j + 2 by the helper, or to 4j + 3 by the
 * caller once it has run its own share: a helper that has not started (descheduled on a shared
 * machine, or asleep) never stalls a call, its share runs on the caller.  Helpers spin on the
 * swap itself, which takes the line in one transfer (spinning on a load, then swapping, costs a
 * second one: 1.33 against 1.10 us for 2 x 0.64 us of work), and report in a line of their own
 * (`done`), so a call costs one round trip.
 * Idle helpers spin for the team's spin_ns after their last job, then sleep on a condition
 * variable; a call that finds sleepers wakes them before running its own share (they join it
 * if it is long enough; a short one runs their shares itself).  Not reentrant: one caller at a
 * time per team (the caller serialises).
 */
#ifndef KG_TEAM_H
#define KG_TEAM_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(__x86_64__) || defined(__i386__)
#define KG_TEAM_PAUSE() __builtin_ia32_pause()
#else
#define KG_TEAM_PAUSE() ((void)0)
#endif

/** A job: the share `id` (0 = the caller) of `nth` parts of arg's work. */
typedef void (*kg_team_job)(void *arg, int id, int nth);

#ifdef KG_SHARED_TEAM
/**
 * The shipped library's team (gen/ship/runtime/kgen_pool.c), shared by every variant: runs
 * job(arg, id, n) on n = min(nth, usable cores) threads, the caller included; on this thread
 * alone (job(arg, 0, 1)) when another caller holds the team.  Helpers spin briefly (100 us,
 * KGEN_SPIN_US) after each job, then sleep.
 */
__attribute__((visibility("hidden"))) void kgr_team_run(kg_team_job job, void *arg, int nth);
#endif

typedef struct kg_team_helper {
  _Alignas(64) atomic_uint_fast64_t go; /* 4j + 1: posted; + 2: helper's, + 3: the caller's */
  kg_team_job job;                      /* NULL: quit */
  void *arg;
  int id, nth;
  _Alignas(64) atomic_uint_fast64_t done; /* 4j + 2 once the helper has run job j */
  struct kg_team *team;
  pthread_t thread;
} kg_team_helper;

typedef struct kg_team {
  int nth, want;      /* threads (the caller included), and as asked */
  int64_t spin_ns;    /* idle helpers spin this long after a job, then sleep */
  uint_fast64_t jobs; /* posted so far (the caller's count) */
  _Alignas(64) atomic_int sleepers;
  atomic_uint_fast64_t wakes; /* bumped by each wake-up, under mu */
  pthread_mutex_t mu;
  pthread_cond_t cv;
  kg_team_helper h[]; /* nth - 1 */
} kg_team;

static inline int64_t kg_team_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void *kg_team_helper_main(void *p) {
  kg_team_helper *h = p;
  kg_team *t = h->team;
  uint_fast64_t want = 5; /* go of the next job to take: 4j + 1 */
  int64_t idle = kg_team_now_ns();
  for (unsigned spin = 1;; spin++) {
    uint_fast64_t v = want;
    if (atomic_compare_exchange_weak_explicit(&h->go, &v, want + 1, memory_order_acquire, memory_order_relaxed)) {
      if (!h->job) return NULL;
      h->job(h->arg, h->id, h->nth);
      atomic_store_explicit(&h->done, want + 1, memory_order_release);
      want += 4, idle = kg_team_now_ns(), spin = 0;
      continue;
    }
    if (v % 4 == 1) want = v;              /* posted while this thread slept, or skipped jobs */
    else if (v > want) want = (v | 3) + 2; /* job taken back by the caller */
    KG_TEAM_PAUSE();
    if (spin % 256 || kg_team_now_ns() - idle < t->spin_ns) continue;
    /* Sleep until a job is posted or the caller wakes the team (then spin again).  sleepers
     * before go here, the caller's swap of go before sleepers (all seq_cst): if the caller does
     * not see this sleeper, this sleeper sees the job taken, and the next call wakes it. */
    const uint_fast64_t wakes = atomic_load(&t->wakes);
    atomic_fetch_add(&t->sleepers, 1);
    pthread_mutex_lock(&t->mu);
    while (atomic_load(&t->wakes) == wakes && atomic_load(&h->go) % 4 != 1) pthread_cond_wait(&t->cv, &t->mu);
    pthread_mutex_unlock(&t->mu);
    atomic_fetch_sub(&t->sleepers, 1);
    idle = kg_team_now_ns();
  }
}

/* Post job (NULL: quit) to the first nth - 1 helpers; returns its go value.  A release store,
 * not seq_cst: that one would stall the caller until the helper's line arrives. */
static inline uint_fast64_t kg_team_post(kg_team *t, kg_team_job job, void *arg, int nth) {
  const uint_fast64_t go = 4 * ++t->jobs + 1;
  for (int i = 0; i < nth - 1; i++) {
    t->h[i].job = job, t->h[i].arg = arg, t->h[i].nth = nth; /* read once the helper has taken go */
    atomic_store_explicit(&t->h[i].go, go, memory_order_release);
  }
  return go;
}

static inline void kg_team_wake(kg_team *t) {
  pthread_mutex_lock(&t->mu);
  atomic_fetch_add(&t->wakes, 1);
  pthread_cond_broadcast(&t->cv);
  pthread_mutex_unlock(&t->mu);
}

/** Stop and join the helpers, free t (NULL: nothing). */
static inline void kg_team_free(kg_team *t) {
  if (!t) return;
  kg_team_post(t, NULL, NULL, t->nth);
  kg_team_wake(t);
  for (int i = 0; i < t->nth - 1; i++) pthread_join(t->h[i].thread, NULL);
  pthread_cond_destroy(&t->cv);
  pthread_mutex_destroy(&t->mu);
  free(t);
}

/** A team of up to nth threads, the caller included (fewer if a thread cannot be created),
 *  whose idle helpers spin spin_ns before sleeping; NULL if out of memory.  Free with
 *  kg_team_free. */
static inline kg_team *kg_team_new(int nth, int64_t spin_ns) {
  if (nth < 1) nth = 1;
  kg_team *t = aligned_alloc(64, (sizeof *t + (size_t)(nth - 1) * sizeof t->h[0] + 63) / 64 * 64);
  if (!t) return NULL;
  memset(t, 0, sizeof *t + (size_t)(nth - 1) * sizeof t->h[0]);
  pthread_mutex_init(&t->mu, NULL);
  pthread_cond_init(&t->cv, NULL);
  t->nth = 1, t->want = nth, t->spin_ns = spin_ns;
  for (int i = 0; i < nth - 1; i++) {
    t->h[i].team = t, t->h[i].id = i + 1;
    if (pthread_create(&t->h[i].thread, NULL, kg_team_helper_main, &t->h[i])) break;
    t->nth++;
  }
  return t;
}

/** Run job(arg, id, n) for id = 0 (this thread) .. n - 1, n = min(nth, t's threads); returns
 *  once every share has run. */
static inline void kg_team_run(kg_team *t, kg_team_job job, void *arg, int nth) {
  if (nth > t->nth) nth = t->nth;
  if (nth < 2) {
    job(arg, 0, 1);
    return;
  }
  const uint_fast64_t go = kg_team_post(t, job, arg, nth);
  if (atomic_load_explicit(&t->sleepers, memory_order_relaxed)) kg_team_wake(t); /* join if they can */
  job(arg, 0, nth);
  for (int i = 0; i < nth - 1; i++) {
    uint_fast64_t v = go;
    if (atomic_compare_exchange_strong(&t->h[i].go, &v, go + 2)) job(arg, i + 1, nth);
    else
      while (atomic_load_explicit(&t->h[i].done, memory_order_acquire) != go + 1) KG_TEAM_PAUSE();
  }
  if (atomic_load(&t->sleepers)) kg_team_wake(t); /* for the next call */
}

#endif
