/* noabi.c - noverify.c without kg_abi_version: kgen refuses it (kgen itself defines the symbol, so
 * this also checks that a lookup never falls back to the process; tests/test_contract.c). */
#include <stdint.h>
#include <stdlib.h>

#include "../../templates/kg_abi.h"

#ifndef OLD_ABI
#define OLD_ABI 0
#endif

typedef struct st {
  int64_t n;
  float *y;
} st;

void *kg_create(const kg_problem *p) {
  st *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->n = 4096;
  s->y = calloc((size_t)s->n, sizeof(float));
  (void)p;
  return s->y ? s : NULL;
}

void kg_destroy(void *p) {
  st *s = p;
  if (s) free(s->y), free(s);
}

/* wrong on purpose: nothing checks it */
void kg_run(void *p) {
  st *s = p;
  for (int64_t i = 0; i < s->n; i++) s->y[i] += 1.0f;
}
