/* kg_ship_collect.c - `kgen ship`: what tuned/ holds, read into the ship (kg_ship_internal.h). */
#include "kg_ship_internal.h"

/* ISA features a variant can be compiled for: JSON name, runtime bit (kgen_rt.h), flag. */
const kg_ship_isa_entry kg_ship_isa[] = {{"avx2", "-mavx2"},         {"fma", "-mfma"},
                                         {"f16c", "-mf16c"},         {"bmi2", "-mbmi2"},
                                         {"avx512f", "-mavx512f"},   {"avx512dq", "-mavx512dq"},
                                         {"avx512cd", "-mavx512cd"}, {"avx512bw", "-mavx512bw"},
                                         {"avx512vl", "-mavx512vl"}, {"avx512_vnni", "-mavx512vnni"}};

void kg_ship_sbprintf(sbuf *b, const char *fmt, ...) {
  if (b->oom) return;
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(b->p ? b->p + b->n : NULL, b->p ? b->cap - b->n : 0, fmt, ap);
    va_end(ap);
    if (w < 0) {
      b->oom = 1;
      return;
    }
    if (b->p && b->n + (size_t)w < b->cap) {
      b->n += (size_t)w;
      return;
    }
    size_t cap = (b->cap ? b->cap * 2 : 4096) + (size_t)w;
    char *p = realloc(b->p, cap);
    if (!p) {
      b->oom = 1;
      return;
    }
    b->p = p, b->cap = cap;
  }
}

/* ---- helpers ---------------------------------------------------------------------------------- */

static unsigned isa_of(const json_t *list) {
  unsigned isa = 0;
  size_t i;
  const json_t *v;
  json_array_foreach(list, i, v) {
    for (int b = 0; b < SHIP_NISA; b++)
      if (json_is_string(v) && !strcmp(json_string_value(v), kg_ship_isa[b].name)) isa |= 1u << b;
  }
  return isa;
}

static const char *jstr(const json_t *o, const char *key) {
  const char *s = json_string_value(json_object_get(o, key));
  return s ? s : "";
}

static int machine_add(ship *s, const json_t *m) {
  const char *id = jstr(m, "id");
  for (int i = 0; i < s->nm; i++)
    if (!strcmp(s->m[i].id, id)) return i;
  if (s->nm == 256) return -1;
  ship_machine *x = &s->m[s->nm];
  x->id = strdup(id), x->vendor = strdup(jstr(m, "vendor")), x->microarch = strdup(jstr(m, "microarch"));
  x->cpu = strdup(jstr(m, "cpu"));
  x->family = (int)json_integer_value(json_object_get(m, "family"));
  x->model = (int)json_integer_value(json_object_get(m, "model"));
  x->cores = (int)json_integer_value(json_object_get(m, "cores"));
  x->isa = isa_of(json_object_get(m, "isa"));
  const json_t *c = json_object_get(m, "caches");
  x->l1d = (long long)json_integer_value(json_object_get(c, "l1d"));
  x->l2 = (long long)json_integer_value(json_object_get(c, "l2"));
  x->l3 = (long long)json_integer_value(json_object_get(c, "l3"));
  return s->nm++;
}

int kg_ship_point_of(const kg_spec *spec, const json_t *params, int32_t *point) {
  char set[4096];
  size_t n = 0;
  const char *key;
  const json_t *v;
  set[0] = 0;
  json_object_foreach((json_t *)params, key, v) {
    if (json_is_integer(v))
      n += (size_t)snprintf(set + n, n < sizeof set ? sizeof set - n : 0, "%s%s=%" JSON_INTEGER_FORMAT, n ? "," : "",
                            key, json_integer_value(v));
    else if (json_is_string(v))
      n += (size_t)snprintf(set + n, n < sizeof set ? sizeof set - n : 0, "%s%s=%s", n ? "," : "", key,
                            json_string_value(v));
    else return -1;
  }
  if (n >= sizeof set) return -1;
  kg_ctx ctx = {0};
  if (kg_spec_parse_set(spec, set, point, &ctx)) return -1;
  return kg_spec_point_index(spec, point) >= 0 ? 0 : -1;
}

/* The index of machine id's view of k's spec in k->mspec, or -1. */
static int mspec_index(const ship_kernel *k, const char *id) {
  for (int i = 0; i < k->nmspec; i++)
    if (!strcmp(k->mspec_id[i], id)) return i;
  return -1;
}

const kg_spec *kg_ship_spec_for(const ship_kernel *k, const char *id) {
  int i = mspec_index(k, id);
  return i >= 0 ? k->mspec[i] : k->spec;
}

int kg_ship_variant_find(const ship_kernel *k, const kg_spec *spec, const int32_t *point, unsigned isa) {
  char a[4096], b[4096];
  kg_spec_format_point(spec, point, a, sizeof a);
  for (int i = 0; i < k->nv; i++) {
    if (k->v[i].isa != isa) continue;
    if (k->v[i].spec == spec) {
      if (!memcmp(k->v[i].point, point, sizeof(int32_t) * (size_t)spec->nparams)) return i;
      continue;
    }
    kg_spec_format_point(k->v[i].spec, k->v[i].point, b, sizeof b);
    if (!strcmp(a, b)) return i;
  }
  return -1;
}

/* The variant (point of spec, isa) of kernel k, added when new; -1 when full. */
static int variant_add(ship_kernel *k, const kg_spec *spec, const int32_t *point, unsigned isa) {
  const int np = spec->nparams;
  int i = kg_ship_variant_find(k, spec, point, isa);
  if (i >= 0) return i;
  if (k->nv == SHIP_MAX) return -1;
  k->v[k->nv].point = malloc(sizeof(int32_t) * (size_t)(np ? np : 1));
  if (!k->v[k->nv].point) return -1;
  memcpy(k->v[k->nv].point, point, sizeof(int32_t) * (size_t)np);
  k->v[k->nv].isa = isa;
  k->v[k->nv].spec = spec;
  return k->nv++;
}

/* The spec of k as the machine of a report (its "machine" object) sees it, loaded once per
 * machine id; NULL with a message when the spec does not load for that machine. */
static const kg_spec *spec_for_machine(ship_kernel *k, const json_t *machine) {
  const char *id = jstr(machine, "id");
  int i = mspec_index(k, id);
  if (i >= 0) return k->mspec[i];
  if (k->nmspec == 256) return NULL;
  kg_ctx ctx = {0};
  kg_spec *sp = NULL;
  if (kg_spec_load_as(k->spec->path, machine, &sp, &ctx)) {
    fprintf(stderr, "kgen ship: %s as machine %s sees it: %s (its results skipped)\n", k->spec->name, id,
            kg_ctx_message(&ctx));
    return NULL;
  }
  k->mspec[k->nmspec] = sp, k->mspec_id[k->nmspec] = strdup(id);
  return k->mspec[k->nmspec++];
}

static int dim_index(ship_kernel *k, const char *name) {
  for (int i = 0; i < k->ndims; i++)
    if (!strcmp(k->dims[i], name)) return i;
  return -1;
}

/* Ratio of params' p50 to the winner's in problem pr (winner, top, ties), or 0 when absent. */
static double ratio_in(const json_t *pr, const json_t *params) {
  const json_t *w = json_object_get(pr, "winner");
  const double best = json_number_value(json_object_get(w, "p50_ns"));
  if (best <= 0) return 0;
  if (json_equal(json_object_get(w, "params"), params)) return 1.0;
  const char *lists[] = {"top", "ties"};
  for (int l = 0; l < 2; l++) {
    size_t i;
    const json_t *t;
    json_array_foreach(json_object_get(pr, lists[l]), i, t) {
      if (json_equal(json_object_get(t, "params"), params)) {
        double p = json_number_value(json_object_get(t, "p50_ns"));
        if (p > 0) return p / best;
      }
    }
  }
  return 0;
}

/* Geometric mean over the problems of doc of params' ratio to each winner (absent: 2x). */
static double geomean(const json_t *doc, const json_t *params) {
  double s = 0;
  size_t i, n = 0;
  const json_t *pr;
  json_array_foreach(json_object_get(doc, "problems"), i, pr) {
    double r = ratio_in(pr, params);
    s += log(r > 0 ? r : 2.0), n++;
  }
  return n ? exp(s / (double)n) : 1e300;
}

int kg_ship_cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The sorted *.json names in dir (caller frees); count in *n. */
static char **list_json(const char *dir, int *n) {
  *n = 0;
  DIR *d = opendir(dir);
  if (!d) return NULL;
  char **names = NULL;
  for (struct dirent *e; (e = readdir(d));) {
    size_t l = strlen(e->d_name);
    if (l < 6 || strcmp(e->d_name + l - 5, ".json")) continue;
    char **g = realloc(names, sizeof *names * (size_t)(*n + 1));
    if (!g) break;
    names = g;
    names[(*n)++] = strdup(e->d_name);
  }
  closedir(d);
  if (*n) qsort(names, (size_t)*n, sizeof *names, kg_ship_cmp_str);
  return names;
}

/* ---- collecting ------------------------------------------------------------------------------ */

typedef struct ship_doc {
  json_t *doc;
  int machine;
  const kg_spec *spec; /* the spec as that machine sees it */
} ship_doc;

int kg_ship_collect_kernel(ship *s, ship_kernel *k) {
  char dir[4096];
  snprintf(dir, sizeof dir, "%s/%s", s->tuned, k->spec->name);
  int nfiles = 0;
  char **files = list_json(dir, &nfiles);
  ship_doc docs[256];
  int nd = 0;
  int np = k->np_max = k->spec->nparams; /* the most parameters of any machine's view of the spec */
  int32_t *pt = NULL;
  for (int f = 0; f < nfiles; f++) {
    char path[8192];
    snprintf(path, sizeof path, "%s/%s", dir, files[f]);
    json_error_t err;
    json_t *doc = json_load_file(path, 0, &err);
    if (!doc || strcmp(jstr(doc, "kernel"), k->spec->name) || nd == 256) {
      if (!doc) fprintf(stderr, "kgen ship: %s:%d: %s (skipped)\n", path, err.line, err.text);
      json_decref(doc);
      continue;
    }
    const kg_spec *ms = spec_for_machine(k, json_object_get(doc, "machine"));
    int mi = ms ? machine_add(s, json_object_get(doc, "machine")) : -1;
    if (mi < 0) {
      json_decref(doc);
      continue;
    }
    if (ms->nparams > np) np = ms->nparams;
    k->np_max = np;
    docs[nd].doc = doc, docs[nd].machine = mi, docs[nd].spec = ms, nd++;
    size_t i;
    const json_t *pr;
    json_array_foreach(json_object_get(doc, "problems"), i, pr) {
      const char *key;
      const json_t *v;
      json_object_foreach(json_object_get(pr, "dims"), key, v) {
        if (dim_index(k, key) < 0 && k->ndims < 64) k->dims[k->ndims++] = strdup(key);
      }
    }
  }
  qsort(k->dims, (size_t)k->ndims, sizeof k->dims[0], kg_ship_cmp_str);
  pt = malloc(sizeof(int32_t) * (size_t)(np ? np : 1));
  if (!pt) return -1;
  /* Entries: each problem's winner; variants: the winners and the close runners-up. */
  for (int d = 0; d < nd; d++) {
    const unsigned isa = s->m[docs[d].machine].isa;
    const kg_spec *ms = docs[d].spec;
    size_t i;
    const json_t *pr;
    json_array_foreach(json_object_get(docs[d].doc, "problems"), i, pr) {
      const json_t *w = json_object_get(pr, "winner");
      if (!w || kg_ship_point_of(ms, json_object_get(w, "params"), pt)) {
        fprintf(stderr, "kgen ship: %s: %s on %s: winner not in the spec's space (skipped)\n", k->spec->name,
                jstr(pr, "name"), s->m[docs[d].machine].id);
        continue;
      }
      int vi = variant_add(k, ms, pt, isa);
      ship_entry *g = realloc(k->e, sizeof *k->e * (size_t)(k->ne + 1));
      if (vi < 0 || !g) return -1;
      k->e = g;
      ship_entry *e = &k->e[k->ne++];
      e->machine = docs[d].machine, e->variant = vi, e->problem = strdup(jstr(pr, "name"));
      e->dims = calloc((size_t)(k->ndims ? k->ndims : 1), sizeof(int64_t));
      const char *key;
      const json_t *v;
      json_object_foreach(json_object_get(pr, "dims"), key, v) e->dims[dim_index(k, key)] = json_integer_value(v);
      const double best = json_number_value(json_object_get(w, "p50_ns"));
      const char *lists[] = {"top", "ties"};
      for (int l = 0; l < 2; l++) {
        size_t j;
        const json_t *t;
        json_array_foreach(json_object_get(pr, lists[l]), j, t) {
          double p = json_number_value(json_object_get(t, "p50_ns"));
          if ((l == 1 || p <= best * SHIP_CLOSE) && !kg_ship_point_of(ms, json_object_get(t, "params"), pt))
            variant_add(k, ms, pt, isa);
        }
      }
    }
  }
  /* Generalists: per machine, the candidate with the best geometric mean over its problems;
   * over all machines, the same for the fallbacks (the spec's default point without results). */
  k->generalist = malloc(sizeof(int) * 256); /* machines of later kernels too */
  if (!k->generalist) return -1;
  for (int mi = 0; mi < 256; mi++) k->generalist[mi] = -1;
  double gbest = 1e300;
  int32_t *gpoint = calloc((size_t)(np ? np : 1), sizeof(int32_t));
  const kg_spec *gspec = k->spec; /* with gpoint all zero: the spec's first point */
  for (int d = 0; d < nd; d++) {
    double best = 1e300;
    for (int vi = 0; vi < k->nv; vi++) {
      if (k->v[vi].isa != s->m[docs[d].machine].isa) continue;
      const kg_spec *vs = k->v[vi].spec;
      json_t *params = json_object();
      for (int p = 0; p < vs->nparams; p++) {
        const kg_param *kp = &vs->params[p];
        json_object_set_new(params, kp->name,
                            kp->kind == KG_PARAM_INT ? json_integer(kp->ivalues[k->v[vi].point[p]])
                                                     : json_string(kp->svalues[k->v[vi].point[p]]));
      }
      double g = geomean(docs[d].doc, params);
      json_decref(params);
      if (g < best) best = g, k->generalist[docs[d].machine] = vi;
      if (g < gbest) gbest = g, gspec = vs, memcpy(gpoint, k->v[vi].point, sizeof(int32_t) * (size_t)vs->nparams);
    }
  }
  k->fb_avx2 = variant_add(k, gspec, gpoint, SHIP_AVX2_TIER);
  k->fb_portable = variant_add(k, gspec, gpoint, 0);
  free(gpoint);
  for (int d = 0; d < nd; d++) json_decref(docs[d].doc);
  for (int f = 0; f < nfiles; f++) free(files[f]);
  free(files);
  free(pt);
  return k->fb_avx2 < 0 || k->fb_portable < 0 ? -1 : 0;
}
