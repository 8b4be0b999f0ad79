/*
 * kg_cache.c - a Kernel Tuner cache file read as measured points of a spec (`kgen tune --cache`).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kg_replay.h"
#include "kg_spec.h"

void kg_cache_free(kg_cache *c) {
  if (!c) return;
  free(c->problem);
  free(c->device);
  free(c->e);
  free(c);
}

/* Index of v among p's values (a number compares by value, a string by its text), or -1. */
static int32_t kg_cache_value(const kg_param *p, json_t *v) {
  for (int32_t i = 0; i < p->nvalues; i++) {
    if (p->kind == KG_PARAM_INT && json_is_number(v) && json_number_value(v) == (double)p->ivalues[i]) return i;
    if (p->kind == KG_PARAM_STR && json_is_string(v) && strcmp(json_string_value(v), p->svalues[i]) == 0) return i;
  }
  return -1;
}

static int kg_cache_entry_cmp(const void *a, const void *b) {
  long x = ((const kg_cache_entry *)a)->point, y = ((const kg_cache_entry *)b)->point;
  return (x > y) - (x < y);
}

kg_status kg_cache_load(const kg_spec *spec, const char *path, kg_cache **out, kg_ctx *ctx) {
  *out = NULL;
  char *text = NULL;
  size_t len = 0;
  kg_status st = kg_replay_read_file(path, &text, &len, ctx);
  if (st) return st;
  json_error_t jerr;
  json_t *root = json_loadb(text, len, 0, &jerr);
  free(text);
  if (!root) return kg_ctx_set(ctx, KG_EIO, "%s:%d: %s", path, jerr.line, jerr.text);
  int32_t *pt = NULL;
  kg_cache *c = calloc(1, sizeof *c);
  json_t *cache = json_object_get(root, "cache");
  if (!c || !(pt = malloc(sizeof *pt * (size_t)(spec->nparams ? spec->nparams : 1)))) goto nomem;
  if (!json_is_object(cache)) {
    st = kg_ctx_set(ctx, KG_EINVAL, "%s: not a Kernel Tuner cache file (no `cache` object)", path);
    goto fail;
  }
  const char *s;
  if ((s = json_string_value(json_object_get(root, "problem"))) && !(c->problem = strdup(s))) goto nomem;
  if ((s = json_string_value(json_object_get(root, "device_name"))) && !(c->device = strdup(s))) goto nomem;
  c->e = calloc(json_object_size(cache) ? json_object_size(cache) : 1, sizeof *c->e);
  if (!c->e) goto nomem;
  const char *key;
  json_t *e;
  json_object_foreach(cache, key, e) {
    bool inside = json_is_object(e);
    for (int d = 0; d < spec->nparams && inside; d++) {
      json_t *v = json_object_get(e, spec->params[d].name);
      if (!v) {
        st = kg_ctx_set(ctx, KG_EINVAL, "%s: cache entry '%s' lacks parameter '%s' of spec '%s'", path, key,
                        spec->params[d].name, spec->name);
        goto fail;
      }
      inside = (pt[d] = kg_cache_value(&spec->params[d], v)) >= 0;
    }
    long point = inside ? kg_spec_point_index(spec, pt) : -1;
    if (point < 0) {
      c->outside++;
      continue;
    }
    kg_cache_entry *x = &c->e[c->n];
    json_t *t = json_object_get(e, "time"), *p90 = json_object_get(e, "p90"),
           *lb = json_object_get(e, "kgen_lower_bound");
    x->point = point;
    if (json_is_number(t) && isfinite(json_number_value(t)) && json_number_value(t) > 0) {
      x->status = KG_OK;
      x->time_ms = json_number_value(t);
      x->p90_ms = json_is_number(p90) ? json_number_value(p90) : x->time_ms;
    } else if (json_is_string(t) && json_is_number(lb) && json_number_value(lb) > 0) {
      x->status = KG_ECENSORED;
      x->time_ms = x->p90_ms = json_number_value(lb);
    } else if (json_is_string(t)) {
      x->status = strcmp(json_string_value(t), "CompilationFailedConfig") == 0 ? KG_ECOMPILE : KG_ECRASH;
      x->time_ms = x->p90_ms = NAN;
    } else {
      st = kg_ctx_set(ctx, KG_EINVAL, "%s: cache entry '%s': `time` is neither a positive number nor a failure name",
                      path, key);
      goto fail;
    }
    c->n++;
  }
  /* the same point twice (values written differently): keep the first */
  qsort(c->e, c->n, sizeof *c->e, kg_cache_entry_cmp);
  size_t k = 0;
  for (size_t i = 0; i < c->n; i++)
    if (k == 0 || c->e[k - 1].point != c->e[i].point) c->e[k++] = c->e[i];
  c->n = k;
  free(pt);
  json_decref(root);
  *out = c;
  return KG_OK;
nomem:
  st = kg_ctx_set(ctx, KG_ENOMEM, "%s: out of memory", path);
fail:
  free(pt);
  json_decref(root);
  kg_cache_free(c);
  return st;
}
