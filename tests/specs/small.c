/* small.c - test template */
#include "small_inc.h"
#include <stdio.h>

#ifndef A
#define A 1
#endif

int small_body(int *x) {
  int acc = 0;
  /*$slot body
  for i = 0, A - 1 do emit("acc += x[%d] * %d; /* mode %s */", i, B, MODE) end
  $*/
  for (int i = 0; i < A; i++) acc += x[i] * B;
  /*$end*/
  return acc;
}
