/* test_counters.c - perf counters through libpfm4: software events measure, the rest say why. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kg_counters.h"
#include "kg_timer.h"

static volatile double sink;

/* Spin until this thread has run `ms` milliseconds on the CPU (CPU time, not wall time: on a
 * loaded machine a wall-clock loop may get a fraction of a core, and the task-clock would be short). */
static double thread_cpu_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void busy_ms(double ms) {
  double t0 = thread_cpu_ns();
  double s = 0;
  while (thread_cpu_ns() - t0 < ms * 1e6)
    for (int i = 0; i < 1000; i++) s += i * 0.5;
  sink = s;
}

static void test_task_clock(void **state) {
  const char *names[] = {"task-clock", "context-switches", "page-faults"};
  kg_counters *c = NULL;
  kg_ctx ctx = {0};
  assert_int_equal(kg_counters_open(names, 3, &c, &ctx), KG_OK);
  assert_int_equal(kg_counters_count(c), 3);
  assert_string_equal(kg_counters_name(c, 0), "task-clock");
  for (int i = 0; i < 3; i++) {
    assert_true(kg_counters_available(c, i));
    assert_string_equal(kg_counters_why(c, i), "");
  }
  double v[3];
  kg_counters_start(c);
  busy_ms(20);
  kg_counters_stop(c, v);
  /* task-clock counts ns on the CPU: about 20 ms of busy loop. */
  assert_false(isnan(v[0]));
  assert_true(v[0] > 5e6);
  assert_true(v[0] < 5e9);
  assert_false(isnan(v[1])); /* context switches: readable, may be 0 */
  assert_true(v[1] >= 0);
  assert_false(isnan(v[2]));

  /* Restart resets: a second short region counts less than the first. */
  kg_counters_start(c);
  busy_ms(1);
  kg_counters_stop(c, v);
  assert_true(v[0] > 0 && v[0] < 5e6 * 4);

  /* A page fault per freshly touched page. */
  size_t bytes = 64u << 20;
  kg_counters_start(c);
  char *p = malloc(bytes);
  for (size_t i = 0; i < bytes; i += 4096) p[i] = 1;
  kg_counters_stop(c, v);
  free(p);
  assert_true(v[2] >= 1000);
  kg_counters_free(c);
}

static void test_context_switch_seen(void **state) {
  const char *names[] = {"context-switches", "cpu-migrations"};
  kg_counters *c = NULL;
  assert_int_equal(kg_counters_open(names, 2, &c, NULL), KG_OK);
  double v[2];
  kg_counters_start(c);
  for (int i = 0; i < 5; i++) usleep(1000); /* each sleep is a voluntary switch */
  kg_counters_stop(c, v);
  assert_true(v[0] >= 5);
  assert_false(isnan(v[1]));
  kg_counters_free(c);
}

/* Hardware events: on a PMU they count, on this VM they are unavailable with a reason. */
static void test_hardware_or_reason(void **state) {
  const char *names[] = {"cycles", "instructions", "LLC-load-misses"};
  kg_counters *c = NULL;
  assert_int_equal(kg_counters_open(names, 3, &c, NULL), KG_OK);
  double v[3];
  kg_counters_start(c);
  busy_ms(5);
  kg_counters_stop(c, v);
  for (int i = 0; i < 2; i++) {
    if (kg_counters_available(c, i)) {
      assert_false(isnan(v[i]));
      assert_true(v[i] > 0);
    } else {
      assert_true(isnan(v[i]));
      assert_true(strlen(kg_counters_why(c, i)) > 0);
    }
  }
  if (!kg_counters_available(c, 2)) assert_true(isnan(v[2]));
  /* instructions is what kg_counters_hardware_available probes. */
  assert_int_equal(kg_counters_available(c, 1), kg_counters_hardware_available());
  kg_counters_free(c);
}

static void test_bogus_name(void **state) {
  const char *names[] = {"no_such_event_xyz", "task-clock", ""};
  kg_counters *c = NULL;
  assert_int_equal(kg_counters_open(names, 3, &c, NULL), KG_OK);
  assert_false(kg_counters_available(c, 0));
  assert_non_null(strstr(kg_counters_why(c, 0), "unknown event"));
  assert_true(kg_counters_available(c, 1)); /* one bad name does not take the others down */
  assert_false(kg_counters_available(c, 2));
  double v[3];
  kg_counters_start(c);
  busy_ms(2);
  kg_counters_stop(c, v);
  assert_true(isnan(v[0]));
  assert_true(v[1] > 0);
  assert_true(isnan(v[2]));
  kg_counters_free(c);
}

static void test_limits(void **state) {
  const char *names[KG_MAX_EVENTS + 1];
  for (int i = 0; i <= KG_MAX_EVENTS; i++) names[i] = "task-clock";
  kg_counters *c = NULL;
  kg_ctx ctx = {0};
  assert_int_equal(kg_counters_open(names, KG_MAX_EVENTS + 1, &c, &ctx), KG_EINVAL);
  assert_null(c);
  assert_int_equal(kg_counters_open(names, -1, &c, NULL), KG_EINVAL);
  assert_int_equal(kg_counters_open(names, 0, &c, NULL), KG_OK);
  assert_int_equal(kg_counters_count(c), 0);
  kg_counters_start(c);
  kg_counters_stop(c, NULL);
  kg_counters_free(c);
  kg_counters_free(NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_task_clock),
      cmocka_unit_test(test_context_switch_seen),
      cmocka_unit_test(test_hardware_or_reason),
      cmocka_unit_test(test_bogus_name),
      cmocka_unit_test(test_limits),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
