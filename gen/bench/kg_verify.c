/* kg_verify.c - drift of shipped winners (see kg_verify.h). */
#include "kg_verify.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "kg_spec.h"

/* The fastest baseline measured OK in pr, or -1. */
static int kg_verify_best_baseline(const kg_tune_report *r, const kg_problem_result *pr) {
  int best = -1;
  if (!pr->baselines_done) return -1;
  for (int b = 0; b < r->spec->nbaselines; b++)
    if (pr->baselines[b].m.status == KG_OK &&
        (best < 0 || pr->baselines[b].m.stats.p50 < pr->baselines[best].m.stats.p50))
      best = b;
  return best;
}

/* The shipped p50 of the baseline called name (shipped problem's "baselines" list), or 0. */
static double kg_verify_shipped_baseline(const json_t *shipped, const char *name) {
  size_t i;
  const json_t *b;
  json_array_foreach(json_object_get(shipped, "baselines"), i, b) {
    const char *n = json_string_value(json_object_get(b, "name"));
    const json_t *s = json_object_get(b, "status");
    if (n && strcmp(n, name) == 0 && (!json_is_string(s) || strcmp(json_string_value(s), "ok") == 0))
      return json_number_value(json_object_get(b, "p50_ns"));
  }
  return 0;
}

/* Accuracy drift between two accuracy objects: appends reasons to drift, returns their count. */
static int kg_verify_accuracy(const json_t *shipped, const json_t *now, json_t *drift) {
  int n = 0;
  const char *k;
  const json_t *v;
  json_object_foreach((json_t *)shipped, k, v) {
    if (!json_is_number(v)) continue;
    const json_t *x = json_object_get(now, k);
    if (!json_is_number(x)) {
      json_array_append_new(
          drift, json_sprintf("accuracy drift: %s was %g when shipped, now absent", k, json_number_value(v)));
      n++;
    } else if (fabs(json_number_value(x) - json_number_value(v)) > KG_VERIFY_ACCURACY_TOL) {
      json_array_append_new(drift, json_sprintf("accuracy drift: %s %g, shipped %g (beyond %g)", k,
                                                json_number_value(x), json_number_value(v), KG_VERIFY_ACCURACY_TOL));
      n++;
    }
  }
  return n;
}

json_t *kg_verify_problem(const kg_tune_report *r, int p, const json_t *shipped, bool comparable, double threshold_pct,
                          int *ndrift) {
  const kg_problem_result *pr = &r->problems[p];
  const kg_spec *s = r->spec;
  json_t *row = json_object(), *drift = json_array();
  *ndrift = 0;
  if (!row || !drift) {
    json_decref(row), json_decref(drift);
    return NULL;
  }
  json_object_set_new(row, "name", json_string(s->problems[pr->problem].name));
  const json_t *sw = json_object_get(shipped, "winner");
  json_object_set_new(row, "params",
                      json_object_get(sw, "params") ? json_deep_copy(json_object_get(sw, "params")) : json_null());
  const double s50 = json_number_value(json_object_get(sw, "p50_ns"));
  const json_t *sci = json_object_get(sw, "ci95_ns");
  const double slo = json_is_array(sci) ? json_number_value(json_array_get(sci, 0)) : s50;
  const double shi = json_is_array(sci) ? json_number_value(json_array_get(sci, 1)) : s50;
  json_object_set_new(row, "shipped_p50_ns", s50 > 0 ? json_real(s50) : json_null());
  json_object_set_new(row, "shipped_ci95_ns", s50 > 0 ? json_pack("[f, f]", slo, shi) : json_null());
  const json_t *ssp = json_object_get(shipped, "speedup");
  json_object_set_new(row, "shipped_speedup", json_is_number(ssp) ? json_real(json_number_value(ssp)) : json_null());
  const json_t *sacc = json_object_get(sw, "accuracy");
  json_object_set_new(row, "shipped_accuracy", sacc ? json_deep_copy(sacc) : json_null());
  if (pr->winner < 0) {
    const kg_measurement *m = pr->nresults ? &pr->results[0].m : NULL;
    json_object_set_new(row, "verified", json_false());
    json_object_set_new(row, "reason", json_string(m ? m->reason : "not measured"));
    json_array_append_new(drift,
                          json_sprintf("fails verification: %s", m && m->reason[0] ? m->reason : "not measured"));
    ++*ndrift;
    json_object_set_new(row, "p50_ns", json_null());
    json_object_set_new(row, "ci95_ns", json_null());
    json_object_set_new(row, "change_pct", json_null());
    json_object_set_new(row, "baseline", json_null());
    json_object_set_new(row, "speedup", json_null());
    json_object_set_new(row, "accuracy", json_null());
  } else {
    const kg_measurement *m = &pr->results[pr->winner].m;
    json_object_set_new(row, "verified", json_true());
    json_object_set_new(row, "reason", json_string(""));
    json_object_set_new(row, "p50_ns", json_real(m->stats.p50));
    json_object_set_new(row, "ci95_ns", json_pack("[f, f]", m->stats.ci_lo, m->stats.ci_hi));
    const double change = s50 > 0 ? 100.0 * (m->stats.p50 / s50 - 1.0) : NAN;
    json_object_set_new(row, "change_pct", isfinite(change) ? json_real(change) : json_null());
    const int bb = kg_verify_best_baseline(r, pr);
    /* load: how much slower the same baseline runs now than when shipped (1 when unknown) */
    const double sb50 = bb >= 0 ? kg_verify_shipped_baseline(shipped, s->baselines[bb]) : 0;
    const double load = sb50 > 0 ? pr->baselines[bb].m.stats.p50 / sb50 : 1.0;
    const double nchange = s50 > 0 ? 100.0 * (m->stats.p50 / load / s50 - 1.0) : NAN;
    json_object_set_new(row, "load_factor", sb50 > 0 ? json_real(load) : json_null());
    json_object_set_new(row, "change_vs_baseline_pct",
                        sb50 > 0 && isfinite(nchange) ? json_real(nchange) : json_null());
    if (comparable && s50 > 0 && m->stats.ci_lo / load > shi && nchange > threshold_pct) {
      if (sb50 > 0)
        json_array_append_new(drift, json_sprintf("slower than shipped: p50 %+.1f%% beyond noise relative to %s "
                                                  "(%+.1f%% in absolute terms; threshold %.1f%%)",
                                                  nchange, s->baselines[bb], change, threshold_pct));
      else
        json_array_append_new(drift, json_sprintf("slower than shipped: p50 %+.1f%% beyond noise (threshold %.1f%%)",
                                                  change, threshold_pct));
      ++*ndrift;
    }
    if (bb >= 0) {
      const kg_stats *b = &pr->baselines[bb].m.stats;
      json_object_set_new(
          row, "baseline",
          json_pack("{s:s, s:f, s:[f, f]}", "name", s->baselines[bb], "p50_ns", b->p50, "ci95_ns", b->ci_lo, b->ci_hi));
      json_object_set_new(row, "speedup", json_real(b->p50 / m->stats.p50));
      /* beyond noise and, as for the shipped figure, by more than the threshold: a winner that
       * was a hair faster than its baseline may be a hair slower on another day */
      if (json_is_number(ssp) && json_number_value(ssp) > 1.0 && m->stats.ci_lo > b->ci_hi &&
          (m->stats.p50 / b->p50 - 1) * 100 > threshold_pct) {
        json_array_append_new(drift, json_sprintf("no longer beats its baseline %s: speedup %.2fx, shipped %.2fx",
                                                  s->baselines[bb], b->p50 / m->stats.p50, json_number_value(ssp)));
        ++*ndrift;
      }
    } else {
      json_object_set_new(row, "baseline", json_null());
      json_object_set_new(row, "speedup", json_null());
    }
    json_error_t err;
    json_t *acc = m->accuracy[0] ? json_loads(m->accuracy, 0, &err) : NULL;
    json_object_set_new(row, "accuracy", acc ? acc : json_null());
    if (json_is_object(sacc)) *ndrift += kg_verify_accuracy(sacc, acc, drift);
  }
  json_object_set_new(row, "drift", drift);
  json_object_set_new(row, "verdict", json_string(*ndrift ? "DRIFT" : "ok"));
  return row;
}
