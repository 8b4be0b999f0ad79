/*
 * test_team.c - templates/kg_team.h, the helper team gemm's direct path runs on (one per state
 * in the harness; the shipped library's one shared team): every share of every job runs exactly
 * once, on any number of threads up to the team's (fewer helpers posted than the team has, as
 * the library's shared team does for a variant with fewer threads), with helpers that spin, that
 * sleep at once (spin 0: the caller takes their shares back, or wakes them), and after idle
 * gaps; freeing a team with sleeping helpers returns.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include <cmocka.h>

#include "kg_team.h"

enum { MAXT = 4, JOBS = 3000 };

/* One job's record: how often each share ran, and the nth each share saw. */
typedef struct record {
  atomic_int ran[MAXT];
  atomic_int bad_nth;
  int nth;
} record;

static void count_job(void *arg, int id, int nth) {
  record *r = arg;
  if (nth != r->nth || id < 0 || id >= nth) atomic_fetch_add(&r->bad_nth, 1);
  else atomic_fetch_add(&r->ran[id], 1);
}

/* JOBS jobs on t with nth cycling 1..MAXT (gap_us of idle every 100 jobs): each share once. */
static void run_jobs(kg_team *t, int gap_us) {
  static record recs[JOBS];
  memset(recs, 0, sizeof recs);
  for (int j = 0; j < JOBS; j++) {
    const int nth = 1 + j % MAXT;
    recs[j].nth = nth < t->nth ? nth : t->nth;
    kg_team_run(t, count_job, &recs[j], nth);
    if (gap_us && j % 100 == 99) usleep((useconds_t)gap_us);
  }
  for (int j = 0; j < JOBS; j++) {
    assert_int_equal(atomic_load(&recs[j].bad_nth), 0);
    for (int id = 0; id < MAXT; id++) assert_int_equal(atomic_load(&recs[j].ran[id]), id < recs[j].nth ? 1 : 0);
  }
}

static void test_team_spinning(void **state) {
  kg_team *t = kg_team_new(MAXT, 20000000);
  assert_non_null(t);
  assert_int_equal(t->nth, MAXT);
  run_jobs(t, 0);
  kg_team_free(t);
}

static void test_team_sleeping(void **state) {
  kg_team *t = kg_team_new(MAXT, 0); /* helpers sleep as soon as they are idle */
  assert_non_null(t);
  run_jobs(t, 0);
  run_jobs(t, 2000);
  usleep(20000); /* all asleep: freeing must wake and join them */
  kg_team_free(t);
}

static void test_team_short_spin(void **state) {
  kg_team *t = kg_team_new(3, 100000); /* the library's 0.1 ms; a team smaller than MAXT */
  assert_non_null(t);
  run_jobs(t, 300);
  kg_team_free(t);
  kg_team_free(NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_team_spinning),
      cmocka_unit_test(test_team_sleeping),
      cmocka_unit_test(test_team_short_spin),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
