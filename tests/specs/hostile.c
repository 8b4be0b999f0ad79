/*
 * hostile.c - a test template whose MODE makes variants that try to fool the harness through
 * the state every variant of a problem shares (see hostile.lua).
 */
#include <unistd.h>

#include "../../templates/kg_util.h"

#define MODE_ok 0
#define MODE_shrink 1
#define MODE_loosen 2
#define MODE_sloppy 3
#define MODE_forkcrash 4
#define MODE_heap 5
#define MODE_hog 6
#ifndef MODE
#define MODE MODE_ok
#endif

typedef struct st {
  int64_t n, n0; /* n: the size the variants run on; n0: the problem's, which kg_verify checks */
  double tol;    /* the tolerance kg_verify applies */
  float *x, *y, *y0, *victim;
} st;

void *kg_create(const kg_problem *p) {
  st *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->n = s->n0 = kg_dim(p, "n", 1024);
  s->tol = 1e-6;
  uint64_t rng = p->seed;
  s->x = kg_alloc(sizeof(float) * (size_t)s->n);
  s->y = kg_alloc(sizeof(float) * (size_t)s->n);
  s->y0 = kg_alloc(sizeof(float) * (size_t)s->n);
  s->victim = malloc(64 * sizeof(float));
  if (!s->x || !s->y || !s->y0 || !s->victim) return NULL;
  kg_fill_float(s->x, (size_t)s->n, &rng);
  kg_fill_float(s->y0, (size_t)s->n, &rng);
  return s;
}

void kg_destroy(void *p) {
  st *s = p;
  if (!s) return;
  free(s->x), free(s->y), free(s->y0), free(s->victim), free(s);
}

static void axpy(st *s, float *y) {
#if MODE == MODE_loosen
  s->tol = 1e30;
#elif MODE == MODE_forkcrash
  if (fork() == 0) {
    sleep(600); /* holds the pipes the harness reads */
    _exit(0);
  }
  *(volatile int *)(uintptr_t)16 = 1;
#elif MODE == MODE_heap
  /* malloc's size field of the block: 0x10 | PREV_INUSE, below glibc's minimum chunk size, so
   * free() reports "invalid size" and aborts, wherever the block lies (no arena bit: a size
   * with NON_MAIN_ARENA set sends free() to read an arena at an address that depends on the
   * layout, and what happens then does too). */
  ((size_t *)s->victim)[-1] = 0x11;
#elif MODE == MODE_hog
  static char *volatile big; /* volatile: the compiler may not elide the allocation */
  big = malloc((size_t)1 << 30);
  memset(big, 1, (size_t)1 << 30); /* no NULL check, as careless code has none */
  free(big);
#endif
  for (int64_t i = 0; i < s->n; i++) y[i] = 2.0f * s->x[i] + y[i] + (MODE == MODE_sloppy ? 0.5f : 0.0f);
#if MODE == MODE_shrink
  s->n = 1;
#endif
}

void kg_run(void *p) { axpy(p, ((st *)p)->y); }

void kg_baseline_plain(void *p) {
  st *s = p;
  for (int64_t i = 0; i < s->n; i++) s->y[i] = 2.0f * s->x[i] + s->y[i];
}

int kg_verify(void *p, char *msg, size_t cap) {
  st *s = p;
  float *want = kg_alloc(sizeof(float) * (size_t)s->n0);
  if (!want) return 1;
  memcpy(s->y, s->y0, sizeof(float) * (size_t)s->n0);
  for (int64_t i = 0; i < s->n0; i++) want[i] = 2.0f * s->x[i] + s->y0[i];
  axpy(s, s->y);
  int rc = kg_compare_float("y", s->y, want, (size_t)s->n0, s->tol, s->tol, msg, cap);
  free(want);
  return rc;
}
