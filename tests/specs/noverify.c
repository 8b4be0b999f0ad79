/* noverify.c - a test template without kg_verify (and, with OLD_ABI, of another harness ABI):
 * kgen refuses it unless the spec declares verify = false with a reason (tests/test_contract.c). */
#include <stdint.h>
#include <stdlib.h>

#include "../../templates/kg_abi.h"

#ifndef OLD_ABI
#define OLD_ABI 0
#endif
const int kg_abi_version = OLD_ABI ? 99 : KG_ABI_VERSION;

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
