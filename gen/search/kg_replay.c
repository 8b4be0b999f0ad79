/*
 * kg_replay.c - Kernel Tuner cache files as replay spaces; strategy quality over seeded runs.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "kg_replay.h"

/* ---- loading ---- */

kg_status kg_replay_read_file(const char *path, char **out, size_t *len, kg_ctx *ctx) {
  gzFile f = gzopen(path, "rb");
  if (!f) return kg_ctx_set(ctx, KG_EIO, "%s: %s", path, strerror(errno ? errno : ENOENT));
  size_t cap = 1 << 20, n = 0;
  char *buf = malloc(cap);
  for (;;) {
    if (!buf) {
      gzclose(f);
      return kg_ctx_set(ctx, KG_ENOMEM, "%s: out of memory", path);
    }
    int got = gzread(f, buf + n, (unsigned)(cap - n));
    if (got < 0) {
      int zerr;
      const char *msg = gzerror(f, &zerr);
      kg_status st = kg_ctx_set(ctx, KG_EIO, "%s: %s", path, msg);
      free(buf);
      gzclose(f);
      return st;
    }
    n += (size_t)got;
    if (got == 0) break;
    if (n == cap) {
      char *nb = realloc(buf, cap *= 2);
      if (!nb) free(buf);
      buf = nb;
    }
  }
  gzclose(f);
  *out = buf;
  *len = n;
  return KG_OK;
}

/* index of v among vals (numbers compare by value, 1 == 1.0), or -1 */
static int kg_value_index(json_t *vals, json_t *v) {
  size_t i;
  json_t *x;
  json_array_foreach(vals, i, x) {
    if (json_is_number(x) && json_is_number(v)) {
      if (json_number_value(x) == json_number_value(v)) return (int)i;
    } else if (json_equal(x, v)) {
      return (int)i;
    }
  }
  return -1;
}

void kg_replay_free(kg_replay *r) {
  if (!r) return;
  if (r->param_names)
    for (int d = 0; d < r->ndims; d++) free(r->param_names[d]);
  if (r->samples && r->sp)
    for (size_t i = 0; i < r->sp->npoints; i++) free(r->samples[i]);
  free(r->param_names);
  free(r->samples);
  free(r->nsamples);
  free(r->time);
  free(r->name);
  kg_search_space_free(r->sp);
  free(r);
}

typedef struct kg_entry {
  uint64_t code;
  json_t *e;
} kg_entry;

static int kg_entry_cmp(const void *a, const void *b) {
  uint64_t x = ((const kg_entry *)a)->code, y = ((const kg_entry *)b)->code;
  return (x > y) - (x < y);
}

kg_status kg_replay_load(const char *path, kg_replay **out, kg_ctx *ctx) {
  *out = NULL;
  char *text = NULL;
  size_t len = 0;
  kg_status st = kg_replay_read_file(path, &text, &len, ctx);
  if (st) return st;
  json_error_t jerr;
  json_t *root = json_loadb(text, len, 0, &jerr);
  free(text);
  if (!root) return kg_ctx_set(ctx, KG_EIO, "%s:%d: %s", path, jerr.line, jerr.text);
  int32_t *card = NULL, *pts = NULL;
  kg_entry *ents = NULL;
  kg_replay *r = calloc(1, sizeof *r);
  if (!r) goto nomem;
  const char *base = strrchr(path, '/');
  base = base ? base + 1 : path;
  r->name = strdup(base);
  if (!r->name) goto nomem;
  char *dot = strstr(r->name, ".json");
  if (dot) *dot = 0;

  json_t *keys = json_object_get(root, "tune_params_keys"), *params = json_object_get(root, "tune_params"),
         *cache = json_object_get(root, "cache");
  if (!json_is_array(keys) || !json_is_object(params) || !json_is_object(cache) || json_array_size(keys) == 0) {
    st = kg_ctx_set(ctx, KG_EINVAL, "%s: not a Kernel Tuner cache file (needs tune_params_keys, tune_params, cache)",
                    path);
    goto fail;
  }
  r->ndims = (int)json_array_size(keys);
  r->param_names = calloc((size_t)r->ndims, sizeof *r->param_names);
  card = calloc((size_t)r->ndims, sizeof *card);
  if (!r->param_names || !card) goto nomem;
  json_t **vals = calloc((size_t)r->ndims, sizeof *vals);
  if (!vals) goto nomem;
  for (int d = 0; d < r->ndims; d++) {
    const char *k = json_string_value(json_array_get(keys, (size_t)d));
    vals[d] = k ? json_object_get(params, k) : NULL;
    if (!vals[d] || !json_is_array(vals[d]) || json_array_size(vals[d]) == 0 || json_array_size(vals[d]) > INT32_MAX) {
      st = kg_ctx_set(ctx, KG_EINVAL, "%s: tune_params_keys[%d] names no list of values in tune_params", path, d);
      free(vals);
      goto fail;
    }
    if (!(r->param_names[d] = strdup(k))) {
      free(vals);
      goto nomem;
    }
    card[d] = (int32_t)json_array_size(vals[d]);
  }
  size_t n = json_object_size(cache), i = 0;
  if (n == 0) {
    st = kg_ctx_set(ctx, KG_EINVAL, "%s: the cache holds no configuration", path);
    free(vals);
    goto fail;
  }
  pts = malloc(sizeof *pts * n * (size_t)r->ndims);
  ents = malloc(sizeof *ents * n);
  if (!pts || !ents) {
    free(vals);
    goto nomem;
  }
  const char *key;
  json_t *e;
  json_object_foreach(cache, key, e) {
    for (int d = 0; d < r->ndims; d++) {
      json_t *v = json_is_object(e) ? json_object_get(e, r->param_names[d]) : NULL;
      int idx = v ? kg_value_index(vals[d], v) : -1;
      if (idx < 0) {
        st = kg_ctx_set(ctx, KG_EINVAL, "%s: cache entry \"%s\": parameter %s %s", path, key, r->param_names[d],
                        v ? "has a value not in tune_params" : "is missing");
        free(vals);
        goto fail;
      }
      pts[i * (size_t)r->ndims + (size_t)d] = idx;
    }
    json_t *t = json_object_get(e, "time");
    if (!json_is_number(t) && !json_is_string(t)) {
      st = kg_ctx_set(ctx, KG_EINVAL, "%s: cache entry \"%s\": time is neither a number nor a failure string", path,
                      key);
      free(vals);
      goto fail;
    }
    ents[i].e = e;
    i++;
  }
  free(vals);
  st = kg_search_space_new(r->ndims, card, n, pts, &r->sp, ctx);
  if (st) goto fail;
  if (r->sp->npoints != n) {
    st =
        kg_ctx_set(ctx, KG_EINVAL, "%s: %zu cache entries name the same configuration twice", path, n - r->sp->npoints);
    goto fail;
  }
  for (i = 0; i < n; i++) {
    uint64_t c = 0;
    for (int d = 0; d < r->ndims; d++) c += (uint64_t)pts[i * (size_t)r->ndims + (size_t)d] * r->sp->radix[d];
    ents[i].code = c;
  }
  qsort(ents, n, sizeof *ents, kg_entry_cmp); /* now in the space's index order */
  r->time = malloc(sizeof *r->time * n);
  r->samples = calloc(n, sizeof *r->samples);
  r->nsamples = calloc(n, sizeof *r->nsamples);
  if (!r->time || !r->samples || !r->nsamples) goto nomem;
  r->optimum = INFINITY;
  for (i = 0; i < n; i++) {
    json_t *t = json_object_get(ents[i].e, "time"), *ts = json_object_get(ents[i].e, "times");
    double v = json_is_number(t) ? json_number_value(t) : INFINITY;
    if (!(v >= 0) || isnan(v)) v = INFINITY;
    r->time[i] = v;
    if (!isfinite(v)) {
      r->nfailed++;
      continue;
    }
    if (v < r->optimum) r->optimum = v;
    if (json_is_array(ts) && json_array_size(ts) > 0) {
      size_t m = json_array_size(ts), k;
      json_t *x;
      if (!(r->samples[i] = malloc(sizeof **r->samples * m))) goto nomem;
      json_array_foreach(ts, k, x) if (json_is_number(x)) r->samples[i][r->nsamples[i]++] = json_number_value(x);
    }
  }
  if (!isfinite(r->optimum)) {
    st = kg_ctx_set(ctx, KG_EINVAL, "%s: every one of the %zu configurations failed", path, n);
    goto fail;
  }
  for (i = 0; i < n; i++) r->ngood += r->time[i] <= 1.03 * r->optimum;
  free(card);
  free(pts);
  free(ents);
  json_decref(root);
  *out = r;
  return KG_OK;
nomem:
  st = kg_ctx_set(ctx, KG_ENOMEM, "%s: out of memory", path);
fail:
  free(card);
  free(pts);
  free(ents);
  json_decref(root);
  kg_replay_free(r);
  return st;
}

/* ---- statistics ---- */

double kg_replay_random_p(size_t n, size_t good, size_t b) {
  if (good == 0 || b == 0) return 0.0;
  if (b > n - good) return 1.0;
  double logq = 0; /* log of C(n-good, b) / C(n, b) = sum_i log((n-good-i) / (n-i)) */
  for (size_t i = 0; i < b; i++) logq += log1p(-(double)good / (double)(n - i));
  return -expm1(logq);
}

void kg_replay_wilson(long k, long n, double *lo, double *hi) {
  if (n <= 0) {
    *lo = 0, *hi = 1;
    return;
  }
  const double z = 1.959963984540054;
  double p = (double)k / (double)n, z2n = z * z / (double)n;
  double centre = (p + z2n / 2) / (1 + z2n);
  double half = z / (1 + z2n) * sqrt(p * (1 - p) / (double)n + z2n / (4.0 * (double)n));
  *lo = fmax(0.0, centre - half);
  *hi = fmin(1.0, centre + half);
}

/* smallest t with P(first good within t draws) >= q, or -1 beyond limit */
static long kg_random_quantile(size_t n, size_t good, double q, size_t limit) {
  if (good == 0) return -1;
  double logq = 0;
  for (size_t t = 1; t <= limit && t <= n; t++) {
    if (t - 1 < n - good) logq += log1p(-(double)good / (double)(n - (t - 1)));
    else return (long)t;
    if (-expm1(logq) >= q - 1e-12) return (long)t;
  }
  return -1;
}

static int kg_size_cmp(const void *a, const void *b) {
  size_t x = *(const size_t *)a, y = *(const size_t *)b;
  return (x > y) - (x < y);
}

/* One noisy observation of point p (its stored time when noise is off; failures stay failures). */
static double kg_replay_draw(const kg_replay *r, const kg_replay_opts *o, size_t p, kg_rng *noise) {
  double t = r->time[p];
  if (isfinite(t) && o->noise == KG_NOISE_RESAMPLE && r->nsamples[p] > 0)
    t = r->samples[p][kg_rng_below(noise, (uint64_t)r->nsamples[p])];
  else if (isfinite(t) && o->noise == KG_NOISE_LOGNORMAL) t *= exp(o->noise_spread * kg_rng_normal(noise));
  return t;
}

/* Under noise the final choice is made as kgen tune makes it: the KG_REPLAY_FINALISTS best
 * observations are measured again KG_REPLAY_ROUNDS times (fresh noisy draws) and the one with the
 * smallest median wins (kg_tune.h: --finalists 8, --rounds 3). */
enum { KG_REPLAY_FINALISTS = 8, KG_REPLAY_ROUNDS = 3 };

typedef struct kg_finalists {
  long p[KG_REPLAY_FINALISTS];
  double t[KG_REPLAY_FINALISTS];
  int n;
} kg_finalists;

static void kg_finalists_add(kg_finalists *f, long p, double t) {
  if (!isfinite(t)) return;
  int at = f->n < KG_REPLAY_FINALISTS ? f->n++ : KG_REPLAY_FINALISTS;
  while (at > 0 && f->t[at - 1] > t) {
    if (at < KG_REPLAY_FINALISTS) f->p[at] = f->p[at - 1], f->t[at] = f->t[at - 1];
    at--;
  }
  if (at < KG_REPLAY_FINALISTS) f->p[at] = p, f->t[at] = t;
}

static double kg_finalists_choose(const kg_replay *r, const kg_replay_opts *o, const kg_finalists *f, kg_rng *noise) {
  double best = INFINITY, choice = INFINITY;
  for (int i = 0; i < f->n; i++) {
    double d[KG_REPLAY_ROUNDS];
    for (int k = 0; k < KG_REPLAY_ROUNDS; k++) { /* insertion-sorted draws */
      double x = kg_replay_draw(r, o, (size_t)f->p[i], noise);
      int j = k;
      while (j > 0 && d[j - 1] > x) d[j] = d[j - 1], j--;
      d[j] = x;
    }
    if (d[KG_REPLAY_ROUNDS / 2] < best) best = d[KG_REPLAY_ROUNDS / 2], choice = r->time[f->p[i]];
  }
  return choice;
}

kg_status kg_replay_run(const kg_replay *r, const kg_replay_opts *o, kg_replay_budget *out, int nbudgets, kg_ctx *ctx) {
  size_t n = r->sp->npoints, maxb = 0;
  for (int k = 0; k < nbudgets; k++) {
    if (out[k].budget > n) out[k].budget = n;
    if (out[k].budget > maxb) maxb = out[k].budget;
  }
  size_t runs = (size_t)(o->runs > 0 ? o->runs : 1);
  size_t *reach = malloc(sizeof *reach * runs); /* evaluations to within 3% (SIZE_MAX: never) */
  double *final = malloc(sizeof *final * runs * (size_t)(nbudgets ? nbudgets : 1)); /* true time at budget */
  size_t *sorted = malloc(sizeof *sorted * runs);
  if (!reach || !final || !sorted) {
    free(reach), free(final), free(sorted);
    return kg_ctx_set(ctx, KG_ENOMEM, "replay: out of memory");
  }
  double thr = 1.03 * r->optimum;
  kg_status st = KG_OK;
  for (size_t run = 0; run < runs; run++) {
    uint64_t seed = o->seed * UINT64_C(0x9e3779b97f4a7c15) + run;
    kg_search *s = NULL;
    if ((st = kg_search_new(r->sp, o->strategy, seed, &s, ctx))) break;
    kg_rng noise;
    kg_rng_seed(&noise, ~seed);
    reach[run] = SIZE_MAX;
    size_t e = 0, p, nask = 0, at = 0, asked[KG_SEARCH_MAX_BATCH];
    size_t bsize = o->batch > 1 ? (size_t)o->batch : 1;
    double inc = INFINITY; /* the stored time of the current final choice */
    kg_finalists fin = {.n = 0};
    for (int k = 0; k < nbudgets; k++) final[run * (size_t)nbudgets + (size_t)k] = INFINITY;
    for (;;) { /* batches of bsize asked at once, told in order (the budget counts each) */
      if (at == nask) {
        at = 0;
        nask = e < maxb ? kg_search_ask_batch(s, bsize < maxb - e ? bsize : maxb - e, asked) : 0;
        if (nask == 0) break;
      }
      p = asked[at++];
      double t = kg_replay_draw(r, o, p, &noise);
      kg_search_tell(s, p, t);
      kg_finalists_add(&fin, (long)p, t);
      e++;
      if (o->noise == KG_NOISE_NONE) {
        long best = kg_search_best(s);
        inc = best >= 0 ? r->time[best] : INFINITY;
      }
      bool checkpoint = false;
      for (int k = 0; k < nbudgets; k++) checkpoint |= out[k].budget == e;
      if (o->noise != KG_NOISE_NONE && (checkpoint || reach[run] == SIZE_MAX))
        inc = kg_finalists_choose(r, o, &fin, &noise);
      if (inc <= thr && reach[run] == SIZE_MAX) reach[run] = e;
      for (int k = 0; k < nbudgets; k++)
        if (out[k].budget == e) final[run * (size_t)nbudgets + (size_t)k] = inc;
    }
    for (int k = 0; k < nbudgets; k++) /* a search that ran out of points keeps its last choice */
      if (out[k].budget > e) final[run * (size_t)nbudgets + (size_t)k] = inc;
    kg_search_free(s);
  }
  if (!st) {
    memcpy(sorted, reach, sizeof *sorted * runs);
    qsort(sorted, runs, sizeof *sorted, kg_size_cmp);
    for (int k = 0; k < nbudgets; k++) {
      kg_replay_budget *b = &out[k];
      long hits = 0;
      for (size_t run = 0; run < runs; run++) hits += final[run * (size_t)nbudgets + (size_t)k] <= thr;
      b->p = (double)hits / (double)runs;
      kg_replay_wilson(hits, (long)runs, &b->lo, &b->hi);
      size_t i50 = (runs + 1) / 2 - 1, i90 = (size_t)ceil(0.9 * (double)runs) - 1; /* nearest rank */
      b->p50 = sorted[i50] <= b->budget ? (long)sorted[i50] : -1;
      b->p90 = sorted[i90] <= b->budget ? (long)sorted[i90] : -1;
      b->random_p = kg_replay_random_p(n, r->ngood, b->budget);
      b->random_p50 = kg_random_quantile(n, r->ngood, 0.5, b->budget);
      b->random_p90 = kg_random_quantile(n, r->ngood, 0.9, b->budget);
    }
  }
  free(reach);
  free(final);
  free(sorted);
  return st;
}

json_t *kg_replay_json(const kg_replay *r, const kg_replay_opts *o, const kg_replay_budget *b, int nbudgets) {
  json_t *list = json_array();
  for (int k = 0; k < nbudgets; k++)
    json_array_append_new(list, json_pack("{s:I, s:o, s:f, s:[f,f], s:o, s:o, s:f}", "budget", (json_int_t)b[k].budget,
                                          "budget_pct", isnan(b[k].pct) ? json_null() : json_real(b[k].pct),
                                          "p_within_3pct", b[k].p, "ci95", b[k].lo, b[k].hi, "evals_to_3pct_p50",
                                          b[k].p50 < 0 ? json_null() : json_integer(b[k].p50), "evals_to_3pct_p90",
                                          b[k].p90 < 0 ? json_null() : json_integer(b[k].p90), "random_p_within_3pct",
                                          b[k].random_p));
  json_t *doc = json_pack("{s:s, s:I, s:f, s:s, s:i, s:o}", "space", r->name, "size", (json_int_t)r->sp->npoints,
                          "optimum", r->optimum, "strategy", o->strategy, "runs", o->runs, "budgets", list);
  if (doc && o->batch > 1) json_object_set_new(doc, "batch", json_integer(o->batch)); /* only when batched */
  return doc;
}
