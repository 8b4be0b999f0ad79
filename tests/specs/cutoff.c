/*
 * cutoff.c - a test template whose WORK parameter sets how many passes kg_run makes over its
 * array: WORK = 100 is a hundred times slower than WORK = 1 (tests/test_search_tune.c: early cut-off).
 */
#include "../../templates/kg_util.h"

#ifndef WORK
#define WORK 1
#endif
#ifndef PAD
#define PAD 0
#endif

typedef struct st {
  int64_t n;
  float *x, *y;
} st;

void *kg_create(const kg_problem *p) {
  st *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->n = kg_dim(p, "n", 4096);
  uint64_t rng = p->seed;
  s->x = kg_alloc(sizeof(float) * (size_t)s->n);
  s->y = kg_alloc(sizeof(float) * (size_t)s->n);
  kg_fill_float(s->x, (size_t)s->n, &rng);
  kg_fill_float(s->y, (size_t)s->n, &rng);
  return s;
}

void kg_destroy(void *p) {
  st *s = p;
  if (!s) return;
  free(s->x), free(s->y), free(s);
}

void kg_run(void *p) {
  st *s = p;
  for (int w = 0; w < WORK; w++) {
    for (int64_t i = 0; i < s->n; i++) s->y[i] = 0.5f * s->x[i] + 0.5f * s->y[i] + (float)PAD * 0.0f;
    __asm__ volatile("" : : "r"(s->y) : "memory"); /* keep every pass */
  }
}
