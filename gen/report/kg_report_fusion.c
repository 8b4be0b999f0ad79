/*
 * kg_report_fusion.c - the fusion fields of a report's problems (issue 15, the fusion contract's
 * item 4): for a spec with a `fusion` key, fused (the problem's winner) against unfused (the
 * baseline fusion.unfused names, measured in the same rounds).  See kg_report.h.
 */
#include <math.h>
#include <string.h>

#include "kg_report.h"
#include "kg_report_internal.h"

bool kg_report_fusion(const kg_tune_report *r, const kg_problem_result *pr, kg_fusion_figures *f) {
  const kg_spec *s = r->spec;
  memset(f, 0, sizeof *f);
  if (!s->fusion) return false;
  const kg_spec_problem *sp = &s->problems[pr->problem];
  f->pattern = sp->pattern;
  f->flops = sp->flops;
  f->fused_bytes = sp->bytes;
  f->unfused_bytes = sp->bytes_unfused;
  f->fused_ns = f->unfused_ns = NAN;
  f->memory_reduction = sp->bytes > 0 && sp->bytes_unfused > 0 ? 1.0 - sp->bytes / sp->bytes_unfused : NAN;
  if (pr->winner >= 0) {
    const kg_stats *w = &pr->results[pr->winner].m.stats;
    f->fused_ns = w->p50;
    f->fused_ci[0] = w->ci_lo, f->fused_ci[1] = w->ci_hi;
  }
  /* fusion.unfused, or its twin with the winner's thread count ("unfused_2t" beside "unfused":
   * the baselines' `baseline_threads`), so fused and unfused run on as many threads */
  const int wt = pr->winner >= 0 ? kg_report_threads_of(r, pr->results[pr->winner].point) : 0;
  const size_t ul = strlen(s->fusion_unfused);
  int named = -1, twin = -1;
  for (int b = 0; b < s->nbaselines; b++) {
    const kg_measurement *m = &pr->baselines[b].m;
    if (!pr->baselines_done || m->status != KG_OK || m->stats.n == 0) continue;
    const char *nm = s->baselines[b];
    const bool exact = !strcmp(nm, s->fusion_unfused);
    if (exact) named = b;
    if ((exact || (!strncmp(nm, s->fusion_unfused, ul) && nm[ul] == '_')) && wt > 0 && s->baseline_threads[b] == wt &&
        twin < 0)
      twin = b;
  }
  const int ub = twin >= 0 ? twin : named;
  if (ub >= 0) {
    const kg_stats *m = &pr->baselines[ub].m.stats;
    f->unfused_ns = m->p50;
    f->unfused_ci[0] = m->ci_lo, f->unfused_ci[1] = m->ci_hi;
    f->unfused = s->baselines[ub];
  }
  f->speedup = f->unfused_ns / f->fused_ns;
  if (!isfinite(f->speedup)) f->verdict = "unmeasured";
  else if (f->fused_ci[1] < f->unfused_ci[0]) f->verdict = "fuse";
  else if (f->fused_ci[0] > f->unfused_ci[1]) f->verdict = "avoid";
  else f->verdict = "neutral";
  return true;
}

static json_t *real_or_null(double v) { return isfinite(v) ? json_real(v) : json_null(); }

void kg_report_fusion_json(const kg_tune_report *r, const kg_problem_result *pr, json_t *jp) {
  kg_fusion_figures f;
  if (!kg_report_fusion(r, pr, &f)) return;
  const kg_spec_problem *sp = &r->spec->problems[pr->problem];
  json_object_set_new(jp, "pattern", json_string(f.pattern));
  json_object_set_new(jp, "flops", f.flops >= 0 ? json_real(f.flops) : json_null());
  json_object_set_new(jp, "fused_latency_ms", real_or_null(f.fused_ns * 1e-6));
  json_object_set_new(jp, "unfused_latency_ms", real_or_null(f.unfused_ns * 1e-6));
  json_object_set_new(jp, "fused_gflops", real_or_null(kg_report_gflops(sp, f.fused_ns)));
  json_object_set_new(jp, "unfused_gflops", real_or_null(kg_report_gflops(sp, f.unfused_ns)));
  json_object_set_new(jp, "fused_bytes", f.fused_bytes >= 0 ? json_real(f.fused_bytes) : json_null());
  json_object_set_new(jp, "unfused_bytes", f.unfused_bytes >= 0 ? json_real(f.unfused_bytes) : json_null());
  json_object_set_new(jp, "speedup_factor", real_or_null(f.speedup));
  json_object_set_new(jp, "memory_reduction", real_or_null(f.memory_reduction));
  json_object_set_new(jp, "fusion_verdict", json_string(f.verdict));
  json_object_set_new(jp, "unfused_baseline", f.unfused ? json_string(f.unfused) : json_null());
}
