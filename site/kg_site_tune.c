/*
 * kg_site_tune.c - kgen-site-tune: per-machine tuning at install time (issue 12).
 *
 * Re-ranks, on the installing machine and within --budget seconds, the shipped shortlist of each
 * problem: the variants of the installed library that won, tied or were finalists on any machine
 * of tuned/ (the manifests `kgen ship` writes: share/kgen/manifest/<kernel>.json), compatible
 * with this CPU, ordered by machine distance (gen/ship/runtime/kgen_mdist.h, the library's rule)
 * then rank; then the other problems' shortlisted variants, nearest shape first (log2 distance),
 * up to ST_MAX_CAND in all.  A problem the spec declares cold is measured cold, as kgen tune did.
 * It needs neither Clang nor Lua: each variant's harness is a module the library's build
 * compiled (lib/kgen/site-modules/<kernel>_<i>.so), measured with kgen's runtime
 * (runtime/: forked worker per problem, each variant verified then timed in a child; medians and
 * 95% CIs of the median).
 *
 * Protocol, per problem (the budget left is shared evenly by the problems left):
 *   - noise first: the load average and the spread of a quick repeat of the first incumbent; a
 *     noisy machine gets 5 rounds instead of 3 and a 6% replacement margin instead of 3%;
 *   - successive halving (Jamieson & Talwalkar, AISTATS 2016; Karnin et al., ICML 2013) over
 *     interleaved rounds in a rotated order: after each round, candidates slower than the best
 *     beyond noise (CIs apart) are dropped, then the slowest down to half of the last rung; the
 *     incumbent (this machine's previous site choice when a site file of this build has one, else
 *     the shipped choice: the nearest machine's winner) is never dropped, so the budget goes to
 *     the close calls and a second run flips no near-equal choice;
 *   - each candidate keeps its median round (by p50); a challenger replaces the incumbent only
 *     when its CI lies entirely below the incumbent's and it is at least 3% (noisy: 6%) faster;
 *     an incumbent that fails verification or crashes is replaced by the fastest valid one;
 *   - at the deadline it stops: problems decided are kept, the others keep the previous site
 *     file's decision or are left to the shipped tables.
 * The site file (share/kgen/site/<kernel>.json: the autotune JSON schema plus "source": "site"
 * and the library's build hash) is replaced atomically (a temporary file, fsync, rename), so a
 * run killed at any moment leaves the previous file whole.  --export DIR writes the same
 * document as DIR/<kernel>/<machine-id>.json, a tuned/ entry to contribute back.
 * Exit: 0 (even when nothing was replaced, or the budget ended early), 1 nothing could be
 * measured (no manifest, no module), 2 usage.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "../gen/ship/runtime/kgen_mdist.h"
#include "kg_file.h"
#include "kg_machine.h"
#include "kg_measure.h"
#include "kg_timer.h"
#include "kg_worker.h"

#define ST_MAX_CAND 8
#define ST_MAX_ROUNDS 9

static const char st_usage[] =
    "usage: kgen-site-tune [--budget SECONDS] [--prefix DIR] [--kernel NAME]... [--export DIR] [options]\n"
    "  re-rank the installed library's shortlist on this machine within the budget (default 120 s) and\n"
    "  write PREFIX/share/kgen/site/<kernel>.json, which the library reads at first use\n"
    "  --prefix DIR        the install (default: the folder above this program's bin/)\n"
    "  --site-dir DIR      where the site files go (default PREFIX/share/kgen/site)\n"
    "  --kernel NAME       only this kernel (repeatable)\n"
    "  --problem NAME      only this problem (repeatable)\n"
    "  --export DIR        also write DIR/<kernel>/<machine-id>.json (a tuned/ entry)\n"
    "  --min-time S        measured time per candidate and round (default 0.05)\n"
    "  --quiet             no progress\n";

typedef struct st_cand {
  int variant;   /* manifest variant index */
  int machine;   /* where it came from */
  double dist;   /* that machine's distance */
  void *module;  /* dlopen handle */
  kg_run_fn run; /* its kg_run */
  kg_verify_fn verify;
  kg_measurement rounds[ST_MAX_ROUNDS];
  int nrounds, nok;
  bool alive, failed;
} st_cand;

typedef struct st_run {
  const char *prefix, *site_dir, *export_dir, *kernels[32], *problems[64];
  int nkernels, nproblems_sel;
  double budget, min_time;
  bool quiet, noisy;
  uint64_t t0, deadline;
  kg_machine mach;
  kgr_mdesc cpu;
  char modules[4096], manifests[4096];
  int ndecided, nreplaced, nproblems;
} st_run;

static double st_now(const st_run *r) { return (double)(kg_now_ns() - r->t0) * 1e-9; }
static double st_left(const st_run *r) { return ((double)r->deadline - (double)kg_now_ns()) * 1e-9; }

static void st_say(const st_run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void st_say(const st_run *r, const char *fmt, ...) {
  if (r->quiet) return;
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "kgen-site-tune [%5.1fs] ", st_now(r));
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}

/* The median round of c by p50 (its kept measurement); NULL when none passed. */
static const kg_measurement *st_median(const st_cand *c) {
  const kg_measurement *ok[ST_MAX_ROUNDS];
  int n = 0;
  for (int i = 0; i < c->nrounds; i++)
    if (c->rounds[i].status == KG_OK) ok[n++] = &c->rounds[i];
  if (!n) return NULL;
  for (int i = 1; i < n; i++) /* insertion sort by p50 */
    for (int j = i; j > 0 && ok[j]->stats.p50 < ok[j - 1]->stats.p50; j--) {
      const kg_measurement *t = ok[j];
      ok[j] = ok[j - 1], ok[j - 1] = t;
    }
  return ok[(n - 1) / 2];
}

/* Machine description of a manifest machine. */
static kgr_mdesc st_mdesc(const json_t *m) {
  return (kgr_mdesc){
      json_string_value(json_object_get(m, "vendor")),       (int)json_integer_value(json_object_get(m, "family")),
      (int)json_integer_value(json_object_get(m, "model")),  (unsigned)json_integer_value(json_object_get(m, "isa")),
      (int)json_integer_value(json_object_get(m, "cores")),  (int64_t)json_integer_value(json_object_get(m, "l1d")),
      (int64_t)json_integer_value(json_object_get(m, "l2")), (int64_t)json_integer_value(json_object_get(m, "l3"))};
}

static int st_cmp_cand(const void *a, const void *b) {
  const st_cand *x = a, *y = b;
  return x->dist < y->dist ? -1 : x->dist > y->dist ? 1 : 0;
}

/* Distance between two manifest problems' shapes: the sum over their dimensions of |log2| of the
 * ratio (dimensions below 1 count as 1; a dimension one lacks counts 1 each). */
static double st_shape_dist(const json_t *a, const json_t *b) {
  const json_t *da = json_object_get(a, "dims"), *db = json_object_get(b, "dims"), *v;
  const char *k;
  double s = 0;
  json_object_foreach((json_t *)da, k, v) {
    const json_t *w = json_object_get(db, k);
    if (!w) {
      s += 1;
      continue;
    }
    const double x = fmax(1.0, json_number_value(v)), y = fmax(1.0, json_number_value(w));
    s += fabs(log2(x / y));
  }
  return s;
}

typedef struct st_job {
  const json_t *man, *prob;
  double cost;
  int kernel;
} st_job;

static int st_cmp_job(const void *a, const void *b) {
  const st_job *x = a, *y = b;
  return x->cost < y->cost ? -1 : x->cost > y->cost ? 1 : x->kernel - y->kernel;
}

/* Load candidate c's module; false (with a note) when it cannot be used. */
static bool st_open(st_run *r, const json_t *variant, st_cand *c) {
  char path[8400];
  snprintf(path, sizeof path, "%s/%s", r->modules, json_string_value(json_object_get(variant, "module")) ?: "?");
  c->module = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!c->module) {
    st_say(r, "skipping variant %s: %s", json_string_value(json_object_get(variant, "prefix")) ?: "?", dlerror());
    return false;
  }
  c->run = (kg_run_fn)dlsym(c->module, "kg_run");
  c->verify = (kg_verify_fn)dlsym(c->module, "kg_verify");
  if (!c->run || !c->verify) {
    st_say(r, "skipping %s: no kg_run or kg_verify", path);
    return false;
  }
  return true;
}

/* Decide one problem: fills *winner (index into c) and returns whether the incumbent (c[0]) was
 * replaced; -1 when nothing passed. */
static int st_problem(st_run *r, const json_t *man, const json_t *prob, st_cand *c, int n, double until, int *winner) {
  const json_t *dims = json_object_get(prob, "dims"), *v;
  const char *names[KG_MAX_DIMS], *k;
  int64_t vals[KG_MAX_DIMS];
  int nd = 0;
  json_object_foreach((json_t *)dims, k, v) if (nd < KG_MAX_DIMS) names[nd] = k, vals[nd++] = json_integer_value(v);
  kg_problem p = {nd,
                  names,
                  vals,
                  (uint64_t)json_integer_value(json_object_get(man, "seed")),
                  json_number_value(json_object_get(man, "rtol")),
                  json_number_value(json_object_get(man, "atol"))};
  kg_measure_opts o;
  kg_measure_opts_default(&o);
  o.min_time_s = r->min_time;
  o.min_samples = 5;
  o.warmup_s = 0.01;
  o.cold = json_is_true(json_object_get(prob, "cold")); /* as kgen tune measured it (the spec's `cold`) */
  o.timeout_s = fmax(0.5, until - (double)kg_now_ns() * 1e-9 + 0.5); /* the problem's share, enforced */
  kg_ctx ctx = {0};
  kg_worker *w = NULL;
  kg_measurement fail;
  kg_create_fn create = (kg_create_fn)dlsym(c[0].module, "kg_create");
  kg_prepare_fn prepare = (kg_prepare_fn)dlsym(c[0].module, "kg_prepare");
  kg_destroy_fn destroy = (kg_destroy_fn)dlsym(c[0].module, "kg_destroy");
  if (!create || !destroy || kg_worker_start(&p, create, prepare, destroy, &o, &w, &fail, &ctx) || !w) {
    st_say(r, "%s: the problem cannot be created: %s", json_string_value(json_object_get(prob, "name")),
           w ? kg_ctx_message(&ctx) : fail.reason);
    return -1;
  }
  const int min_rounds = r->noisy ? 5 : 3;
  int alive = n, rung = n;
  for (int round = 0; round < ST_MAX_ROUNDS; round++) {
    for (int j = 0; j < n; j++) {
      st_cand *x = &c[(j + round) % n]; /* rotated order */
      if (!x->alive || (double)kg_now_ns() * 1e-9 > until) continue;
      if (!w) {
        if (kg_worker_start(&p, create, prepare, destroy, &o, &w, &fail, &ctx) || !w) break;
      }
      kg_measurement *m = &x->rounds[x->nrounds];
      if (kg_worker_measure(w, x->run, x->verify, m, &ctx)) break;
      x->nrounds++;
      if (m->status == KG_OK) x->nok++;
      else x->failed = true, x->alive = x == &c[0]; /* a failed challenger is out; the incumbent stays to lose */
      if (!kg_worker_alive(w)) kg_worker_stop(w), w = NULL;
    }
    /* Halving: drop those slower than the best beyond noise, then down to half of the last rung. */
    int best = -1;
    for (int j = 0; j < n; j++)
      if (c[j].alive && !c[j].failed && st_median(&c[j]) &&
          (best < 0 || st_median(&c[j])->stats.p50 < st_median(&c[best])->stats.p50))
        best = j;
    if (best < 0) break;
    const kg_stats *bs = &st_median(&c[best])->stats;
    for (int j = 1; j < n; j++)
      if (c[j].alive && j != best && (!st_median(&c[j]) || st_median(&c[j])->stats.ci_lo > bs->ci_hi))
        c[j].alive = false;
    int target = (rung + 1) / 2;
    for (alive = 0, rung = 0; rung < n; rung++) alive += c[rung].alive;
    while (alive > target && alive > 2) { /* the slowest challenger that is not the best */
      int worst = -1;
      for (int j = 1; j < n; j++)
        if (c[j].alive && j != best && (worst < 0 || st_median(&c[j])->stats.p50 > st_median(&c[worst])->stats.p50))
          worst = j;
      if (worst < 0) break;
      c[worst].alive = false, alive--;
    }
    rung = alive;
    if ((round + 1 >= min_rounds && alive <= 2) || (double)kg_now_ns() * 1e-9 > until) break;
  }
  kg_worker_stop(w);
  /* Decide. */
  const kg_measurement *inc = st_median(&c[0]);
  int best = -1;
  for (int j = 1; j < n; j++)
    if (!c[j].failed && st_median(&c[j]) && (best < 0 || st_median(&c[j])->stats.p50 < st_median(&c[best])->stats.p50))
      best = j;
  const double margin = r->noisy ? 0.06 : 0.03;
  if (!inc || c[0].failed) {
    *winner = best;
    return best >= 0 ? 1 : -1;
  }
  const kg_measurement *ch = best >= 0 ? st_median(&c[best]) : NULL;
  if (ch && ch->stats.ci_hi < inc->stats.ci_lo && ch->stats.p50 <= inc->stats.p50 * (1.0 - margin)) {
    *winner = best;
    return 1;
  }
  *winner = 0;
  return 0;
}

static json_t *st_timing(const kg_measurement *m) {
  return json_pack("{s:f, s:f, s:[f, f], s:i}", "p50_ns", m->stats.p50, "p90_ns", m->stats.p90, "ci95_ns",
                   m->stats.ci_lo, m->stats.ci_hi, "samples", (int)m->stats.n);
}

/* The manifest variant that prev (this machine's site file of this build, or NULL) chose for
 * prob, when this CPU can run it; else -1. */
static int st_prev_choice(const json_t *prev, const json_t *prob, const json_t *variants, unsigned cpu_isa) {
  size_t i, j;
  const json_t *row, *v;
  json_array_foreach(json_object_get(prev, "problems"), i, row) {
    const json_t *pre = json_object_get(json_object_get(row, "winner"), "variant");
    if (!pre || !json_equal(json_object_get(row, "name"), json_object_get(prob, "name"))) continue;
    json_array_foreach(variants, j, v) {
      const unsigned isa = (unsigned)json_integer_value(json_object_get(v, "isa"));
      if (json_equal(json_object_get(v, "prefix"), pre) && !(isa & ~cpu_isa)) return (int)j;
    }
  }
  return -1;
}

/* The site file at path when it is this build's (man's kernel and build hash) and this
 * machine's; else NULL (missing, corrupt or foreign files are simply not used). */
static json_t *st_prev_doc(const char *path, const json_t *man, const char *machine_id) {
  json_error_t err;
  json_t *d = json_load_file(path, 0, &err);
  const char *src = json_string_value(json_object_get(d, "source"));
  const char *id = json_string_value(json_object_get(json_object_get(d, "machine"), "id"));
  if (d && (!src || strcmp(src, "site") || !json_equal(json_object_get(d, "kernel"), json_object_get(man, "kernel")) ||
            !json_equal(json_object_get(d, "build_hash"), json_object_get(man, "build_hash")) || !id ||
            strcmp(id, machine_id) || !json_is_array(json_object_get(d, "problems")))) {
    json_decref(d);
    d = NULL;
  }
  return d;
}

/* Tune one problem of manifest man until `until` (kg_now_ns seconds); its site row, or NULL when
 * nothing was decided. */
static json_t *st_one(st_run *r, const json_t *man, const json_t *prob, const json_t *prev, double until) {
  const json_t *machines = json_object_get(man, "machines"), *variants = json_object_get(man, "variants");
  const char *kernel = json_string_value(json_object_get(man, "kernel"));
  const char *pname = json_string_value(json_object_get(prob, "name"));
  json_t *row = NULL;
  {
    st_cand c[ST_MAX_CAND * 8];
    int n = 0;
    size_t j, op;
    const json_t *x, *other;
    /* The problem's own candidates (any machine's winner, ties and finalists of it), nearest machine
     * first; then the other problems' candidates, nearest shape first: a machine absent from tuned/
     * may prefer what another machine chose for a neighbouring shape (gemm here: the variant
     * winning m16_k1024_n8192 was a finalist of the large squares elsewhere). */
    json_array_foreach(json_object_get(man, "problems"), op, other) {
      const double sd = other == prob ? 0 : 1e6 + 100 * st_shape_dist(prob, other);
      json_array_foreach(json_object_get(other, "candidates"), j, x) {
        const int mi = (int)json_integer_value(json_object_get(x, "machine"));
        const int vi = (int)json_integer_value(json_object_get(x, "variant"));
        const kgr_mdesc md = st_mdesc(json_array_get(machines, (size_t)mi));
        const double d = kgr_mdist(&md, &r->cpu);
        const unsigned visa = (unsigned)json_integer_value(json_object_get(json_array_get(variants, (size_t)vi), "isa"));
        if (d < 0 || (visa & ~r->cpu.isa)) continue;
        const double dist = sd + d + 0.001 * (double)json_integer_value(json_object_get(x, "rank"));
        int q = 0;
        while (q < n && c[q].variant != vi) q++;
        if (q < n) { /* seen: keep its nearest reason */
          if (dist < c[q].dist) c[q].dist = dist, c[q].machine = mi;
          continue;
        }
        if (n == (int)(sizeof c / sizeof c[0])) continue;
        memset(&c[n], 0, sizeof c[n]);
        c[n].variant = vi, c[n].machine = mi, c[n].dist = dist, c[n].alive = true;
        n++;
      }
    }
    qsort(c, (size_t)n, sizeof c[0], st_cmp_cand);
    /* The incumbent, first: what the library chooses without a site file (kgr_decide): the nearest
     * compatible machine with tuned problems of this kernel, its winner of this problem; when it
     * has none, its generalist, else the AVX2 or portable fallback. */
    int inc = -1, mstar = -1;
    double mbest = -1;
    for (size_t q = 0; q < json_array_size(machines); q++) {
      bool has = false; /* the library dispatches a kernel on the nearest machine with its tuned problems */
      size_t pi, ci;
      const json_t *pp, *cc;
      json_array_foreach(json_object_get(man, "problems"), pi, pp)
          json_array_foreach(json_object_get(pp, "candidates"), ci, cc) has |=
          json_integer_value(json_object_get(cc, "machine")) == (json_int_t)q;
      if (!has) continue;
      const kgr_mdesc md = st_mdesc(json_array_get(machines, q));
      const double dd = kgr_mdist(&md, &r->cpu);
      if (dd >= 0 && (mbest < 0 || dd < mbest)) mbest = dd, mstar = (int)q;
    }
    for (int q = 0; q < n && inc < 0; q++)
      if (c[q].machine == mstar) inc = c[q].variant; /* its rank-0 candidate comes first among its own */
    if (inc < 0 && mstar >= 0)
      inc = (int)json_integer_value(json_array_get(json_object_get(man, "generalist"), (size_t)mstar));
    if (inc < 0 || inc >= (int)json_array_size(variants) ||
        ((unsigned)json_integer_value(json_object_get(json_array_get(variants, (size_t)inc), "isa")) & ~r->cpu.isa))
      inc = (int)json_integer_value(
          json_object_get(man, (r->cpu.isa & 0xfu) == 0xfu ? "fallback_avx2" : "fallback_portable"));
    /* This machine's previous site choice, when a site file of this build has one, is the
     * incumbent instead: a second run replaces it only by a challenger faster beyond noise, so
     * choices do not flip between near-equal variants from run to run. */
    const int pv = st_prev_choice(prev, prob, variants, r->cpu.isa);
    const bool from_site = pv >= 0;
    if (from_site) inc = pv;
    int at = -1;
    for (int q = 0; q < n; q++)
      if (c[q].variant == inc) at = q;
    if (at < 0 && n < (int)(sizeof c / sizeof c[0]) && inc >= 0) { /* not a candidate: add it */
      memset(&c[n], 0, sizeof c[n]);
      c[n].variant = inc, c[n].machine = mstar, c[n].alive = true, at = n++;
    }
    if (at > 0) { /* move it to the front */
      st_cand t = c[at];
      memmove(&c[1], &c[0], sizeof c[0] * (size_t)at);
      c[0] = t;
    }
    int m = 0;
    for (int q = 0; q < n && m < ST_MAX_CAND; q++)
      if (st_open(r, json_array_get(variants, (size_t)c[q].variant), &c[q])) c[m++] = c[q];
      else if (c[q].module) dlclose(c[q].module);
    if (m == 0) {
      st_say(r, "%s %s: no candidate this CPU can run", kernel, pname);
      return NULL;
    }
    r->nproblems++;
    int win = -1;
    const int replaced = st_problem(r, man, prob, c, m, until, &win);
    if (replaced >= 0 && win >= 0) {
      const json_t *wv = json_array_get(variants, (size_t)c[win].variant);
      const json_t *iv = json_array_get(variants, (size_t)c[0].variant);
      const kg_measurement *wm = st_median(&c[win]), *im = st_median(&c[0]);
      json_t *jw = st_timing(wm);
      json_object_set_new(jw, "variant", json_deep_copy(json_object_get(wv, "prefix")));
      json_object_set_new(jw, "params_label", json_deep_copy(json_object_get(wv, "params_label")));
      json_object_set_new(jw, "params", json_deep_copy(json_object_get(wv, "params")));
      json_object_set_new(jw, "rounds", json_integer(c[win].nok));
      json_object_set_new(jw, "from",
                          json_deep_copy(json_object_get(json_array_get(machines, (size_t)c[win].machine), "id")));
      json_t *ji = im ? st_timing(im) : json_object();
      json_object_set_new(ji, "variant", json_deep_copy(json_object_get(iv, "prefix")));
      json_object_set_new(ji, "params_label", json_deep_copy(json_object_get(iv, "params_label")));
      json_object_set_new(ji, "status", json_string(im && !c[0].failed ? "ok" : "failed"));
      json_t *top = json_array();
      for (int q = 0; q < m; q++) {
        const kg_measurement *qm = st_median(&c[q]);
        if (!qm) continue;
        json_t *t = st_timing(qm);
        json_object_set_new(t, "params",
                            json_deep_copy(json_object_get(json_array_get(variants, (size_t)c[q].variant), "params")));
        json_object_set_new(t, "rounds", json_integer(c[q].nok));
        json_array_append_new(top, t);
      }
      row = json_pack("{s:O, s:O, s:o, s:o, s:s, s:b, s:o}", "name", json_object_get(prob, "name"), "dims",
                      json_object_get(prob, "dims"), "winner", jw, "shipped", ji, "incumbent",
                      from_site ? "site" : "shipped", "replaced", replaced, "top", top);
      r->ndecided++, r->nreplaced += replaced;
      char was[64] = "";
      if (replaced && im)
        snprintf(was, sizeof was, " vs %s %.3g us", from_site ? "the previous site choice" : "shipped", im->stats.p50 / 1e3);
      st_say(r, "%s %s: %s %s (%.3g us%s; %d candidates, %d rounds)", kernel, pname, replaced ? "replaced by" : "kept",
             json_string_value(json_object_get(wv, "params_label")), wm->stats.p50 / 1e3, was, m, c[win].nok);
    } else {
      const kg_measurement *last = c[0].nrounds ? &c[0].rounds[c[0].nrounds - 1] : NULL;
      st_say(r, "%s %s: undecided (%s%s): the shipped choice stays", kernel, pname,
             last ? "the incumbent's last measurement: " : "nothing measured in its share of the budget",
             last ? (last->reason[0] ? last->reason : kg_strerror(last->status)) : "");
    }
    for (int q = 0; q < m; q++) dlclose(c[q].module);
  }
  return row;
}

/* A new site document of manifest man (problems empty). */
static json_t *st_doc(const st_run *r, const json_t *man) {
  return json_pack("{s:i, s:O, s:s, s:s, s:O, s:o, s:s, s:f, s:f, s:b, s:[]}", "schema", 1, "kernel",
                   json_object_get(man, "kernel"), "source", "site", "command", "site-tune", "build_hash",
                   json_object_get(man, "build_hash"), "machine", kg_machine_to_json(&r->mach), "strategy",
                   "successive-halving", "budget_s", r->budget, "elapsed_s", st_now(r), "noisy", r->noisy, "problems");
}

/* The machine's noise before tuning: load average against cores, and the spread of a quick
 * repeat of the incumbent of prob (the cheapest problem) of manifest man. */
static void st_noise(st_run *r, const json_t *man, const json_t *prob) {
  double load = 0;
  FILE *f = fopen("/proc/loadavg", "r");
  if (f) {
    if (fscanf(f, "%lf", &load) != 1) load = 0;
    fclose(f);
  }
  double spread = 0;
  bool measured = false;
  const json_t *cand = json_array_get(json_object_get(prob, "candidates"), 0);
  st_cand c;
  memset(&c, 0, sizeof c);
  if (cand && st_open(r,
                      json_array_get(json_object_get(man, "variants"),
                                     (size_t)json_integer_value(json_object_get(cand, "variant"))),
                      &c)) {
    const json_t *dims = json_object_get(prob, "dims"), *v;
    const char *names[KG_MAX_DIMS], *k;
    int64_t vals[KG_MAX_DIMS];
    int nd = 0;
    json_object_foreach((json_t *)dims, k, v) if (nd < KG_MAX_DIMS) names[nd] = k, vals[nd++] = json_integer_value(v);
    kg_problem p = {nd,
                    names,
                    vals,
                    (uint64_t)json_integer_value(json_object_get(man, "seed")),
                    json_number_value(json_object_get(man, "rtol")),
                    json_number_value(json_object_get(man, "atol"))};
    kg_measure_opts o;
    kg_measure_opts_default(&o);
    /* At most 5% of the budget (at least 1 s): a problem slow to create leaves the load alone to judge. */
    o.min_time_s = 0.02, o.min_samples = 5, o.warmup_s = 0.01, o.timeout_s = fmax(1.0, 0.05 * r->budget);
    kg_worker *w = NULL;
    kg_measurement a, b, fail;
    kg_ctx ctx = {0};
    if (!kg_worker_start(&p, (kg_create_fn)dlsym(c.module, "kg_create"), (kg_prepare_fn)dlsym(c.module, "kg_prepare"),
                         (kg_destroy_fn)dlsym(c.module, "kg_destroy"), &o, &w, &fail, &ctx) &&
        w && !kg_worker_measure(w, c.run, NULL, &a, &ctx) && !kg_worker_measure(w, c.run, NULL, &b, &ctx) &&
        a.status == KG_OK && b.status == KG_OK) {
      measured = true;
      spread = fabs(a.stats.p50 - b.stats.p50) / fmin(a.stats.p50, b.stats.p50) +
               fmax(kg_stats_rel_ci(&a.stats), kg_stats_rel_ci(&b.stats));
    }
    kg_worker_stop(w);
  }
  if (c.module) dlclose(c.module);
  r->noisy = spread > 0.05 || load > (double)r->mach.threads;
  char rep[64] = "no quick repeat in its time (the load alone decides)";
  if (measured) snprintf(rep, sizeof rep, "quick repeat spread %.1f%%", 100 * spread);
  st_say(r, "noise: load %.2f on %d hardware threads, %s: %s", load, r->mach.threads, rep,
         r->noisy ? "noisy (5 rounds, replace only 6% faster)" : "quiet (3 rounds, replace 3% faster)");
}

int main(int argc, char **argv) {
  static const struct option longs[] = {{"budget", required_argument, 0, 'b'},   {"prefix", required_argument, 0, 'p'},
                                        {"site-dir", required_argument, 0, 's'}, {"kernel", required_argument, 0, 'k'},
                                        {"problem", required_argument, 0, 'P'},  {"export", required_argument, 0, 'e'},
                                        {"min-time", required_argument, 0, 'm'}, {"quiet", no_argument, 0, 'q'},
                                        {"help", no_argument, 0, 'h'},           {0, 0, 0, 0}};
  static st_run r;
  r.budget = 120, r.min_time = 0.05;
  const char *env = getenv("KGEN_TUNE_BUDGET");
  if (env && *env) r.budget = strtod(env, NULL);
  int c;
  char *end;
  opterr = 0;
  while ((c = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
    switch (c) {
    case 'b':
    case 'm': {
      double x = strtod(optarg, &end);
      if (*end || end == optarg || !(x > 0) || !isfinite(x)) {
        fprintf(stderr, "kgen-site-tune: --%s '%s': expected a positive number\n", c == 'b' ? "budget" : "min-time",
                optarg);
        return 2;
      }
      *(c == 'b' ? &r.budget : &r.min_time) = x;
      break;
    }
    case 'p': r.prefix = optarg; break;
    case 's': r.site_dir = optarg; break;
    case 'k':
      if (r.nkernels < 32) r.kernels[r.nkernels++] = optarg;
      break;
    case 'P':
      if (r.nproblems_sel < 64) r.problems[r.nproblems_sel++] = optarg;
      break;
    case 'e': r.export_dir = optarg; break;
    case 'q': r.quiet = true; break;
    case 'h': fputs(st_usage, stdout); return 0;
    default:
      fprintf(stderr, "kgen-site-tune: unknown option or missing value '%s'\n\n%s", argv[optind - 1], st_usage);
      return 2;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "kgen-site-tune: unexpected argument '%s'\n\n%s", argv[optind], st_usage);
    return 2;
  }
  if (!(r.budget > 0) || !isfinite(r.budget)) {
    fprintf(stderr, "kgen-site-tune: KGEN_TUNE_BUDGET '%s': expected a positive number of seconds\n", env);
    return 2;
  }
  r.t0 = kg_now_ns();
  r.deadline = r.t0 + (uint64_t)(r.budget * 1e9);
  static char prefix[4096];
  if (!r.prefix) { /* the folder above bin/ */
    ssize_t l = readlink("/proc/self/exe", prefix, sizeof prefix - 1);
    prefix[l > 0 ? l : 0] = 0;
    for (int up = 0; up < 2 && strrchr(prefix, '/'); up++) *strrchr(prefix, '/') = 0;
    r.prefix = prefix;
  }
  snprintf(r.manifests, sizeof r.manifests, "%s/share/kgen/manifest", r.prefix);
  static char site[4200];
  if (!r.site_dir) snprintf(site, sizeof site, "%s/share/kgen/site", r.prefix), r.site_dir = site;
  char path[8400];
  snprintf(path, sizeof path, "%s/install.json", r.manifests);
  json_error_t err;
  json_t *inst = json_load_file(path, 0, &err);
  snprintf(r.modules, sizeof r.modules, "%s/%s/kgen/site-modules", r.prefix,
           json_string_value(json_object_get(inst, "libdir")) ?: "lib");
  json_decref(inst);
  kg_ctx ctx = {0};
  if (kg_machine_detect(&r.mach, &ctx)) {
    fprintf(stderr, "kgen-site-tune: %s\n", kg_ctx_message(&ctx));
    return 1;
  }
  const char *isa[KG_MAX_ISA];
  for (int i = 0; i < r.mach.nisa; i++) isa[i] = r.mach.isa[i];
  r.cpu = (kgr_mdesc){r.mach.vendor, r.mach.family,       r.mach.model,       kgr_isa_of_names(isa, r.mach.nisa),
                      r.mach.cores,  (int64_t)r.mach.l1d, (int64_t)r.mach.l2, (int64_t)r.mach.l3};
  /* The manifests, in name order. */
  json_t *mans = json_array();
  DIR *d = opendir(r.manifests);
  if (!d) {
    fprintf(stderr, "kgen-site-tune: %s: %s (is the library installed with its site modules?)\n", r.manifests,
            strerror(errno));
    return 1;
  }
  char *names[64];
  int nn = 0;
  for (struct dirent *e; (e = readdir(d)) && nn < 64;) {
    size_t l = strlen(e->d_name);
    if (l > 5 && !strcmp(e->d_name + l - 5, ".json") && strcmp(e->d_name, "install.json"))
      names[nn++] = strdup(e->d_name);
  }
  closedir(d);
  for (int i = 1; i < nn; i++)
    for (int j = i; j > 0 && strcmp(names[j], names[j - 1]) < 0; j--) {
      char *t = names[j];
      names[j] = names[j - 1], names[j - 1] = t;
    }
  int problems_left = 0;
  for (int i = 0; i < nn; i++) {
    snprintf(path, sizeof path, "%s/%s", r.manifests, names[i]);
    free(names[i]);
    json_t *m = json_load_file(path, 0, &err);
    const char *k = json_string_value(json_object_get(m, "kernel"));
    bool want = r.nkernels == 0;
    for (int q = 0; k && q < r.nkernels; q++) want |= !strcmp(k, r.kernels[q]);
    if (!m || !k) fprintf(stderr, "kgen-site-tune: %s:%d: %s (skipped)\n", path, err.line, m ? "no kernel" : err.text);
    if (m && k && want) {
      json_array_append(mans, m);
      problems_left += (int)json_array_size(json_object_get(m, "problems"));
    }
    json_decref(m);
  }
  if (json_array_size(mans) == 0) {
    fprintf(stderr, "kgen-site-tune: no manifest to tune in %s\n", r.manifests);
    json_decref(mans);
    return 1;
  }
  st_say(&r, "machine %s, budget %.0f s, %d problems; site files -> %s", r.mach.id, r.budget, problems_left,
         r.site_dir);
  /* Every problem of every kernel, cheapest first (by its nearest candidate's shipped p50), so
   * that what the quick ones leave of their share flows to the costly ones. */
  st_job *jobs = calloc((size_t)problems_left + 1, sizeof *jobs);
  json_t **docs = calloc(json_array_size(mans) + 1, sizeof *docs);
  if (!jobs || !docs) return 1;
  int nj = 0;
  size_t i, j;
  json_t *man, *prob;
  json_array_foreach(mans, i, man) json_array_foreach(json_object_get(man, "problems"), j, prob) {
    bool want = r.nproblems_sel == 0;
    for (int q = 0; q < r.nproblems_sel; q++)
      want |= !strcmp(json_string_value(json_object_get(prob, "name")) ?: "", r.problems[q]);
    if (!want) continue;
    jobs[nj].kernel = (int)i, jobs[nj].man = man, jobs[nj].prob = prob;
    jobs[nj++].cost =
        json_number_value(json_object_get(json_array_get(json_object_get(prob, "candidates"), 0), "p50_ns"));
  }
  qsort(jobs, (size_t)nj, sizeof *jobs, st_cmp_job);
  json_t **prevs = calloc(json_array_size(mans) + 1, sizeof *prevs); /* this machine's previous site files */
  if (!prevs) return 1;
  json_array_foreach(mans, i, man) {
    snprintf(path, sizeof path, "%s/%s.json", r.site_dir, json_string_value(json_object_get(man, "kernel")));
    prevs[i] = st_prev_doc(path, man, r.mach.id);
  }
  if (nj) st_noise(&r, jobs[0].man, jobs[0].prob);
  int rc = 0;
  for (int q = 0; q < nj; q++) {
    const char *k = json_string_value(json_object_get(jobs[q].man, "kernel"));
    const double left = st_left(&r);
    if (left <= 0.2) {
      st_say(&r, "%s %s: the budget is spent; the shipped choice stays", k,
             json_string_value(json_object_get(jobs[q].prob, "name")));
      continue;
    }
    json_t *row =
        st_one(&r, jobs[q].man, jobs[q].prob, prevs[jobs[q].kernel], (double)kg_now_ns() * 1e-9 + left / (nj - q));
    if (!row) continue;
    /* Write the kernel's site file after each decision: a run stopped at any moment keeps what it
     * decided, and the file is replaced atomically.  It starts from the previous site file's rows
     * (problems this run does not reach keep their earlier decision); a decision replaces its row. */
    json_t **doc = &docs[jobs[q].kernel];
    if (!*doc) {
      *doc = st_doc(&r, jobs[q].man);
      size_t pi;
      json_t *old;
      json_array_foreach(json_object_get(prevs[jobs[q].kernel], "problems"), pi, old)
          json_array_append(json_object_get(*doc, "problems"), old);
    }
    json_t *rows = json_object_get(*doc, "problems");
    for (size_t pi = json_array_size(rows); pi-- > 0;)
      if (json_equal(json_object_get(json_array_get(rows, pi), "name"), json_object_get(row, "name")))
        json_array_remove(rows, pi);
    json_array_append_new(rows, row);
    json_object_set_new(*doc, "elapsed_s", json_real(st_now(&r)));
    snprintf(path, sizeof path, "%s/%s.json", r.site_dir, k);
    if (kg_file_write_json(path, *doc, &ctx)) {
      fprintf(stderr, "kgen-site-tune: %s\n", kg_ctx_message(&ctx));
      rc = 1;
    }
    if (r.export_dir) {
      snprintf(path, sizeof path, "%s/%s/%s.json", r.export_dir, k, r.mach.id);
      if (kg_file_write_json(path, *doc, &ctx)) {
        fprintf(stderr, "kgen-site-tune: %s\n", kg_ctx_message(&ctx));
        rc = 1;
      }
    }
  }
  for (size_t kd = 0; kd < json_array_size(mans); kd++)
    if (docs[kd]) {
      st_say(&r, "wrote %s/%s.json (%zu problems)", r.site_dir, json_string_value(json_object_get(docs[kd], "kernel")),
             json_array_size(json_object_get(docs[kd], "problems")));
      json_decref(docs[kd]);
    }
  for (size_t kd = 0; kd < json_array_size(mans); kd++) json_decref(prevs[kd]);
  free(prevs);
  free(docs);
  free(jobs);
  json_decref(mans);
  fprintf(stderr,
          "kgen-site-tune: %d problems decided (%d replaced the incumbent) of %d in %.1f s (budget %.0f s)\n",
          r.ndecided, r.nreplaced, r.nproblems, st_now(&r), r.budget);
  return rc ? rc : r.ndecided ? 0 : 1;
}
