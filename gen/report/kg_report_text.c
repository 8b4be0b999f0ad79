/* kg_report_text.c - the per-variant CSV, the summary table and the Markdown report (kg_report.h). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <string.h>

#include "kg_file.h"
#include "kg_report_internal.h"

/* CSV field: quoted when it holds a comma, quote or newline. */
static void kg_csv_field(FILE *f, const char *s) {
  if (!strpbrk(s, ",\"\n")) {
    fputs(s, f);
    return;
  }
  fputc('"', f);
  for (; *s; s++) {
    if (*s == '"') fputc('"', f);
    fputc(*s == '\n' ? ' ' : *s, f);
  }
  fputc('"', f);
}

static void kg_csv_num(FILE *f, double v) {
  if (isfinite(v)) fprintf(f, ",%.6g", v);
  else fputs(",", f);
}

static void kg_csv_row(FILE *f, const kg_tune_report *r, const kg_spec_problem *sp, const char *variant, long point,
                       const kg_result *x) {
  const kg_spec *s = r->spec;
  kg_csv_field(f, sp->name);
  fputc(',', f);
  kg_csv_field(f, variant);
  for (int i = 0; i < s->nparams; i++) {
    fputc(',', f);
    if (point < 0) continue;
    const kg_param *p = &s->params[i];
    int32_t v = kg_report_point(s, point)[i];
    if (p->kind == KG_PARAM_INT) fprintf(f, "%" PRId64, p->ivalues[v]);
    else kg_csv_field(f, p->svalues[v]);
  }
  fprintf(f, ",%s,", x->m.status == KG_OK ? "ok" : kg_strerror(x->m.status));
  kg_csv_field(f, x->m.reason);
  bool ok = x->m.status == KG_OK;
  const kg_stats *t = &x->m.stats;
  double nan = NAN;
  kg_csv_num(f, ok ? t->p50 : nan);
  kg_csv_num(f, ok ? t->p90 : nan);
  kg_csv_num(f, ok ? t->p99 : nan);
  kg_csv_num(f, ok ? t->ci_lo : nan);
  kg_csv_num(f, ok ? t->ci_hi : nan);
  fprintf(f, ",%zu", ok ? t->n : 0);
  kg_csv_num(f, ok ? kg_report_gbps(sp, t->p50) : nan);
  kg_csv_num(f, ok ? kg_report_gflops(sp, t->p50) : nan);
  kg_csv_num(f, x->compile_ms);
  kg_efficiency e;
  kg_report_eff(r, sp, &x->m, point, &e);
  if (e.known) fprintf(f, ",%.4g,%s", e.fraction, e.bound);
  else fputs(",,", f);
  for (int i = 0; i < r->nevents; i++) {
    double v;
    const char *why;
    if (kg_report_event_value(&x->m, i, &v, &why)) fprintf(f, ",%.6g", v);
    else fputs(",unavailable", f);
  }
  kg_derived d[KG_MAX_EVENTS + 1];
  int nd = kg_report_derive(r, &x->m, d, KG_MAX_EVENTS + 1);
  for (int i = 0; i < nd; i++) {
    if (d[i].ok) fprintf(f, ",%.6g", d[i].value);
    else fputs(",unavailable", f);
  }
  fputc(',', f);
  kg_csv_field(f, x->m.accuracy);
  fprintf(f, ",%s\n", r->mode);
}

kg_status kg_tune_write_csv(const kg_tune_report *r, const char *path, kg_ctx *ctx) {
  const kg_spec *s = r->spec;
  char dir[4096];
  kg_status st = kg_file_mkdirs(kg_file_parent(path, dir, sizeof dir), ctx);
  if (st) return st;
  FILE *f = fopen(path, "w");
  if (!f) return kg_ctx_set(ctx, KG_EIO, "%s: %s", path, strerror(errno));
  fputs("problem,variant", f);
  for (int i = 0; i < s->nparams; i++) fprintf(f, ",%s", s->params[i].name);
  fputs(",status,reason,p50_ns,p90_ns,p99_ns,ci95_lo_ns,ci95_hi_ns,samples,gbps,gflops,compile_ms,efficiency,bound", f);
  for (int i = 0; i < r->nevents; i++) {
    fputs(",", f);
    kg_csv_field(f, r->events[i]);
  }
  kg_measurement none;
  kg_measurement_init(&none, NULL);
  kg_derived d[KG_MAX_EVENTS + 1];
  int nd = kg_report_derive(r, &none, d, KG_MAX_EVENTS + 1);
  for (int i = 0; i < nd; i++) {
    fputs(",", f);
    kg_csv_field(f, d[i].name);
  }
  fprintf(f, ",accuracy,caches\n");
  for (int p = 0; p < r->nproblems; p++) {
    const kg_problem_result *pr = &r->problems[p];
    const kg_spec_problem *sp = &s->problems[pr->problem];
    for (int b = 0; b < s->nbaselines && pr->baselines_done; b++) {
      char name[256];
      snprintf(name, sizeof name, "baseline:%s", s->baselines[b]);
      kg_csv_row(f, r, sp, name, KG_BASELINE_POINT(b), &pr->baselines[b]);
    }
    for (long i = 0; i < pr->nresults; i++) {
      char name[1024];
      kg_spec_format_point(s, kg_report_point(s, pr->results[i].point), name, sizeof name);
      kg_csv_row(f, r, sp, name, pr->results[i].point, &pr->results[i]);
    }
  }
  if (ferror(f) | (fclose(f) != 0)) return kg_ctx_set(ctx, KG_EIO, "%s: write failed", path);
  return KG_OK;
}

/* "12.3 us", "4.56 ms" */
static const char *kg_fmt_time(double ns, char *buf, size_t cap) {
  if (!isfinite(ns)) snprintf(buf, cap, "-");
  else if (ns < 1e3) snprintf(buf, cap, "%.0f ns", ns);
  else if (ns < 1e6) snprintf(buf, cap, "%.2f us", ns / 1e3);
  else if (ns < 1e9) snprintf(buf, cap, "%.2f ms", ns / 1e6);
  else snprintf(buf, cap, "%.2f s", ns / 1e9);
  return buf;
}

/* "83% mem" / "12% cpu" / "-" */
static const char *kg_fmt_eff(const kg_efficiency *e, char *buf, size_t cap) {
  if (e->known) snprintf(buf, cap, "%.0f%% %s", 100 * e->fraction, e->bound[0] == 'm' ? "mem" : "cpu");
  else snprintf(buf, cap, "-");
  return buf;
}

/* "93% memory c" (c: cold) / "41% fp32_fma" / "-": against the same-run roofline reference */
static const char *kg_fmt_ref_eff(const kg_problem_result *pr, const kg_spec_problem *sp, const kg_result *x,
                                  char *buf, size_t cap) {
  kg_ref_eff e;
  kg_report_ref_eff(pr, sp, x, &e);
  if (e.known) snprintf(buf, cap, "%.0f%% %s%s%s", 100 * e.fraction, e.bound, sp->cold ? " c" : "", e.suspect ? "!" : "");
  else snprintf(buf, cap, "-");
  return buf;
}

/* "task-clock 1.2e+04, cycles unavailable (not supported ...), ipc unavailable" */
static void kg_fmt_events(const kg_tune_report *r, const kg_measurement *m, bool why, char *buf, size_t cap) {
  size_t n = 0;
  buf[0] = '\0';
  for (int i = 0; i < r->nevents && n < cap; i++) {
    double v;
    const char *w;
    if (kg_report_event_value(m, i, &v, &w))
      n += (size_t)snprintf(buf + n, cap - n, "%s%s %.4g", i ? ", " : "", r->events[i], v);
    else
      n += (size_t)snprintf(buf + n, cap - n, "%s%s unavailable%s%s%s", i ? ", " : "", r->events[i], why ? " (" : "",
                            why ? w : "", why ? ")" : "");
  }
  kg_derived d[KG_MAX_EVENTS + 1];
  int nd = kg_report_derive(r, m, d, KG_MAX_EVENTS + 1);
  for (int i = 0; i < nd && n < cap; i++) {
    if (d[i].ok) n += (size_t)snprintf(buf + n, cap - n, ", %s %.3g", d[i].name, d[i].value);
    else n += (size_t)snprintf(buf + n, cap - n, ", %s unavailable", d[i].name);
  }
}

/* The roofline column's legend and any figure above 100% beyond noise (a reference bug). */
static void kg_tune_print_roofline_note(const kg_tune_report *r, FILE *f) {
  bool any = false, cold = false;
  for (int p = 0; p < r->nproblems; p++) {
    const kg_spec_problem *sp = &r->spec->problems[r->problems[p].problem];
    any |= r->problems[p].has_reference;
    cold |= sp->cold;
  }
  if (any)
    fprintf(f,
            "roofline: the winner's rate over a reference measured in the same final rounds (memory = a read pass "
            "over the problem's bytes, GB/s; fp32_fma / int8_dot / bf16_dot = the peak microkernel, all cores)%s\n",
            cold ? "; c = cold (caches flushed before every call)" : "");
  char list[2048];
  int n = kg_report_ref_suspects(r, list, sizeof list);
  if (n)
    fprintf(f, "REFERENCE BUG: %d efficienc%s above 100%% beyond noise (marked !): %s\n", n, n == 1 ? "y" : "ies",
            list);
}

void kg_tune_print_summary(const kg_tune_report *r, FILE *f) {
  const kg_spec *s = r->spec;
  fprintf(f, "\n%s %s on %s (%s backend, %s caches, %s, %.0f s)\n", r->command[0] ? r->command : "tune", s->name,
          r->machine.id, r->backend, r->mode, kg_strategy_name(r->strategy), r->elapsed_s);
  if (r->from[0]) fprintf(f, "the variants are the winners of machine %s (source: %s)\n", r->from, r->source);
  fprintf(f, "%-12s %-10s %-10s %-10s %-22s %8s %10s %8s %8s %9s %-16s %9s  %s\n", "problem", "p50", "ci95 +-",
          "baseline", "(name)", "speedup", "bytes", "GB/s", "GFLOP/s", "eff", "roofline", "ok/total", "winner");
  for (int p = 0; p < r->nproblems; p++) {
    const kg_problem_result *pr = &r->problems[p];
    const kg_spec_problem *sp = &s->problems[pr->problem];
    const kg_result *w = pr->winner >= 0 ? &pr->results[pr->winner] : NULL;
    int bb = kg_report_best_baseline(r, pr, KG_ANY_THREADS);
    char a[32], b[32], c[32], params[1024] = "(no valid variant)", bytes[32] = "-", eff[32] = "-", roof[40] = "-";
    double p50 = w ? w->m.stats.p50 : NAN;
    double half = w ? (w->m.stats.ci_hi - w->m.stats.ci_lo) / 2 : NAN;
    double base = bb >= 0 ? pr->baselines[bb].m.stats.p50 : NAN;
    if (w) {
      kg_spec_format_point(s, kg_report_point(s, w->point), params, sizeof params);
      kg_efficiency e;
      kg_report_eff(r, sp, &w->m, w->point, &e);
      kg_fmt_eff(&e, eff, sizeof eff);
      kg_fmt_ref_eff(pr, sp, w, roof, sizeof roof);
    }
    if (sp->bytes >= 0) snprintf(bytes, sizeof bytes, "%.3g", sp->bytes);
    char gbps[32] = "-", gflops[32] = "-", speedup[32] = "-";
    if (isfinite(kg_report_gbps(sp, p50))) snprintf(gbps, sizeof gbps, "%.2f", kg_report_gbps(sp, p50));
    if (isfinite(kg_report_gflops(sp, p50))) snprintf(gflops, sizeof gflops, "%.1f", kg_report_gflops(sp, p50));
    if (isfinite(base / p50)) snprintf(speedup, sizeof speedup, "%.1fx", base / p50);
    fprintf(f, "%-12s %-10s %-10s %-10s %-22s %8s %10s %8s %8s %9s %-16s %4ld/%-4ld  %s%s%s\n", sp->name,
            kg_fmt_time(p50, a, sizeof a), kg_fmt_time(half, b, sizeof b), kg_fmt_time(base, c, sizeof c),
            bb >= 0 ? s->baselines[bb] : "-", speedup, bytes, gbps, gflops, eff, roof, pr->evaluated - pr->failed,
            pr->evaluated, params, pr->nties ? " (tie)" : "", pr->noisy ? " (noisy)" : "");
  }
  if (r->nevents) {
    fprintf(f, "counter events per run of the winner:\n");
    for (int p = 0; p < r->nproblems; p++) {
      const kg_problem_result *pr = &r->problems[p];
      if (pr->winner < 0) continue;
      char buf[4096];
      kg_fmt_events(r, &pr->results[pr->winner].m, p == 0, buf, sizeof buf);
      fprintf(f, "  %-12s %s\n", s->problems[pr->problem].name, buf);
    }
  }
  int rounds = 0;
  for (int p = 0; p < r->nproblems; p++)
    if (r->problems[p].winner >= 0 && r->problems[p].results[r->problems[p].winner].rounds > rounds)
      rounds = r->problems[p].results[r->problems[p].winner].rounds;
  if (rounds > 0)
    fprintf(
        f,
        "p50 and speedup: the median of %d final rounds measuring the fastest candidates and the baselines side "
        "by side; (tie) = a finalist's CI overlaps the winner's; (noisy) = CI or round spread wider than 5%% of p50\n",
        rounds);
  kg_tune_print_roofline_note(r, f);
  if (!r->profile) fprintf(f, "efficiency: no machine profile (run kgen calibrate)\n");
  else
    fprintf(
        f,
        "efficiency: against %s (mem = GB/s over copy bandwidth at the nearest size, cpu = over the peak of the bound)\n",
        r->profile->path);
  long failed = 0, censored = 0, cached = 0;
  for (int p = 0; p < r->nproblems; p++) {
    const kg_problem_result *pr = &r->problems[p];
    failed += pr->failed;
    cached += pr->cached;
    for (long i = pr->cached; i < pr->nresults; i++) censored += pr->results[i].m.status == KG_ECENSORED;
  }
  fprintf(f,
          "%ld variants x %d problems; %ld failed measurements (compile errors, crashes, timeouts, "
          "wrong results); %ld censored by the early cut-off (slower than --cutoff x the best)",
          r->nvariants, r->nproblems, failed - censored, censored);
  if (cached) fprintf(f, "; %ld read from --cache", cached);
  fprintf(f, "\n");
  if (r->spec->verify_off)
    fprintf(f, "UNVERIFIED: no result was checked against a reference (the spec declares verify = false: %s)\n",
            r->spec->verify_reason);
}

/* One Markdown table row of a measurement. */
/* "Phases (who): gating 2.1 ms (61%), ..." from a measurement's phases (kg_abi.h's kg_phases). */
static void kg_md_phases(FILE *f, const char *who, const kg_measurement *m) {
  json_t *ph = json_loads(m->phases, 0, NULL);
  double total = 0;
  const char *k;
  json_t *v;
  if (json_is_object(ph)) json_object_foreach(ph, k, v) total += json_number_value(v);
  if (json_is_object(ph) && total > 0) {
    fprintf(f, "\nPhases per call (%s):", who);
    int i = 0;
    json_object_foreach(ph, k, v)
      fprintf(f, "%s %s %.3g ms (%.0f%%)", i++ ? "," : "", k, json_number_value(v) / 1e6,
              100.0 * json_number_value(v) / total);
    fprintf(f, "\n");
  }
  json_decref(ph);
}

static void kg_md_row(FILE *f, const kg_tune_report *r, const kg_spec_problem *sp, const char *what, const char *name,
                      const kg_result *x, long point) {
  const kg_measurement *m = &x->m;
  char a[32], b[32], c[32], lo[32], hi[32], eff[160] = "-", rounds[64] = "";
  if (m->status != KG_OK) {
    fprintf(f, "| %s | `%s` | %s: %s | | | | | | | |\n", what, name, kg_strerror(m->status), m->reason);
    return;
  }
  kg_efficiency e;
  kg_report_eff(r, sp, m, point, &e);
  if (e.known) snprintf(eff, sizeof eff, "%.0f%% of %s", 100 * e.fraction, e.reference);
  else snprintf(eff, sizeof eff, "%s", e.why);
  if (x->rounds > 0)
    snprintf(rounds, sizeof rounds, "median of %d rounds (spread %.1f%%), ", x->rounds, 100 * x->round_spread);
  fprintf(f, "| %s | `%s` | %s | %s | %s | [%s, %s] | %zu | %.3g | %s%d retaken, %.2g ctx sw%s | %s |\n", what, name,
          kg_fmt_time(m->stats.p50, a, sizeof a), kg_fmt_time(m->stats.p90, b, sizeof b),
          kg_fmt_time(m->stats.p99, c, sizeof c), kg_fmt_time(m->stats.ci_lo, lo, sizeof lo),
          kg_fmt_time(m->stats.ci_hi, hi, sizeof hi), m->stats.n, sp->bytes > 0 ? sp->bytes / m->stats.p50 : NAN,
          rounds, m->retaken, m->ctx_switches, m->noisy ? ", **noisy**" : "", eff);
}

kg_status kg_tune_write_md(const kg_tune_report *r, const char *path, kg_ctx *ctx) {
  const kg_spec *s = r->spec;
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  if (!f) return kg_ctx_set(ctx, KG_ENOMEM, "out of memory");
  const kg_machine *m = &r->machine;
  fprintf(f, "# kgen %s: %s\n\n", r->command[0] ? r->command : "tune", s->name);
  if (r->from[0]) fprintf(f, "The variants are the winners of machine `%s` (source: %s).\n\n", r->from, r->source);
  fprintf(f, "## Environment\n\n");
  fprintf(f, "- machine: `%s` (%s, %s, %d cores / %d threads, L1d %llu KB, L2 %llu KB, L3 %llu KB)\n", m->id, m->cpu,
          m->microarch, m->cores, m->threads, (unsigned long long)(m->l1d >> 10), (unsigned long long)(m->l2 >> 10),
          (unsigned long long)(m->l3 >> 10));
  fprintf(f, "- ISA:");
  for (int i = 0; i < m->nisa; i++) fprintf(f, " %s", m->isa[i]);
  fprintf(f, "\n- OS: %s, kernel %s, governor %s\n", m->os, m->kernel, m->governor);
  fprintf(f, "- compiler: %s (%s backend)\n", r->compiler, r->backend);
  fprintf(f, "- caches: **%s** (%s)\n", r->mode,
          strcmp(r->mode, "cold") ? "inputs stay cached between runs" : "caches flushed before every sample");
  fprintf(f, "- spec: `%s` (xxh64 %016" PRIx64 "), template xxh64 %016" PRIx64 "\n", s->path, s->hash,
          r->template_hash);
  fprintf(f, "- machine profile: %s\n", r->profile ? r->profile->path : "no machine profile (run kgen calibrate)");
  fprintf(f, "- counter events: ");
  for (int i = 0; i < r->nevents; i++) fprintf(f, "%s%s", i ? ", " : "", r->events[i]);
  fprintf(f, "%s\n- hardware PMU: %s\n\n", r->nevents ? "" : "none requested",
          kg_counters_hardware_available() ? "available" : "not exposed (software events only)");
  int noisy = 0, unavailable = 0;
  char findings[8192] = "";
  size_t fn = 0;
  for (int p = 0; p < r->nproblems; p++) {
    const kg_problem_result *pr = &r->problems[p];
    const kg_spec_problem *sp = &s->problems[pr->problem];
    fprintf(f, "## Problem `%s`\n\n", sp->name);
    for (int d = 0; d < sp->ndims; d++) fprintf(f, "%s%s = %" PRId64, d ? ", " : "", sp->dim_names[d], sp->dims[d]);
    fprintf(f, "\n\n");
    fprintf(f, "| | variant | p50 | p90 | p99 | 95%% CI of p50 | samples | GB/s | noise | efficiency |\n");
    fprintf(f, "|---|---|---|---|---|---|---|---|---|---|\n");
    const kg_result *w = pr->winner >= 0 ? &pr->results[pr->winner] : NULL;
    char params[1024] = "-";
    if (w) {
      kg_spec_format_point(s, kg_report_point(s, w->point), params, sizeof params);
      kg_md_row(f, r, sp, "winner", params, w, w->point);
    }
    for (int b = 0; b < s->nbaselines && pr->baselines_done; b++)
      kg_md_row(f, r, sp, "baseline", s->baselines[b], &pr->baselines[b], KG_BASELINE_POINT(b));
    if (w && w->m.accuracy[0]) fprintf(f, "\nAccuracy (winner, from its verification): `%s`\n", w->m.accuracy);
    if (w && w->m.phases[0]) kg_md_phases(f, "winner", &w->m);
    for (int b = 0; b < s->nbaselines && pr->baselines_done; b++)
      if (pr->baselines[b].m.phases[0]) kg_md_phases(f, s->baselines[b], &pr->baselines[b].m);
    if (r->nevents && w) {
      char buf[4096];
      kg_fmt_events(r, &w->m, true, buf, sizeof buf);
      fprintf(f, "\nCounters per run (winner): %s\n", buf);
    }
    fprintf(f, "\n");
    int bb = kg_report_best_baseline(r, pr, KG_ANY_THREADS);
    if (w && bb >= 0) {
      const kg_stats *ws = &w->m.stats, *bs = &pr->baselines[bb].m.stats;
      int cmp = kg_stats_compare(ws, bs);
      fn += (size_t)snprintf(findings + fn, sizeof findings - fn > 0 ? sizeof findings - fn : 0,
                             "- `%s`: speedup vs fastest baseline (%s) **%.2fx**%s", sp->name, s->baselines[bb],
                             bs->p50 / ws->p50, cmp == 0 ? " (a statistical tie: the CIs overlap)" : "");
      int wt = kg_report_threads_of(r, w->point), bt = kg_report_best_baseline(r, pr, wt);
      if (bt >= 0 && fn < sizeof findings)
        fn += (size_t)snprintf(findings + fn, sizeof findings - fn,
                               "; vs the fastest with the same %d thread%s (%s) %.2fx", wt, wt == 1 ? "" : "s",
                               s->baselines[bt], pr->baselines[bt].m.stats.p50 / ws->p50);
      if (fn < sizeof findings) fn += (size_t)snprintf(findings + fn, sizeof findings - fn, "\n");
    } else if (!w && fn < sizeof findings) {
      fn += (size_t)snprintf(findings + fn, sizeof findings - fn, "- `%s`: no valid variant\n", sp->name);
    }
    if (w && pr->noisy) noisy++;
    for (int i = 0; w && i < r->nevents; i++) {
      double v;
      const char *why;
      if (!kg_report_event_value(&w->m, i, &v, &why)) unavailable++;
    }
    if (fn >= sizeof findings) fn = sizeof findings - 1;
  }
  fprintf(f, "## Findings\n\n%s", findings);
  fprintf(f, "- noisy winners (95%% CI wider than 5%% of p50, or final rounds spread wider than that): %d\n", noisy);
  if (r->nevents) {
    fprintf(f, "- unavailable counters: %d", unavailable);
    if (unavailable && r->nproblems && r->problems[0].winner >= 0) {
      for (int i = 0; i < r->nevents; i++) {
        double v;
        const char *why;
        if (!kg_report_event_value(&r->problems[0].results[r->problems[0].winner].m, i, &v, &why))
          fprintf(f, "; %s: %s", r->events[i], why);
      }
    }
    fprintf(f, "\n");
  }
  if (fclose(f) != 0) {
    free(text);
    return kg_ctx_set(ctx, KG_EIO, "%s: could not format the report", path);
  }
  kg_status st = kg_file_write_atomic(path, text, len, ctx);
  free(text);
  return st;
}
