/* kg_report_roofline.c - efficiencies against the roofline references measured in the same
 * final rounds (kg_tune.h kg_problem_result.reference; runtime/kg_roofline.h). */
#include <math.h>
#include <string.h>

#include "kg_report_internal.h"

/* Relative width of a measurement's 95% CI of the median. */
static double kg_rel_ci(const kg_measurement *m) {
  return m->stats.p50 > 0 ? (m->stats.ci_hi - m->stats.ci_lo) / m->stats.p50 : 0;
}

void kg_report_ref_eff(const kg_problem_result *pr, const kg_spec_problem *sp, const kg_result *x, kg_ref_eff *e) {
  memset(e, 0, sizeof *e);
  e->fraction = e->rate = e->ref_rate = NAN;
  kg_roofline_bound b = (kg_roofline_bound)sp->bound;
  e->bound = kg_roofline_name(b);
  e->unit = kg_roofline_unit(b);
  const kg_measurement *rm = &pr->reference.m;
  if (b == KG_BOUND_NONE) {
    snprintf(e->why, sizeof e->why, "the spec declares no bound");
    return;
  }
  if (!pr->has_reference) {
    snprintf(e->why, sizeof e->why, "no final rounds: the %s reference was not measured", e->bound);
    return;
  }
  if (rm->status != KG_OK || !(rm->stats.p50 > 0) || !(pr->reference_work > 0)) {
    snprintf(e->why, sizeof e->why, "the %s reference failed: %s: %.200s", e->bound, kg_strerror(rm->status),
             rm->reason);
    return;
  }
  if (x->m.status != KG_OK || !(x->m.stats.p50 > 0)) {
    snprintf(e->why, sizeof e->why, "not measured");
    return;
  }
  double work = b == KG_BOUND_MEMORY ? sp->bytes : sp->flops; /* per call of the kernel */
  e->ref_rate = pr->reference_work / rm->stats.p50;           /* bytes or ops per ns = G.../s */
  e->rate = work / x->m.stats.p50;
  e->fraction = e->rate / e->ref_rate;
  e->noise = fmax(0.02, kg_rel_ci(&x->m) + kg_rel_ci(rm) + 0.5 * (x->round_spread + pr->reference.round_spread));
  e->suspect = e->fraction > 1.0 + e->noise;
  e->known = true;
}

void kg_report_ref_json(json_t *o, const kg_problem_result *pr, const kg_spec_problem *sp, const kg_result *x) {
  kg_ref_eff e;
  kg_report_ref_eff(pr, sp, x, &e);
  if (!e.known) {
    json_object_set_new(o, "efficiency", json_null());
    json_object_set_new(o, "efficiency_ref",
                        sp->bound == KG_BOUND_NONE ? json_null()
                                                   : json_pack("{s:s, s:s}", "bound", e.bound, "why", e.why));
    return;
  }
  json_object_set_new(o, "efficiency", json_real(e.fraction));
  json_t *ref = json_pack("{s:s, s:s, s:f, s:s, s:f, s:f, s:b}", "bound", e.bound, "ref",
                          sp->bound == KG_BOUND_MEMORY ? "read pass over the problem's bytes" : "peak microkernel",
                          "rate", e.ref_rate, "unit", e.unit, "achieved", e.rate, "noise", e.noise, "cold", sp->cold);
  json_object_set_new(ref, "isa", json_string(kg_roofline_isa((kg_roofline_bound)sp->bound)));
  json_object_set_new(ref, "ref_p50_ns", json_real(pr->reference.m.stats.p50));
  json_object_set_new(ref, "ref_rounds", json_integer(pr->reference.rounds));
  if (e.suspect) /* clamped nowhere: a figure above 100% beyond noise is a bug in the reference */
    json_object_set_new(ref, "suspect", json_string("above 100% beyond noise: the reference is not the bound (a bug)"));
  json_object_set_new(o, "efficiency_ref", ref);
}

int kg_report_ref_suspects(const kg_tune_report *r, char *buf, size_t cap) {
  int n = 0;
  size_t len = 0;
  if (cap) buf[0] = '\0';
  for (int p = 0; p < r->nproblems; p++) {
    const kg_problem_result *pr = &r->problems[p];
    const kg_spec_problem *sp = &r->spec->problems[pr->problem];
    for (int b = -1; b < r->spec->nbaselines; b++) {
      const kg_result *x = b < 0 ? (pr->winner >= 0 ? &pr->results[pr->winner] : NULL) : &pr->baselines[b];
      if (!x || (b >= 0 && !pr->baselines_done)) continue;
      kg_ref_eff e;
      kg_report_ref_eff(pr, sp, x, &e);
      if (!e.suspect) continue;
      n++;
      if (len < cap)
        len += (size_t)snprintf(buf + len, cap - len, "%s%s %s %.0f%% (noise %.0f%%)", n > 1 ? "; " : "", sp->name,
                                b < 0 ? "winner" : r->spec->baselines[b], 100 * e.fraction, 100 * e.noise);
    }
  }
  return n;
}
