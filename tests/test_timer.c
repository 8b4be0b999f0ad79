/* test_timer.c - the clock is monotonic, in nanoseconds, with a sub-microsecond step. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <time.h>

#include "kg_timer.h"

static void test_monotonic_ns(void **state) {
  uint64_t prev = kg_now_ns();
  for (int i = 0; i < 100000; i++) {
    uint64_t t = kg_now_ns();
    assert_true(t >= prev);
    prev = t;
  }
  uint64_t t0 = kg_now_ns();
  struct timespec ts = {0, 10 * 1000 * 1000};
  nanosleep(&ts, NULL);
  uint64_t dt = kg_now_ns() - t0;
  assert_true(dt >= 9000000); /* nanoseconds; no upper bound: a loaded machine may stall */
}

static void test_resolution(void **state) {
  double r = kg_timer_resolution_ns();
  assert_true(r > 0 && r < 1000);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_monotonic_ns), cmocka_unit_test(test_resolution)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
