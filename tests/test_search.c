/*
 * test_search.c - search spaces and strategies (gen/search/kg_search.h): lookups and neighbours
 * against brute force; every strategy never proposes an invalid point, never proposes a point
 * twice, stops when the space is exhausted, replays the same trajectory for the same seed, and
 * finds the known optimum of a synthetic space within its size.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kg_search.h"

/* A synthetic space: 4 dimensions of 5, 4, 6, 3 values (360 raw points); valid when
 * (a + b + c + d) % 4 != 0 (a constraint that removes a scattered quarter).  Cost: a bowl around
 * (3, 1, 4, 2) plus a ripple, failed (INFINITY) where a == 0 && b == 3. */
static const int32_t card[4] = {5, 4, 6, 3};

static bool valid(const int32_t *p) { return (p[0] + p[1] + p[2] + p[3]) % 4 != 0; }

static double cost_of(const int32_t *p) {
  if (p[0] == 0 && p[1] == 3) return INFINITY;
  double d = 1.0 + 3.0 * abs(p[0] - 3) + 2.0 * abs(p[1] - 1) + 1.5 * abs(p[2] - 4) + 1.0 * abs(p[3] - 2);
  return d + 0.25 * ((p[0] * 7 + p[2] * 3) % 5);
}

static kg_search_space *make_space(void) {
  int32_t pts[360 * 4];
  size_t n = 0;
  for (int32_t a = 0; a < 5; a++)
    for (int32_t b = 0; b < 4; b++)
      for (int32_t c = 0; c < 6; c++)
        for (int32_t d = 0; d < 3; d++) {
          int32_t p[4] = {a, b, c, d};
          if (valid(p)) memcpy(pts + 4 * n++, p, sizeof p);
        }
  /* insert one duplicate: it is merged */
  memcpy(pts + 4 * n, pts, 4 * sizeof *pts);
  n++;
  kg_search_space *sp = NULL;
  kg_ctx ctx = {0};
  assert_int_equal(kg_search_space_new(4, card, n, pts, &sp, &ctx), KG_OK);
  return sp;
}

static void test_space_lookup(void **state) {
  (void)state;
  kg_search_space *sp = make_space();
  size_t nvalid = 0;
  for (int32_t a = 0; a < 5; a++)
    for (int32_t b = 0; b < 4; b++)
      for (int32_t c = 0; c < 6; c++)
        for (int32_t d = 0; d < 3; d++) {
          int32_t p[4] = {a, b, c, d};
          long i = kg_search_space_find(sp, p);
          if (!valid(p)) {
            assert_int_equal(i, -1);
            continue;
          }
          nvalid++;
          assert_true(i >= 0);
          assert_memory_equal(kg_search_space_point(sp, (size_t)i), p, sizeof p);
        }
  assert_int_equal(sp->npoints, nvalid);
  int32_t out_of_range[4] = {5, 0, 0, 0};
  assert_int_equal(kg_search_space_find(sp, out_of_range), -1);
  kg_search_space_free(sp);
}

static void test_space_neighbours(void **state) {
  (void)state;
  kg_search_space *sp = make_space();
  long nb[64];
  for (size_t i = 0; i < sp->npoints; i++) {
    const int32_t *p = kg_search_space_point(sp, i);
    /* brute force: every valid point at Hamming distance 1, and those one step away in one dimension */
    size_t ham = 0, adj = 0;
    for (size_t j = 0; j < sp->npoints; j++) {
      if (kg_search_space_distance(sp, i, j) != 1) continue;
      ham++;
      const int32_t *q = kg_search_space_point(sp, j);
      for (int d = 0; d < 4; d++) adj += abs(p[d] - q[d]) == 1;
    }
    size_t n = kg_search_space_hamming(sp, i, nb, 64);
    assert_int_equal(n, ham);
    for (size_t k = 0; k < n; k++) assert_int_equal(kg_search_space_distance(sp, i, (size_t)nb[k]), 1);
    n = kg_search_space_adjacent(sp, i, nb, 64);
    assert_int_equal(n, adj);
    for (size_t k = 0; k < n; k++) {
      const int32_t *q = kg_search_space_point(sp, (size_t)nb[k]);
      int steps = 0;
      for (int d = 0; d < 4; d++) steps += abs(p[d] - q[d]);
      assert_int_equal(steps, 1);
    }
  }
  kg_search_space_free(sp);
}

static void test_space_errors(void **state) {
  (void)state;
  kg_ctx ctx = {0};
  kg_search_space *sp = NULL;
  int32_t bad[4] = {0, 4, 0, 0};
  assert_int_equal(kg_search_space_new(4, card, 1, bad, &sp, &ctx), KG_EINVAL);
  assert_null(sp);
  assert_non_null(strstr(ctx.msg, "dimension 1"));
  assert_int_equal(kg_search_space_new(4, card, 0, bad, &sp, &ctx), KG_EINVAL);
  int32_t huge[8] = {1 << 30, 1 << 30, 1 << 30, 2, 2, 2, 2, 2}, zero[8] = {0};
  assert_int_equal(kg_search_space_new(8, huge, 1, zero, &sp, &ctx), KG_EINVAL);
  assert_non_null(strstr(ctx.msg, "2^62"));
}

/* Drive strategy `name` for at most budget asks; writes the trajectory; returns its length. */
static size_t drive(const kg_search_space *sp, const char *name, uint64_t seed, size_t budget, size_t *traj,
                    long *found_at) {
  kg_search *s = NULL;
  kg_ctx ctx = {0};
  assert_int_equal(kg_search_new(sp, name, seed, &s, &ctx), KG_OK);
  uint8_t *asked = calloc(sp->npoints, 1);
  assert_non_null(asked);
  double opt = INFINITY;
  for (size_t i = 0; i < sp->npoints; i++) opt = fmin(opt, cost_of(kg_search_space_point(sp, i)));
  size_t n = 0, p;
  *found_at = -1;
  while (n < budget && kg_search_ask(s, &p)) {
    assert_true(p < sp->npoints); /* a valid point */
    assert_true(valid(kg_search_space_point(sp, p)));
    assert_int_equal(asked[p], 0); /* never measured twice */
    asked[p] = 1;
    traj[n++] = p;
    double c = cost_of(kg_search_space_point(sp, p));
    kg_search_tell(s, p, c);
    assert_int_equal(kg_search_evaluations(s), n);
    if (c == opt && *found_at < 0) *found_at = (long)n;
  }
  if (n == sp->npoints) assert_false(kg_search_ask(s, &p)); /* exhausted */
  long best = kg_search_best(s);
  if (n) {
    assert_true(best >= 0);
    for (size_t i = 0; i < n; i++)
      assert_true(cost_of(kg_search_space_point(sp, (size_t)best)) <= cost_of(kg_search_space_point(sp, traj[i])));
  }
  assert_string_equal(kg_search_name(s), name);
  free(asked);
  kg_search_free(s);
  return n;
}

static void test_strategies(void **state) {
  (void)state;
  kg_search_space *sp = make_space();
  size_t *t1 = malloc(sizeof *t1 * sp->npoints), *t2 = malloc(sizeof *t2 * sp->npoints);
  assert_non_null(t1);
  assert_non_null(t2);
  const char *const *names = kg_search_strategies();
  int count = 0;
  for (int k = 0; names[k]; k++, count++) {
    for (uint64_t seed = 1; seed <= 5; seed++) {
      long f1, f2;
      /* the whole space: every point once, the optimum among them */
      size_t n1 = drive(sp, names[k], seed, SIZE_MAX, t1, &f1);
      assert_int_equal(n1, sp->npoints);
      assert_true(f1 >= 1 && (size_t)f1 <= sp->npoints);
      /* the same seed: the same trajectory */
      size_t n2 = drive(sp, names[k], seed, SIZE_MAX, t2, &f2);
      assert_int_equal(n2, n1);
      assert_memory_equal(t1, t2, sizeof *t1 * n1);
      /* a budget is never exceeded, and a prefix of the run is the same run */
      size_t n3 = drive(sp, names[k], seed, 17, t2, &f2);
      assert_int_equal(n3, 17);
      assert_memory_equal(t1, t2, sizeof *t1 * 17);
    }
  }
  assert_true(count >= 7);
  /* a different seed gives a different random trajectory */
  long f;
  drive(sp, "random", 1, 40, t1, &f);
  drive(sp, "random", 2, 40, t2, &f);
  assert_memory_not_equal(t1, t2, sizeof *t1 * 40);
  free(t1);
  free(t2);
  kg_search_space_free(sp);
}

/* The model-guided strategies find the optimum of the smooth synthetic space well before random
 * search would on average ((n + 1) / 2 draws for one optimum): median over 21 seeds. */
static int cmp_long(const void *a, const void *b) {
  long x = *(const long *)a, y = *(const long *)b;
  return (x > y) - (x < y);
}

static void test_guided_beat_random(void **state) {
  (void)state;
  kg_search_space *sp = make_space();
  size_t *t = malloc(sizeof *t * sp->npoints);
  assert_non_null(t);
  const char *guided[] = {"knn", "ga", "ils", "bandit"};
  for (int k = 0; k < 4; k++) {
    long at[21];
    for (int s = 0; s < 21; s++) drive(sp, guided[k], (uint64_t)s + 100, SIZE_MAX, t, &at[s]);
    qsort(at, 21, sizeof at[0], cmp_long);
    print_message("%s: median evaluations to the optimum %ld of %zu\n", guided[k], at[10], sp->npoints);
    assert_true(at[10] < (long)(sp->npoints + 1) / 2);
  }
  free(t);
  kg_search_space_free(sp);
}

/* Drive strategy `name` in batches of bsize (asks of min(bsize, what is left of the budget), told
 * in reverse order); the same checks as drive, plus: a batch never holds a pending or repeated
 * point, never more than asked, and is empty only once the space is used up. */
static size_t drive_batches(const kg_search_space *sp, const char *name, uint64_t seed, size_t budget, size_t bsize,
                            size_t *traj, long *found_at, size_t *nbatches) {
  kg_search *s = NULL;
  kg_ctx ctx = {0};
  assert_int_equal(kg_search_new(sp, name, seed, &s, &ctx), KG_OK);
  uint8_t *asked = calloc(sp->npoints, 1);
  size_t *b = malloc(sizeof *b * bsize);
  assert_non_null(asked);
  assert_non_null(b);
  double opt = INFINITY;
  for (size_t i = 0; i < sp->npoints; i++) opt = fmin(opt, cost_of(kg_search_space_point(sp, i)));
  size_t n = 0;
  *found_at = -1;
  *nbatches = 0;
  while (n < budget) {
    size_t want = budget - n < bsize ? budget - n : bsize;
    size_t k = kg_search_ask_batch(s, want, b);
    assert_true(k <= want);
    assert_int_equal(kg_search_pending(s), k);
    if (k == 0) break;
    (*nbatches)++;
    for (size_t i = 0; i < k; i++) {
      assert_true(b[i] < sp->npoints);
      assert_true(valid(kg_search_space_point(sp, b[i])));
      assert_int_equal(asked[b[i]], 0); /* never proposed twice, pending ones included */
      asked[b[i]] = 1;
      traj[n + i] = b[i];
    }
    for (size_t i = k; i-- > 0;) { /* told in another order than asked */
      double c = cost_of(kg_search_space_point(sp, b[i]));
      kg_search_tell(s, b[i], c);
    }
    for (size_t i = 0; i < k; i++)
      if (cost_of(kg_search_space_point(sp, b[i])) == opt && *found_at < 0) *found_at = (long)(n + k);
    n += k;
    assert_int_equal(kg_search_evaluations(s), n);
    assert_int_equal(kg_search_pending(s), 0);
  }
  assert_true(n <= budget);
  if (n < budget) assert_int_equal(n, sp->npoints); /* stopped early only when exhausted */
  free(asked);
  free(b);
  kg_search_free(s);
  return n;
}

static void test_batches(void **state) {
  (void)state;
  kg_search_space *sp = make_space();
  size_t *t1 = malloc(sizeof *t1 * sp->npoints), *t2 = malloc(sizeof *t2 * sp->npoints);
  assert_non_null(t1);
  assert_non_null(t2);
  const char *const *names = kg_search_strategies();
  for (int k = 0; names[k]; k++) {
    for (uint64_t seed = 1; seed <= 3; seed++) {
      long f1, f2;
      size_t nb1, nb2;
      /* a batch of 1 is the sequential search */
      size_t n1 = drive(sp, names[k], seed, SIZE_MAX, t1, &f1);
      size_t n2 = drive_batches(sp, names[k], seed, SIZE_MAX, 1, t2, &f2, &nb2);
      assert_int_equal(n2, n1);
      assert_memory_equal(t1, t2, sizeof *t1 * n1);
      for (size_t bsize = 3; bsize <= 8; bsize += 5) {
        /* the whole space in batches: every point once; the same seed, the same trajectory */
        n1 = drive_batches(sp, names[k], seed, SIZE_MAX, bsize, t1, &f1, &nb1);
        assert_int_equal(n1, sp->npoints);
        assert_true(f1 >= 1);
        n2 = drive_batches(sp, names[k], seed, SIZE_MAX, bsize, t2, &f2, &nb2);
        assert_int_equal(n2, n1);
        assert_int_equal(nb2, nb1);
        assert_memory_equal(t1, t2, sizeof *t1 * n1);
        /* batches are used: fewer asks than points (each strategy batches at least sometimes) */
        assert_true(nb1 < n1);
        /* a budget that is not a multiple of the batch is never exceeded */
        n2 = drive_batches(sp, names[k], seed, 17, bsize, t2, &f2, &nb2);
        assert_int_equal(n2, 17);
      }
    }
  }
  /* knn proposes full batches once its model is built: 20 initial points, then batches of 8 */
  long f;
  size_t nb;
  size_t n = drive_batches(sp, "knn", 7, 100, 8, t1, &f, &nb);
  assert_int_equal(n, 100);
  assert_int_equal(nb, 3 + 10); /* 8 + 8 + 4 initial, then 10 of 8 */
  free(t1);
  free(t2);
  kg_search_space_free(sp);
}

/* Batched knn still finds the optimum well before random search would (median over 21 seeds). */
static void test_batched_knn_beats_random(void **state) {
  (void)state;
  kg_search_space *sp = make_space();
  size_t *t = malloc(sizeof *t * sp->npoints);
  assert_non_null(t);
  long at[21];
  size_t nb;
  for (int s = 0; s < 21; s++) drive_batches(sp, "knn", (uint64_t)s + 100, SIZE_MAX, 8, t, &at[s], &nb);
  qsort(at, 21, sizeof at[0], cmp_long);
  print_message("knn, batches of 8: median evaluations to the optimum %ld of %zu\n", at[10], sp->npoints);
  assert_true(at[10] < (long)(sp->npoints + 1) / 2);
  free(t);
  kg_search_space_free(sp);
}

static void test_unknown_strategy(void **state) {
  (void)state;
  kg_search_space *sp = make_space();
  kg_search *s = NULL;
  kg_ctx ctx = {0};
  assert_int_equal(kg_search_new(sp, "hillclimb", 1, &s, &ctx), KG_EINVAL);
  assert_null(s);
  assert_non_null(strstr(ctx.msg, "hillclimb"));
  assert_non_null(strstr(ctx.msg, KG_SEARCH_DEFAULT));
  kg_search_free(NULL);
  kg_search_space_free(NULL);
  kg_search_space_free(sp);
}

static void test_rng(void **state) {
  (void)state;
  kg_rng a, b;
  kg_rng_seed(&a, 42);
  kg_rng_seed(&b, 42);
  long hist[7] = {0};
  for (int i = 0; i < 70000; i++) {
    uint64_t x = kg_rng_below(&a, 7);
    assert_true(x < 7);
    assert_int_equal(x, kg_rng_below(&b, 7));
    hist[x]++;
    double u = kg_rng_uniform(&a);
    assert_true(u >= 0 && u < 1);
    kg_rng_uniform(&b);
  }
  for (int k = 0; k < 7; k++) assert_true(hist[k] > 9000 && hist[k] < 11000); /* ~10000 each */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_space_lookup),
      cmocka_unit_test(test_space_neighbours),
      cmocka_unit_test(test_space_errors),
      cmocka_unit_test(test_strategies),
      cmocka_unit_test(test_guided_beat_random),
      cmocka_unit_test(test_batches),
      cmocka_unit_test(test_batched_knn_beats_random),
      cmocka_unit_test(test_unknown_strategy),
      cmocka_unit_test(test_rng),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
