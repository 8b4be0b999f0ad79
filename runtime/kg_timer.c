/* kg_timer.c - monotonic nanosecond clock. */
#include "kg_timer.h"

#include <stdlib.h>
#include <time.h>

uint64_t kg_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return (x > y) - (x < y);
}

/* The smallest non-zero step between back-to-back reads, taken as the median over many tries
 * so one preemption does not decide it. */
double kg_timer_resolution_ns(void) {
  enum { TRIES = 101 };
  uint64_t d[TRIES];
  for (int i = 0; i < TRIES; i++) {
    uint64_t t0 = kg_now_ns(), t1;
    do t1 = kg_now_ns();
    while (t1 == t0);
    d[i] = t1 - t0;
  }
  qsort(d, TRIES, sizeof d[0], cmp_u64);
  return (double)d[TRIES / 2];
}
