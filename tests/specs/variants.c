/*
 * variants.c - a test template whose MODE parameter makes variants that behave well or badly:
 * ok and unrolled compute y = a*x + y correctly, broken does not compile, segv crashes, hang
 * never returns, wrong computes a wrong result, abort calls abort().
 */
#include "../../templates/kg_util.h"

#define MODE_ok 0
#define MODE_unrolled 1
#define MODE_broken 2
#define MODE_segv 3
#define MODE_hang 4
#define MODE_wrong 5
#define MODE_abort 6
#ifndef MODE
#define MODE MODE_ok
#endif

#if MODE == MODE_broken
this line is not C;
#endif

typedef struct st {
  int64_t n;
  float *x, *y, *y0;
} st;

void *kg_create(const kg_problem *p) {
  st *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->n = kg_dim(p, "n", 1024);
  uint64_t rng = p->seed;
  s->x = kg_alloc(sizeof(float) * (size_t)s->n);
  s->y = kg_alloc(sizeof(float) * (size_t)s->n);
  s->y0 = kg_alloc(sizeof(float) * (size_t)s->n);
  kg_fill_float(s->x, (size_t)s->n, &rng);
  kg_fill_float(s->y0, (size_t)s->n, &rng);
  return s;
}

void kg_destroy(void *p) {
  st *s = p;
  if (!s) return;
  free(s->x), free(s->y), free(s->y0), free(s);
}

static void axpy(st *s, float *y) {
#if MODE == MODE_segv
  *(volatile int *)(uintptr_t)16 = 1;
#elif MODE == MODE_hang
  for (volatile int spin = 1; spin;) {
  }
#elif MODE == MODE_abort
  abort();
#endif
#if MODE == MODE_unrolled
  int64_t i = 0;
  for (; i + 4 <= s->n; i += 4) {
    y[i] = 2.0f * s->x[i] + y[i];
    y[i + 1] = 2.0f * s->x[i + 1] + y[i + 1];
    y[i + 2] = 2.0f * s->x[i + 2] + y[i + 2];
    y[i + 3] = 2.0f * s->x[i + 3] + y[i + 3];
  }
  for (; i < s->n; i++) y[i] = 2.0f * s->x[i] + y[i];
#else
  for (int64_t i = 0; i < s->n; i++) y[i] = 2.0f * s->x[i] + y[i] + (MODE == MODE_wrong && i == 7);
#endif
}

void kg_run(void *p) {
  st *s = p;
  axpy(s, s->y);
}

void kg_baseline_plain(void *p) {
  st *s = p;
  for (int64_t i = 0; i < s->n; i++) s->y[i] = 2.0f * s->x[i] + s->y[i];
}

/* A baseline that never returns, noting each start in $KG_TEST_HANG_LOG (test_tune.c counts how
 * often a timed-out baseline is measured). */
void kg_baseline_hang(void *p) {
  (void)p;
  const char *log = getenv("KG_TEST_HANG_LOG");
  FILE *f = log ? fopen(log, "a") : NULL;
  if (f) fputs("start\n", f), fclose(f);
  for (volatile int spin = 1; spin;) {
  }
}

int kg_verify(void *p, char *msg, size_t cap) {
  st *s = p;
  float *want = kg_alloc(sizeof(float) * (size_t)s->n);
  if (!want) return 1;
  memcpy(s->y, s->y0, sizeof(float) * (size_t)s->n);
  for (int64_t i = 0; i < s->n; i++) want[i] = 2.0f * s->x[i] + s->y0[i];
  axpy(s, s->y);
  int rc = kg_compare_float("y", s->y, want, (size_t)s->n, 1e-6, 1e-6, msg, cap);
  free(want);
  return rc;
}
