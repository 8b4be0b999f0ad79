/* test_measure.c - the forked measurement worker: results, crashes, hangs, wrong answers. */
#define _GNU_SOURCE /* sched_getcpu, CPU_SET, pthread_setaffinity_np */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kg_measure.h"
#include "kg_timer.h"

/* ---- kernels: a sum over n doubles, and ways to fail ---- */

typedef struct sum_state {
  int n;
  double *x;
  volatile double out;
} sum_state;

static void *sum_create(const kg_problem *p) {
  sum_state *s = calloc(1, sizeof *s);
  s->n = p && p->ndims > 0 ? (int)p->dims[0] : 1000;
  s->x = malloc((size_t)s->n * sizeof *s->x);
  for (int i = 0; i < s->n; i++) s->x[i] = (double)(i % 7);
  return s;
}

static void sum_run(void *st) {
  sum_state *s = st;
  double acc = 0;
  for (int i = 0; i < s->n; i++) acc += s->x[i];
  s->out = acc;
}

static int sum_verify(void *st, char *msg, size_t cap) {
  sum_state *s = st;
  sum_run(s);
  double want = 0;
  for (int i = 0; i < s->n; i++) want += (double)(i % 7);
  if (s->out != want) {
    snprintf(msg, cap, "sum %g != %g", s->out, want);
    return 1;
  }
  return 0;
}

static int wrong_verify(void *st, char *msg, size_t cap) {
  snprintf(msg, cap, "max |x - ref| = 3.5 at [2, 7]");
  return 1;
}

static void sum_destroy(void *st) {
  sum_state *s = st;
  free(s->x);
  free(s);
}

/* A wild (not null) address: a real SIGSEGV that UBSan's null check does not intercept. */
static volatile uintptr_t wild = 16;
static void run_tiny(void *st) { ((sum_state *)st)->out += 1.0; }
static void run_segv(void *st) { *(volatile int *)wild = 1; }
static void run_abort(void *st) { abort(); }
static void run_hang(void *st) {
  for (;;) ((sum_state *)st)->out += 1.0;
}
static void *null_create(const kg_problem *p) { return NULL; }
static void run_exit(void *st) { _exit(7); }

static const char *const dim_names[] = {"n"};
static const int64_t dims[] = {4096};
static const kg_problem problem = {1, dim_names, dims, 42, 0, 0};

static kg_measure_opts fast_opts(void) {
  kg_measure_opts o;
  kg_measure_opts_default(&o);
  o.min_time_s = 0.02;
  o.warmup_s = 0.005;
  o.timeout_s = 20;
  return o;
}

static void test_defaults(void **state) {
  kg_measure_opts o;
  kg_measure_opts_default(&o);
  assert_float_equal(o.min_time_s, 0.2, 0);
  assert_int_equal(o.min_samples, 10);
  assert_int_equal(o.max_samples, 100000);
  assert_float_equal(o.warmup_s, 0.05, 0);
  assert_float_equal(o.min_sample_ns, 20000, 0);
  assert_float_equal(o.timeout_s, 60, 0);
  assert_false(o.cold);
  assert_int_equal(o.cpu, -1);
  assert_int_equal(o.max_retakes, 100);
  assert_float_equal(o.noisy_rel_ci, 0.05, 0);
  assert_int_equal(o.nevents, 0);
}

static void test_ok(void **state) {
  kg_entry e = {sum_create, sum_run, sum_verify, sum_destroy};
  kg_measure_opts o = fast_opts();
  o.nevents = 2;
  o.events[0] = "task-clock";
  o.events[1] = "no_such_event_xyz";
  kg_measurement m;
  kg_ctx ctx = {0};
  assert_int_equal(kg_measure(&problem, &e, &o, &m, &ctx), KG_OK);
  assert_int_equal(m.status, KG_OK);
  assert_string_equal(m.reason, "");
  assert_true(m.stats.n >= (size_t)o.min_samples);
  assert_true(m.stats.min > 0);
  assert_true(m.stats.min <= m.stats.p50 && m.stats.p50 <= m.stats.p90);
  assert_true(m.stats.p90 <= m.stats.p99 && m.stats.p99 <= m.stats.max);
  assert_true(m.stats.ci_lo <= m.stats.p50 && m.stats.p50 <= m.stats.ci_hi);
  /* the kept samples add up to at least min_time_s */
  assert_true(m.stats.mean * (double)m.stats.n * m.inner_reps >= 0.02e9 * 0.999);
  assert_true(m.inner_reps >= 1);
  assert_true(m.retaken >= 0 && m.retaken <= o.max_retakes);
  assert_false(isnan(m.ctx_switches));
  assert_false(isnan(m.migrations));
  assert_false(isnan(m.page_faults));
  assert_int_equal(m.nevents, 2);
  assert_true(m.event_available[0]);
  assert_true(m.events[0] > 0); /* task-clock ns per run call: about the run time */
  assert_true(m.events[0] < m.stats.max * 10 + 1e4);
  assert_false(m.event_available[1]);
  assert_true(isnan(m.events[1]));
  assert_true(strlen(m.event_why[1]) > 0);
  assert_false(m.cold);
  assert_true(m.wall_s > 0.02);
  printf("# sum4096: p50 %.0f ns [%.0f, %.0f], n %zu, reps %d, retaken %d, cs %.3f, noisy %d\n", m.stats.p50,
         m.stats.ci_lo, m.stats.ci_hi, m.stats.n, m.inner_reps, m.retaken, m.ctx_switches, m.noisy);
}

static void test_inner_reps(void **state) {
  kg_entry e = {sum_create, run_tiny, NULL, sum_destroy};
  kg_measure_opts o = fast_opts();
  kg_measurement m;
  assert_int_equal(kg_measure(&problem, &e, &o, &m, NULL), KG_OK);
  assert_int_equal(m.status, KG_OK);
  /* doubled from 1 (how far depends on the machine's speed: a bound on p50 * inner_reps would
   * be a timing assertion, and failed on a loaded CI machine) */
  assert_true(m.inner_reps > 1 && (m.inner_reps & (m.inner_reps - 1)) == 0);
  assert_true(m.stats.p50 < 1000); /* ns per call, not per sample */
}

/* Spins for ns of wall time. */
static void spin_ns(uint64_t ns) {
  uint64_t t0 = kg_now_ns();
  while (kg_now_ns() - t0 < ns) {
  }
}

/* A kernel whose calls are long (here ~1 ms of spinning, 50 x min_sample_ns) gets one call per
 * sample and no probe calls for the inner repetitions: with no warm-up time (one warm-up call)
 * and no verification, the calls are exactly 1 + samples kept + samples retaken. */
static long long_calls;
static void run_long(void *st) {
  long_calls++;
  ((sum_state *)st)->out += 1.0;
  spin_ns(1000000);
}

static void test_long_calls_no_probes(void **state) {
  kg_measure_opts o = fast_opts();
  o.warmup_s = 0;
  o.min_samples = 5;
  o.min_time_s = 0.001;
  sum_state *s = sum_create(&problem);
  assert_non_null(s);
  kg_measurement m;
  memset(&m, 0, sizeof m);
  long_calls = 0;
  kg_measure_state(s, run_long, NULL, &o, &m);
  assert_int_equal(m.status, KG_OK);
  assert_int_equal(m.inner_reps, 1);
  assert_int_equal(m.stats.n, 5);
  assert_int_equal(long_calls, 1 + (long)m.stats.n + m.retaken);
  sum_destroy(s);
}

/* Spinning kernels of a fixed wall time per call, and a thread of this process that competes
 * for the core: spinning throughout (BUSY), or waking every 25 ms for 2 us (BRIEF, as the
 * kernel's own threads do on these VMs; there a preemption costs the preempted thread 20-70 us
 * of run-queue delay). */
static void run_spin5ms(void *st) {
  ((sum_state *)st)->out += 1.0;
  spin_ns(5000000);
}
static void run_spin20ms(void *st) {
  ((sum_state *)st)->out += 1.0;
  spin_ns(20000000);
}

enum competition { BUSY, BRIEF };
static atomic_int competitor_stop;
static void *competitor(void *arg) {
  const enum competition c = *(const enum competition *)arg;
  while (!atomic_load_explicit(&competitor_stop, memory_order_relaxed)) {
    if (c == BRIEF) usleep(25000), spin_ns(2000);
  }
  return NULL;
}

/* Measures run with at least 3 samples and min_time_s, no warm-up, one call per sample; the
 * checks come after (measure_beside_competitor first stops its thread). */
static kg_status measure_run(kg_run_fn run, double min_time_s, kg_measurement *m) {
  kg_entry e = {sum_create, run, NULL, sum_destroy};
  kg_measure_opts o = fast_opts();
  o.min_samples = 3;
  o.min_time_s = min_time_s;
  o.warmup_s = 0;
  o.min_sample_ns = 1;
  return kg_measure(&problem, &e, &o, m, NULL);
}
static void assert_measured(kg_status st, const kg_measurement *m) {
  assert_int_equal(st, KG_OK);
  assert_int_equal(m->status, KG_OK);
  assert_true(m->stats.n >= 3);
}

/* measure_run while a competitor shares the core this thread runs on (the forked worker
 * inherits this thread's affinity). */
static kg_measurement measure_beside_competitor(kg_run_fn run, double min_time_s, enum competition c) {
  cpu_set_t one, saved;
  assert_int_equal(pthread_getaffinity_np(pthread_self(), sizeof saved, &saved), 0);
  CPU_ZERO(&one);
  CPU_SET(sched_getcpu(), &one);
  assert_int_equal(pthread_setaffinity_np(pthread_self(), sizeof one, &one), 0);
  pthread_t th;
  atomic_store(&competitor_stop, 0);
  assert_int_equal(pthread_create(&th, NULL, competitor, &c), 0);
  assert_int_equal(pthread_setaffinity_np(th, sizeof one, &one), 0);
  kg_measurement m;
  kg_status st = measure_run(run, min_time_s, &m);
  atomic_store(&competitor_stop, 1);
  pthread_join(th, NULL);
  assert_int_equal(pthread_setaffinity_np(pthread_self(), sizeof saved, &saved), 0);
  assert_measured(st, &m);
  return m;
}

/* Every sample is preempted (the competitor spins throughout): retaken, and the retakes stop
 * once they took as long as min_time, rather than running max_retakes more samples. */
static void test_retakes_bounded(void **state) {
  kg_measurement m = measure_beside_competitor(run_spin5ms, 0.01, BUSY);
  /* 5 ms per retake: at most 0.01 s (min_time) of them plus the one that crossed it.  (Failed
   * once, in a fresh-clone suite run on intel-6-167; 40 runs of this test after it, 20 of them
   * beside two spinning processes, passed: the count is printed so a failure says which side.) */
  if (m.retaken < 1 || m.retaken > 3) print_message("retaken %d of %d samples\n", m.retaken, (int)m.stats.n);
  assert_true(m.retaken >= 1 && m.retaken <= 3);
}

/* A kernel that sleeps in every sample (a voluntary context switch, as a thread of a 2-thread
 * kernel waiting at its barrier): its own time, counted but not retaken.  With every switch a
 * disturbance (the earlier rule) the worker retook ~5 of these samples (until the retakes took
 * min_time). */
static void run_sleep20ms(void *st) {
  ((sum_state *)st)->out += 1.0;
  usleep(20000);
}

static void test_voluntary_switch_not_retaken(void **state) {
  /* a rare real preemption on a busy machine may retake one sample, never every sample; up to
   * three attempts, as test_brief_preemption_not_retaken below */
  int retaken[3], attempts = 0;
  do {
    kg_measurement m;
    assert_measured(measure_run(run_sleep20ms, 0.1, &m), &m);
    if (!isnan(m.ctx_switches)) assert_true(m.ctx_switches >= 1); /* seen and reported */
    retaken[attempts++] = m.retaken;
  } while (retaken[attempts - 1] > 1 && attempts < 3);
  if (retaken[attempts - 1] > 1)
    fail_msg("retaken %d, %d, %d samples in three attempts (at most 1 expected)", retaken[0], retaken[1], retaken[2]);
}

/* Brief preemptions of a long sample stay under 0.5% of a 20 ms sample: not retaken.  Under the
 * earlier rule (any context switch) most samples were, in every attempt.  Up to three attempts:
 * on a shared VM the host may deschedule this vCPU while the competitor runs, and the guest then
 * sees a 2 us preemption last milliseconds (one CI run retook 3 samples that way). */
static void test_brief_preemption_not_retaken(void **state) {
  int retaken[3], attempts = 0;
  do {
    kg_measurement m = measure_beside_competitor(run_spin20ms, 0.1, BRIEF);
    if (!isnan(m.ctx_switches)) assert_true(m.ctx_switches > 0); /* the ticker did preempt */
    retaken[attempts++] = m.retaken;
  } while (retaken[attempts - 1] > 2 && attempts < 3);
  if (retaken[attempts - 1] > 2)
    fail_msg("retaken %d, %d, %d samples in three attempts (at most 2 expected)", retaken[0], retaken[1], retaken[2]);
}

static void test_cold_and_unpinned(void **state) {
  kg_entry e = {sum_create, sum_run, NULL, sum_destroy};
  kg_measure_opts o = fast_opts();
  o.cold = true;
  o.min_time_s = 0;
  o.min_samples = 3;
  o.cpu = 100000; /* not a core of this machine: runs unpinned */
  kg_measurement m;
  assert_int_equal(kg_measure(&problem, &e, &o, &m, NULL), KG_OK);
  assert_int_equal(m.status, KG_OK);
  assert_true(m.cold);
  assert_int_equal(m.stats.n, 3);
}

static void test_segv(void **state) {
  kg_entry e = {sum_create, run_segv, NULL, sum_destroy};
  kg_measure_opts o = fast_opts();
  kg_measurement m;
  assert_int_equal(kg_measure(&problem, &e, &o, &m, NULL), KG_OK);
  assert_int_equal(m.status, KG_ECRASH);
  assert_non_null(strstr(m.reason, "SIGSEGV"));
  assert_true(isnan(m.ctx_switches));
}

static void test_abort(void **state) {
  kg_entry e = {sum_create, run_abort, NULL, sum_destroy};
  kg_measure_opts o = fast_opts();
  kg_measurement m;
  assert_int_equal(kg_measure(&problem, &e, &o, &m, NULL), KG_OK);
  assert_int_equal(m.status, KG_ECRASH);
  assert_non_null(strstr(m.reason, "SIGABRT"));
}

static void test_hang(void **state) {
  kg_entry e = {sum_create, run_hang, NULL, sum_destroy};
  kg_measure_opts o = fast_opts();
  o.timeout_s = 1;
  kg_measurement m;
  uint64_t t0 = kg_now_ns();
  assert_int_equal(kg_measure(&problem, &e, &o, &m, NULL), KG_OK);
  double took = (double)(kg_now_ns() - t0) * 1e-9;
  assert_int_equal(m.status, KG_ETIMEOUT);
  assert_string_equal(m.reason, "timed out after 1 s");
  assert_true(took >= 0.9); /* not killed before its timeout (no upper bound: a loaded CI stalls) */
}

static void test_exit_early(void **state) {
  kg_entry e = {sum_create, run_exit, NULL, sum_destroy};
  kg_measure_opts o = fast_opts();
  kg_measurement m;
  assert_int_equal(kg_measure(&problem, &e, &o, &m, NULL), KG_OK);
  assert_int_equal(m.status, KG_ECRASH);
  assert_string_equal(m.reason, "worker exited with code 7 before reporting");
}

static void test_verify_fails(void **state) {
  kg_entry e = {sum_create, sum_run, wrong_verify, sum_destroy};
  kg_measure_opts o = fast_opts();
  kg_measurement m;
  assert_int_equal(kg_measure(&problem, &e, &o, &m, NULL), KG_OK);
  assert_int_equal(m.status, KG_EVERIFY);
  assert_string_equal(m.reason, "max |x - ref| = 3.5 at [2, 7]");
}

static void test_create_null(void **state) {
  kg_entry e = {null_create, sum_run, sum_verify, sum_destroy};
  kg_measure_opts o = fast_opts();
  kg_measurement m;
  assert_int_equal(kg_measure(&problem, &e, &o, &m, NULL), KG_OK);
  assert_int_equal(m.status, KG_EINTERNAL);
  assert_string_equal(m.reason, "kg_create failed");
}

static void test_bad_args(void **state) {
  kg_entry e = {NULL, sum_run, NULL, NULL};
  kg_measure_opts o = fast_opts();
  kg_measurement m;
  assert_int_equal(kg_measure(&problem, &e, &o, &m, NULL), KG_EINVAL);
  assert_int_equal(m.status, KG_EINVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_defaults),
      cmocka_unit_test(test_ok),
      cmocka_unit_test(test_inner_reps),
      cmocka_unit_test(test_long_calls_no_probes),
      cmocka_unit_test(test_retakes_bounded),
      cmocka_unit_test(test_voluntary_switch_not_retaken),
      cmocka_unit_test(test_brief_preemption_not_retaken),
      cmocka_unit_test(test_cold_and_unpinned),
      cmocka_unit_test(test_segv),
      cmocka_unit_test(test_abort),
      cmocka_unit_test(test_hang),
      cmocka_unit_test(test_exit_early),
      cmocka_unit_test(test_verify_fails),
      cmocka_unit_test(test_create_null),
      cmocka_unit_test(test_bad_args),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
