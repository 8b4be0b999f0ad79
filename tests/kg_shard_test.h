/*
 * kg_shard_test.h - what test_shard.c and test_slurm.c share: whether two tuning runs of one spec
 * (a single run and a merged, sharded one) chose the same winner up to noise.
 */
#ifndef KG_SHARD_TEST_H
#define KG_SHARD_TEST_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

/* p50 of the entry with params `params` among problem pr's final-round entries ("top"); -1 when
 * it is not there. */
static inline double top_p50(json_t *pr, json_t *params) {
  json_t *t;
  size_t k;
  json_array_foreach(
      json_object_get(pr, "top"), k,
      t) if (json_equal(json_object_get(t, "params"), params)) return json_real_value(json_object_get(t, "p50_ns"));
  return -1;
}

/* Whether run x's problem pr measured the winner of the other run (params w) as fast as its own
 * winner up to its noise: within 10% or within the round-to-round spread of its winner's final
 * rounds, whichever is wider.  Both were measured side by side in x's final rounds. */
static inline bool tied_in(json_t *pr, json_t *w) {
  json_t *own = json_object_get(pr, "winner");
  double p = json_real_value(json_object_get(own, "p50_ns")), q = top_p50(pr, json_object_get(w, "params"));
  double spread = json_real_value(json_object_get(own, "round_spread"));
  double allow = 1 + (spread > 0.10 ? spread : 0.10);
  return p > 0 && q > 0 && q <= p * allow;
}

/* The merged run b chose the single run a's winner for problem i, or a tie: one of the other's
 * ties, or the other's winner measured within noise of its own in either run's final rounds. */
static inline bool same_or_tie(json_t *a, json_t *b, size_t i) {
  json_t *x = json_array_get(json_object_get(a, "problems"), i), *y = json_array_get(json_object_get(b, "problems"), i);
  json_t *wx = json_object_get(x, "winner"), *wy = json_object_get(y, "winner"), *t;
  if (!wx || !wy) return false;
  if (json_equal(json_object_get(wx, "params"), json_object_get(wy, "params"))) return true;
  size_t k;
  json_array_foreach(json_object_get(x, "ties"), k,
                     t) if (json_equal(json_object_get(t, "params"), json_object_get(wy, "params"))) return true;
  json_array_foreach(json_object_get(y, "ties"), k,
                     t) if (json_equal(json_object_get(t, "params"), json_object_get(wx, "params"))) return true;
  if (tied_in(x, wy) || tied_in(y, wx)) return true;
  char *sx = json_dumps(wx, JSON_COMPACT), *sy = json_dumps(wy, JSON_COMPACT);
  fprintf(stderr, "problem %zu: single run's winner %s\nmerged winner %s\n", i, sx, sy);
  free(sx);
  free(sy);
  return false;
}

#endif
