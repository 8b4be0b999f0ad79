/*
 * kg_report.c - the autotune JSON, each winner's standalone source, the report JSON, and the
 * figures the other reports share (kg_report_internal.h).  See kg_report.h.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <xxhash.h>

#include "kg_file.h"
#include "kg_template.h"
#include "kg_report.h"
#include "kg_report_internal.h"

#ifndef KG_VERSION
#define KG_VERSION "0"
#endif

const int32_t *kg_report_point(const kg_spec *s, long point) { return s->points + (size_t)point * (size_t)s->nparams; }

static json_t *kg_params_json(const kg_spec *s, long point) {
  json_t *o = json_object();
  const int32_t *pt = kg_report_point(s, point);
  for (int i = 0; i < s->nparams; i++) {
    const kg_param *p = &s->params[i];
    json_object_set_new(o, p->name,
                        p->kind == KG_PARAM_INT ? json_integer(p->ivalues[pt[i]]) : json_string(p->svalues[pt[i]]));
  }
  return o;
}

static json_t *kg_real_or_null(double v) { return isfinite(v) ? json_real(v) : json_null(); }

/* Achieved rates per run of the kernel: NAN when the spec has no such metric. */
double kg_report_gbps(const kg_spec_problem *sp, double p50_ns) {
  return sp->bytes > 0 && p50_ns > 0 ? sp->bytes / p50_ns : NAN;
}
double kg_report_gflops(const kg_spec_problem *sp, double p50_ns) {
  return sp->flops > 0 && p50_ns > 0 ? sp->flops / p50_ns : NAN;
}

int kg_tune_point_threads(const kg_spec *spec, long point) {
  int t = kg_spec_role_param(spec, "threads");
  if (t < 0 || point < 0 || spec->params[t].kind != KG_PARAM_INT) return 0;
  return (int)spec->params[t].ivalues[kg_report_point(spec, point)[t]];
}

/* ---- counter events and derived figures ------------------------------------------------------ */

/* Event i of a measurement: true with *v when counted, else false with why. */
bool kg_report_event_value(const kg_measurement *m, int i, double *v, const char **why) {
  if (i < m->nevents && m->event_available[i] && isfinite(m->events[i])) {
    *v = m->events[i];
    return true;
  }
  if (i < m->nevents && m->event_why[i][0]) *why = m->event_why[i];
  else if (i < m->nevents && m->event_available[i]) *why = "never scheduled on the PMU (multiplexing)";
  else *why = "not measured (resumed from the database, or the measurement failed)";
  return false;
}

static int kg_event_find(const kg_tune_report *r, const char *const *names, int n) {
  for (int i = 0; i < r->nevents; i++)
    for (int k = 0; k < n; k++)
      if (!strcmp(r->events[i], names[k])) return i;
  return -1;
}

/* A derived figure: IPC (instructions / cycles) and misses per 1000 instructions for every event
 * whose name says "miss", when their inputs were requested. */

int kg_report_derive(const kg_tune_report *r, const kg_measurement *m, kg_derived *d, int cap) {
  static const char *const instr[] = {"instructions", "inst_retired.any", "INST_RETIRED:ANY_P"};
  static const char *const cyc[] = {"cycles", "cpu-cycles", "cpu_clk_unhalted.thread"};
  int ii = kg_event_find(r, instr, 3), ic = kg_event_find(r, cyc, 3), n = 0;
  double vi = NAN, vc = NAN;
  const char *why = "";
  bool oki = ii >= 0 && kg_report_event_value(m, ii, &vi, &why);
  if (ii >= 0 && ic >= 0 && n < cap) {
    bool okc = kg_report_event_value(m, ic, &vc, &why);
    snprintf(d[n].name, sizeof d[n].name, "ipc");
    d[n].ok = oki && okc && vc > 0;
    d[n].value = d[n].ok ? vi / vc : NAN;
    snprintf(d[n].why, sizeof d[n].why, "%s", d[n].ok ? "" : "instructions or cycles unavailable");
    n++;
  }
  for (int e = 0; e < r->nevents && ii >= 0 && n < cap; e++) {
    if (!strcasestr(r->events[e], "miss")) continue;
    double v = NAN;
    bool ok = kg_report_event_value(m, e, &v, &why) && oki && vi > 0;
    snprintf(d[n].name, sizeof d[n].name, "%.120s_per_kinstr", r->events[e]);
    d[n].ok = ok;
    d[n].value = ok ? 1000.0 * v / vi : NAN;
    snprintf(d[n].why, sizeof d[n].why, "%s", ok ? "" : "the event or instructions unavailable");
    n++;
  }
  return n;
}

static json_t *kg_events_json(const kg_tune_report *r, const kg_measurement *m) {
  json_t *o = json_object();
  for (int i = 0; i < r->nevents; i++) {
    double v;
    const char *why;
    if (kg_report_event_value(m, i, &v, &why)) json_object_set_new(o, r->events[i], json_pack("{s:f}", "per_run", v));
    else json_object_set_new(o, r->events[i], json_pack("{s:s, s:s}", "per_run", "unavailable", "reason", why));
  }
  return o;
}

static json_t *kg_derived_json(const kg_tune_report *r, const kg_measurement *m) {
  kg_derived d[KG_MAX_EVENTS + 1];
  int n = kg_report_derive(r, m, d, KG_MAX_EVENTS + 1);
  json_t *o = json_object();
  for (int i = 0; i < n; i++)
    json_object_set_new(o, d[i].name,
                        d[i].ok ? json_real(d[i].value)
                                : json_pack("{s:s, s:s}", "value", "unavailable", "reason", d[i].why));
  return o;
}

/* Threads of a point or baseline (0: not known). */
int kg_report_threads_of(const kg_tune_report *r, long point) {
  if (point >= 0) return kg_tune_point_threads(r->spec, point);
  if (point <= -2 && -2 - point < r->spec->nbaselines) return r->spec->baseline_threads[-2 - point];
  return 0;
}

/* The efficiency of a measurement on problem sp run by `point` (threads unknown: all cores). */
void kg_report_eff(const kg_tune_report *r, const kg_spec_problem *sp, const kg_measurement *m, long point,
                   kg_efficiency *e) {
  kg_profile_efficiency(r->profile, sp->flops, sp->bytes, m->status == KG_OK ? m->stats.p50 : NAN,
                        kg_report_threads_of(r, point), (kg_roofline_bound)sp->bound, e);
}

static json_t *kg_eff_json(const kg_efficiency *e) {
  if (!e->known) return json_string(e->why);
  return json_pack("{s:s, s:f, s:f, s:f, s:o, s:o, s:i, s:s}", "bound", e->bound, "fraction", e->fraction, "achieved",
                   e->achieved, "ceiling", e->ceiling, "intensity", kg_real_or_null(e->intensity), "balance",
                   kg_real_or_null(e->balance), "threads", e->threads, "reference", e->reference);
}

/* The phases the template reported (kg_abi.h's kg_phases): "phases" {name: share of the sum} and
 * "phases_ns" {name: ns per call}; nothing when there are none. */
static void kg_phases_json(json_t *o, const kg_measurement *m) {
  json_t *ns = m->phases[0] ? json_loads(m->phases, 0, NULL) : NULL;
  double total = 0;
  const char *k;
  json_t *v;
  if (json_is_object(ns)) json_object_foreach(ns, k, v) total += json_number_value(v);
  if (!json_is_object(ns) || !(total > 0)) {
    json_decref(ns);
    return;
  }
  json_t *share = json_object();
  json_object_foreach(ns, k, v) json_object_set_new(share, k, json_real(json_number_value(v) / total));
  json_object_set_new(o, "phases", share);
  json_object_set_new(o, "phases_ns", ns);
}

static json_t *kg_timing_json(const kg_tune_report *r, const kg_spec_problem *sp, const kg_measurement *m, long point) {
  const kg_stats *x = &m->stats;
  json_t *o = json_object();
  json_object_set_new(o, "p50_ns", json_real(x->p50));
  json_object_set_new(o, "p90_ns", json_real(x->p90));
  json_object_set_new(o, "p99_ns", json_real(x->p99));
  json_object_set_new(o, "mean_ns", json_real(x->mean));
  json_object_set_new(o, "std_ns", json_real(x->std));
  json_object_set_new(o, "min_ns", json_real(x->min));
  json_object_set_new(o, "ci95_ns", json_pack("[f, f]", x->ci_lo, x->ci_hi));
  json_object_set_new(o, "samples", json_integer((json_int_t)x->n));
  json_object_set_new(o, "inner_reps", json_integer(m->inner_reps));
  json_object_set_new(o, "gflops", kg_real_or_null(kg_report_gflops(sp, x->p50)));
  json_object_set_new(o, "gbps", kg_real_or_null(kg_report_gbps(sp, x->p50)));
  json_object_set_new(o, "noise",
                      json_pack("{s:i, s:o, s:o, s:o, s:b}", "retaken", m->retaken, "ctx_switches",
                                kg_real_or_null(m->ctx_switches), "migrations", kg_real_or_null(m->migrations),
                                "page_faults", kg_real_or_null(m->page_faults), "noisy", m->noisy));
  if (r->nevents) {
    json_object_set_new(o, "events", kg_events_json(r, m));
    json_object_set_new(o, "derived", kg_derived_json(r, m));
  }
  kg_efficiency e;
  kg_report_eff(r, sp, m, point, &e);
  json_object_set_new(o, "efficiency_profile", kg_eff_json(&e)); /* the calibrate profile, for context */
  json_t *acc = m->accuracy[0] ? json_loads(m->accuracy, 0, NULL) : NULL;
  if (json_is_object(acc)) json_object_set_new(o, "accuracy", acc);
  else json_decref(acc);
  kg_phases_json(o, m);
  return o;
}

/* "rounds" (final rounds behind this figure; 0 = measured once, in the search) and
 * "round_spread" ((max - min) / median of their p50s) into a timing object. */
static void kg_rounds_json(json_t *o, const kg_result *x) {
  json_object_set_new(o, "rounds", json_integer(x->rounds));
  json_object_set_new(o, "round_spread", json_real(x->round_spread));
}

/* The fastest measured baseline of a problem, or -1: any of them (threads = KG_ANY_THREADS), or
 * those the spec's baseline_threads says run `threads` threads (none when threads is 0, unknown). */
int kg_report_best_baseline(const kg_tune_report *r, const kg_problem_result *pr, int threads) {
  int best = -1;
  for (int b = 0; b < r->spec->nbaselines && threads != 0; b++) {
    const kg_measurement *m = &pr->baselines[b].m;
    if (pr->baselines_done && m->status == KG_OK && m->stats.n > 0 &&
        (threads == KG_ANY_THREADS || r->spec->baseline_threads[b] == threads) &&
        (best < 0 || m->stats.p50 < pr->baselines[best].m.stats.p50))
      best = b;
  }
  return best;
}

static json_t *kg_report_json(const kg_tune_report *r) {
  const kg_spec *s = r->spec;
  char h[2][17];
  snprintf(h[0], sizeof h[0], "%016" PRIx64, s->hash);
  snprintf(h[1], sizeof h[1], "%016" PRIx64, r->template_hash);
  json_t *machine = kg_machine_to_json(&r->machine);
  /* "clang 16.0.6 -O3 ..." -> compiler "clang 16.0.6", flags "-O3 ..." */
  const char *flags = strstr(r->compiler, " -");
  json_object_set_new(machine, "compiler",
                      json_stringn(r->compiler, flags ? (size_t)(flags - r->compiler) : strlen(r->compiler)));
  json_object_set_new(machine, "flags", json_string(flags ? flags + 1 : ""));
  json_t *root = json_pack("{s:i, s:s, s:s, s:s, s:s, s:s, s:o, s:s, s:I, s:s, s:s, s:f}", "schema", 1, "kgen_version",
                           KG_VERSION, "kernel", s->name, "spec", s->path, "spec_hash", h[0], "template_hash", h[1],
                           "machine", machine, "strategy", kg_strategy_name(r->strategy), "budget",
                           (json_int_t)r->budget, "backend", r->backend, "mode", r->mode, "elapsed_s", r->elapsed_s);
  json_object_set_new(root, "command", json_string(r->command[0] ? r->command : "tune"));
  if (r->source[0]) json_object_set_new(root, "source", json_string(r->source));
  if (r->from[0]) json_object_set_new(root, "from", json_string(r->from));
  if (r->nwarm > 0) { /* warm start: the other machines' points measured first, and where from */
    json_t *ws = json_array();
    for (long i = 0; i < r->nwarm; i++)
      json_array_append_new(ws,
                            json_pack("{s:o, s:s}", "params", kg_params_json(s, r->warm[i]), "from", r->warm_from[i]));
    json_object_set_new(root, "warm_start", ws);
  }
  json_object_set_new(root, "verified", json_boolean(!s->verify_off));
  if (s->verify_off)
    json_object_set_new(root, "unverified",
                        json_sprintf("UNVERIFIED: the spec declares verify = false (%s)", s->verify_reason));
  json_t *evs = json_array();
  for (int i = 0; i < r->nevents; i++) json_array_append_new(evs, json_string(r->events[i]));
  json_object_set_new(root, "events", evs);
  json_object_set_new(root, "profile",
                      r->profile ? json_string(r->profile->path)
                                 : json_string("no machine profile (run kgen calibrate)"));
  json_t *problems = json_array();
  for (int p = 0; p < r->nproblems; p++) {
    const kg_problem_result *pr = &r->problems[p];
    const kg_spec_problem *sp = &s->problems[pr->problem];
    json_t *jp = json_object(), *dims = json_object();
    json_object_set_new(jp, "name", json_string(sp->name));
    for (int d = 0; d < sp->ndims; d++) json_object_set_new(dims, sp->dim_names[d], json_integer(sp->dims[d]));
    json_object_set_new(jp, "dims", dims);
    json_object_set_new(jp, "bytes", sp->bytes >= 0 ? json_real(sp->bytes) : json_null());
    json_object_set_new(jp, "flops", sp->flops >= 0 ? json_real(sp->flops) : json_null());
    json_object_set_new(jp, "mode", json_string(sp->cold || !strcmp(r->mode, "cold") ? "cold" : "warm"));
    const kg_result *w = pr->winner >= 0 ? &pr->results[pr->winner] : NULL;
    if (w) {
      json_t *jw = kg_timing_json(r, sp, &w->m, w->point);
      kg_rounds_json(jw, w);
      kg_report_ref_json(jw, pr, sp, w);
      json_object_set_new(jw, "params", kg_params_json(s, w->point));
      for (long i = 0; i < r->nwarm; i++) /* a warm-start point: the machine it came from */
        if (r->warm[i] == w->point) {
          json_object_set_new(jw, "warm_from", json_string(r->warm_from[i]));
          break;
        }
      json_object_set_new(jp, "winner", jw);
    } else {
      json_object_set_new(jp, "winner", json_null());
    }
    json_t *bls = json_array();
    for (int b = 0; b < s->nbaselines; b++) {
      const kg_measurement *m = &pr->baselines[b].m;
      json_t *jb =
          m->status == KG_OK && pr->baselines_done ? kg_timing_json(r, sp, m, KG_BASELINE_POINT(b)) : json_object();
      if (m->status == KG_OK && pr->baselines_done) {
        kg_rounds_json(jb, &pr->baselines[b]);
        kg_report_ref_json(jb, pr, sp, &pr->baselines[b]);
      }
      json_object_set_new(jb, "name", json_string(s->baselines[b]));
      json_object_set_new(jb, "status", json_string(m->status == KG_OK ? "ok" : kg_strerror(m->status)));
      json_array_append_new(bls, jb);
    }
    int bb = kg_report_best_baseline(r, pr, KG_ANY_THREADS);
    if (bb >= 0) {
      json_object_set_new(jp, "baseline",
                          json_pack("{s:s, s:f}", "name", s->baselines[bb], "p50_ns", pr->baselines[bb].m.stats.p50));
      json_object_set_new(jp, "speedup", w ? json_real(pr->baselines[bb].m.stats.p50 / w->m.stats.p50) : json_null());
    } else {
      json_object_set_new(jp, "baseline", json_null());
      json_object_set_new(jp, "speedup", json_null());
    }
    json_object_set_new(jp, "baselines", bls);
    int wt = w ? kg_report_threads_of(r, w->point) : 0, bt = kg_report_best_baseline(r, pr, wt);
    json_object_set_new(jp, "speedup_same_threads",
                        bt >= 0 ? json_pack("{s:i, s:s, s:f}", "threads", wt, "baseline", s->baselines[bt], "speedup",
                                            pr->baselines[bt].m.stats.p50 / w->m.stats.p50)
                                : json_null());
    kg_report_fusion_json(r, pr, jp); /* fusion specs: pattern, fused vs unfused (kg_report_fusion.c) */
    json_object_set_new(jp, "evaluated", json_integer(pr->evaluated));
    json_object_set_new(jp, "failed", json_integer(pr->failed));
    json_object_set_new(jp, "noisy", json_boolean(pr->noisy));
    json_t *ties = json_array();
    for (long t = 0; t < pr->nties; t++) {
      const kg_result *x = &pr->results[pr->ties[t]];
      json_array_append_new(ties, json_pack("{s:o, s:f, s:f}", "params", kg_params_json(s, x->point), "p50_ns",
                                            x->m.stats.p50, "p90_ns", x->m.stats.p90));
    }
    json_object_set_new(jp, "ties", ties);
    json_t *top = json_array();
    long *order = malloc(sizeof(long) * (size_t)(pr->nresults ? pr->nresults : 1));
    long n = order ? kg_tune_rank(pr, order) : 0;
    for (long i = 0; i < n && i < 5; i++) {
      const kg_result *x = &pr->results[order[i]];
      json_array_append_new(top, json_pack("{s:o, s:f, s:f, s:[f, f], s:i}", "params", kg_params_json(s, x->point),
                                           "p50_ns", x->m.stats.p50, "p90_ns", x->m.stats.p90, "ci95_ns",
                                           x->m.stats.ci_lo, x->m.stats.ci_hi, "rounds", x->rounds));
    }
    free(order);
    json_object_set_new(jp, "top", top);
    json_array_append_new(problems, jp);
  }
  json_object_set_new(root, "problems", problems);
  return root;
}

/* The winner's public API alone (issue 11): a banner naming the flags it needs (the ISA of
 * the machine it won on), KG_PUBLIC_ONLY (no harness, no OpenBLAS glue), then src.  malloc'd;
 * its length in *out_len; NULL when out of memory. */
static char *kg_report_public(const kg_tune_report *r, const char *problem, const char *src, size_t len,
                              size_t *out_len) {
  char flags[2048] = "-O3 -fopenmp";
  size_t n = strlen(flags);
  for (int i = 0; i < r->machine.nisa && n < sizeof flags - 64; i++) {
    const char *f = r->machine.isa[i];
    if (!strcmp(f, "sse4_2")) f = "sse4.2";
    n += (size_t)snprintf(flags + n, sizeof flags - n, " -m");
    const int dash = !strncmp(f, "amx_", 4); /* gcc: -mamx-tile, but -mavx512vnni */
    for (; *f && n < sizeof flags - 1; f++)
      if (*f != '_') flags[n++] = *f;
      else if (dash) flags[n++] = '-';
    flags[n] = 0;
  }
  char head[4096];
  int h = snprintf(head, sizeof head,
                   "/*\n * kgen tuned winner of %s on %s: the public API alone (see kgen/kgen.h), standalone.\n"
                   " * Build with the flags of the machine it won on:\n *   cc %s -c %s.c\n */\n"
                   "#define KG_PUBLIC_ONLY 1\n",
                   problem, r->machine.id, flags, problem);
  char *out = malloc((size_t)h + len + 1);
  if (!out) return NULL;
  memcpy(out, head, (size_t)h);
  memcpy(out + h, src, len);
  out[(size_t)h + len] = 0;
  *out_len = (size_t)h + len;
  return out;
}

/* Name of the report inside a staged output set: hidden, so that readers listing
 * the .json files of OUT/<kernel> never take it for a machine's report. */
#define KG_STAGED_REPORT ".report.json"

int kg_tune_output_recover(const char *kernel_dir) {
  DIR *d = opendir(kernel_dir);
  if (!d) return 0;
  int fixed = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.' || strstr(e->d_name, ".tmp.")) continue;
    char staged[4400], json[4400];
    snprintf(staged, sizeof staged, "%.4000s/%.200s/" KG_STAGED_REPORT, kernel_dir, e->d_name);
    snprintf(json, sizeof json, "%.4000s/%.200s.json", kernel_dir, e->d_name);
    if (access(staged, F_OK) == 0 && rename(staged, json) == 0) fixed++; /* the set was swapped in: finish */
  }
  closedir(d);
  return fixed + kg_file_clean_stale(kernel_dir);
}

/* One winner's public source into stage/<problem>.c; its XXH64 into hex[17]. */
static kg_status kg_write_winner(const kg_tune_report *r, const kg_problem_result *pr, const char *stage,
                                 char hex[17], kg_ctx *ctx) {
  const kg_spec *s = r->spec;
  const char *name = s->problems[pr->problem].name;
  char *src = NULL, path[4600];
  size_t len = 0;
  kg_status st = kg_template_emit(s, kg_report_point(s, pr->results[pr->winner].point), &src, &len, ctx);
  char *pub = st ? NULL : kg_report_public(r, name, src, len, &len);
  if (!st && !pub) st = kg_ctx_set(ctx, KG_ENOMEM, "out of memory");
  snprintf(path, sizeof path, "%.4300s/%.200s.c", stage, name);
  if (!st) st = kg_file_write_synced(path, pub, len, ctx);
  if (!st) snprintf(hex, 17, "%016" PRIx64, (uint64_t)XXH64(pub, len, 0));
  free(src), free(pub);
  return st;
}

kg_status kg_tune_write(const kg_tune_report *r, const char *out_dir, kg_ctx *ctx) {
  const kg_spec *s = r->spec;
  const char *mid = r->machine.id;
  char kdir[4096], target[4200], stage[4300], json_path[4300], path[4400];
  kg_status st;
  snprintf(kdir, sizeof kdir, "%.2048s/%.1024s", out_dir, s->name);
  snprintf(target, sizeof target, "%s/%s", kdir, mid);
  snprintf(json_path, sizeof json_path, "%s.json", target);
  snprintf(stage, sizeof stage, "%s.tmp.%d", target, (int)getpid());
  if ((st = kg_file_mkdirs(kdir, ctx))) return st;
  kg_tune_output_recover(kdir);
  /* Stage the whole set (sources and report) in a directory beside the target... */
  kg_file_remove_tree(stage);
  if (mkdir(stage, 0777) != 0) return kg_ctx_set(ctx, KG_EIO, "%s: cannot create directory: %s", stage, strerror(errno));
  json_t *root = kg_report_json(r), *problems = json_object_get(root, "problems");
  char *text = NULL;
  if (!root) st = kg_ctx_set(ctx, KG_ENOMEM, "out of memory");
  for (int p = 0; p < r->nproblems && !st; p++) {
    const kg_problem_result *pr = &r->problems[p];
    if (pr->winner < 0) continue;
    char hex[17];
    if ((st = kg_write_winner(r, pr, stage, hex, ctx))) break;
    snprintf(path, sizeof path, "%s/%s.c", mid, s->problems[pr->problem].name);
    json_object_set_new(json_array_get(problems, (size_t)p), "source",
                        json_pack("{s:s, s:s}", "file", path, "xxh64", hex));
  }
  if (!st && !(text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER)))
    st = kg_ctx_set(ctx, KG_ENOMEM, "out of memory");
  if (!st) {
    size_t n = strlen(text);
    text[n] = '\n'; /* json_dumps leaves room for the NUL only: write n bytes then a newline */
    snprintf(path, sizeof path, "%s/" KG_STAGED_REPORT, stage);
    st = kg_file_write_synced(path, text, n + 1, ctx);
  }
  free(text);
  json_decref(root);
  if (!st) st = kg_file_sync_dir(stage, ctx);
  if (st) {
    kg_file_remove_tree(stage);
    return st;
  }
  /* ...then swap it in: one rename decides old set or new.  A kill after it leaves the new set's
   * report inside it (KG_STAGED_REPORT), which kg_tune_output_recover moves out on the next run. */
  kg_file_fault("tune-output-staged");
  if ((st = kg_file_swap_dir(stage, target, ctx))) {
    kg_file_remove_tree(stage);
    return st;
  }
  kg_file_sync_dir(kdir, NULL);
  kg_file_fault("tune-output-swapped");
  snprintf(path, sizeof path, "%s/" KG_STAGED_REPORT, target);
  /* ENOENT: a concurrent writer's recovery moved it already (to the same place). */
  if (rename(path, json_path) != 0 && errno != ENOENT)
    st = kg_ctx_set(ctx, KG_EIO, "%s: rename failed: %s", json_path, strerror(errno));
  kg_file_sync_dir(kdir, NULL);
  kg_file_remove_tree(stage); /* the old set, after the exchange */
  return st;
}

kg_status kg_tune_write_json(const kg_tune_report *r, const char *path, kg_ctx *ctx) {
  json_t *root = kg_report_json(r);
  if (!root) return kg_ctx_set(ctx, KG_ENOMEM, "out of memory");
  kg_status st = kg_file_write_json(path, root, ctx);
  json_decref(root);
  return st;
}
