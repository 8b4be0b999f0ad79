/* kg_ship.c - `kgen ship` (kg_ship.h): the library generator. */
#include "kg_ship.h"
#include "kg_report.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kg_file.h"
#include "kg_spec.h"
#include "kg_template.h"
#include "kg_tune.h"

#ifndef KG_VERSION
#define KG_VERSION "0"
#endif
#ifndef KG_SOURCE_ROOT
#define KG_SOURCE_ROOT "."
#endif

#define SHIP_CLOSE 1.03 /* runners-up within 3% of the winner's p50 are shipped too */
#define SHIP_MAX 1024

/* ISA features a variant can be compiled for: JSON name, runtime bit (kgen_rt.h), flag. */
static const struct {
  const char *name, *flag;
} ship_isa[] = {{"avx2", "-mavx2"},         {"fma", "-mfma"},
                {"f16c", "-mf16c"},         {"bmi2", "-mbmi2"},
                {"avx512f", "-mavx512f"},   {"avx512dq", "-mavx512dq"},
                {"avx512cd", "-mavx512cd"}, {"avx512bw", "-mavx512bw"},
                {"avx512vl", "-mavx512vl"}, {"avx512_vnni", "-mavx512vnni"}};
#define SHIP_NISA 10
#define SHIP_AVX2_TIER 0xfu

/* A growable string. */
typedef struct sbuf {
  char *p;
  size_t n, cap;
  int oom;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...) {
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

typedef struct ship_machine {
  char *id, *vendor, *microarch, *cpu;
  int family, model, cores;
  unsigned isa;
  long long l1d, l2, l3;
} ship_machine;

typedef struct ship_variant {
  int32_t *point; /* [nparams] */
  unsigned isa;
  int index; /* after sorting */
} ship_variant;

typedef struct ship_entry {
  int machine; /* index into the (sorted) machine list */
  int variant; /* index into the kernel's variants (before sorting: remapped at the end) */
  char *problem;
  int64_t *dims; /* [ndims] of the kernel */
} ship_entry;

typedef struct ship_kernel {
  kg_spec *spec;
  char *stem; /* template path without ".c" */
  ship_variant v[SHIP_MAX];
  int nv;
  ship_entry *e;
  int ne;
  char *dims[64];
  int ndims;
  int *generalist; /* [nmachines] variant or -1 */
  int fb_avx2, fb_portable;
} ship_kernel;

typedef struct ship {
  ship_machine m[256];
  int nm;
  ship_kernel k[32];
  int nk;
  const char *tuned, *out;
} ship;

/* ---- helpers ---------------------------------------------------------------------------------- */

static unsigned isa_of(const json_t *list) {
  unsigned isa = 0;
  size_t i;
  const json_t *v;
  json_array_foreach(list, i, v) {
    for (int b = 0; b < SHIP_NISA; b++)
      if (json_is_string(v) && !strcmp(json_string_value(v), ship_isa[b].name)) isa |= 1u << b;
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

/* The point of a JSON params object, into point[]; 0, or -1 when a value is not in the spec. */
static int point_of(const kg_spec *spec, const json_t *params, int32_t *point) {
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

/* The variant (point, isa) of kernel k, added when new; -1 when full. */
static int variant_add(ship_kernel *k, const int32_t *point, unsigned isa) {
  const int np = k->spec->nparams;
  for (int i = 0; i < k->nv; i++)
    if (k->v[i].isa == isa && !memcmp(k->v[i].point, point, sizeof(int32_t) * (size_t)np)) return i;
  if (k->nv == SHIP_MAX) return -1;
  k->v[k->nv].point = malloc(sizeof(int32_t) * (size_t)(np ? np : 1));
  if (!k->v[k->nv].point) return -1;
  memcpy(k->v[k->nv].point, point, sizeof(int32_t) * (size_t)np);
  k->v[k->nv].isa = isa;
  return k->nv++;
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

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

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
  if (*n) qsort(names, (size_t)*n, sizeof *names, cmp_str);
  return names;
}

/* ---- collecting ------------------------------------------------------------------------------ */

typedef struct ship_doc {
  json_t *doc;
  int machine;
} ship_doc;

static int collect_kernel(ship *s, ship_kernel *k) {
  char dir[4096];
  snprintf(dir, sizeof dir, "%s/%s", s->tuned, k->spec->name);
  int nfiles = 0;
  char **files = list_json(dir, &nfiles);
  ship_doc docs[256];
  int nd = 0;
  const int np = k->spec->nparams;
  int32_t *pt = malloc(sizeof(int32_t) * (size_t)(np ? np : 1));
  if (!pt) return -1;
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
    int mi = machine_add(s, json_object_get(doc, "machine"));
    if (mi < 0) {
      json_decref(doc);
      continue;
    }
    docs[nd].doc = doc, docs[nd].machine = mi, nd++;
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
  qsort(k->dims, (size_t)k->ndims, sizeof k->dims[0], cmp_str);
  /* Entries: each problem's winner; variants: the winners and the close runners-up. */
  for (int d = 0; d < nd; d++) {
    const unsigned isa = s->m[docs[d].machine].isa;
    size_t i;
    const json_t *pr;
    json_array_foreach(json_object_get(docs[d].doc, "problems"), i, pr) {
      const json_t *w = json_object_get(pr, "winner");
      if (!w || point_of(k->spec, json_object_get(w, "params"), pt)) {
        fprintf(stderr, "kgen ship: %s: %s: winner not in the spec's space (skipped)\n", k->spec->name,
                jstr(pr, "name"));
        continue;
      }
      int vi = variant_add(k, pt, isa);
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
          if ((l == 1 || p <= best * SHIP_CLOSE) && !point_of(k->spec, json_object_get(t, "params"), pt))
            variant_add(k, pt, isa);
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
  for (int d = 0; d < nd; d++) {
    double best = 1e300;
    for (int vi = 0; vi < k->nv; vi++) {
      if (k->v[vi].isa != s->m[docs[d].machine].isa) continue;
      char set[4096];
      kg_spec_format_point(k->spec, k->v[vi].point, set, sizeof set);
      json_t *params = json_object();
      for (int p = 0; p < np; p++) {
        const kg_param *kp = &k->spec->params[p];
        json_object_set_new(params, kp->name,
                            kp->kind == KG_PARAM_INT ? json_integer(kp->ivalues[k->v[vi].point[p]])
                                                     : json_string(kp->svalues[k->v[vi].point[p]]));
      }
      double g = geomean(docs[d].doc, params);
      json_decref(params);
      if (g < best) best = g, k->generalist[docs[d].machine] = vi;
      if (g < gbest) gbest = g, memcpy(gpoint, k->v[vi].point, sizeof(int32_t) * (size_t)np);
    }
  }
  k->fb_avx2 = variant_add(k, gpoint, SHIP_AVX2_TIER);
  k->fb_portable = variant_add(k, gpoint, 0);
  free(gpoint);
  for (int d = 0; d < nd; d++) json_decref(docs[d].doc);
  for (int f = 0; f < nfiles; f++) free(files[f]);
  free(files);
  free(pt);
  return k->fb_avx2 < 0 || k->fb_portable < 0 ? -1 : 0;
}

/* ---- writing --------------------------------------------------------------------------------- */

static int write_file(const ship *s, const char *rel, const sbuf *b) {
  char path[8192];
  snprintf(path, sizeof path, "%s/%s", s->out, rel);
  char dir[8192];
  snprintf(dir, sizeof dir, "%s", path);
  char *slash = strrchr(dir, '/');
  kg_ctx ctx = {0};
  if (slash) {
    *slash = 0;
    if (kg_file_mkdirs(dir, &ctx)) {
      fprintf(stderr, "kgen ship: %s\n", kg_ctx_message(&ctx));
      return -1;
    }
  }
  if (b->oom || kg_file_write_atomic(path, b->p ? b->p : "", b->n, &ctx)) {
    fprintf(stderr, "kgen ship: %s: %s\n", path, b->oom ? "out of memory" : kg_ctx_message(&ctx));
    return -1;
  }
  return 0;
}

static int read_into(const char *path, sbuf *b) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "kgen ship: %s: %s\n", path, strerror(errno));
    return -1;
  }
  char buf[65536];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) sb_printf(b, "%.*s", (int)n, buf);
  fclose(f);
  return 0;
}

static void c_string(sbuf *b, const char *s) {
  sb_printf(b, "\"");
  for (; *s; s++) {
    if (*s == '"' || *s == '\\') sb_printf(b, "\\%c", *s);
    else if ((unsigned char)*s < 32) sb_printf(b, "\\%03o", (unsigned char)*s);
    else sb_printf(b, "%c", *s);
  }
  sb_printf(b, "\"");
}

static void isa_flags(unsigned isa, sbuf *b, const char *sep) {
  int first = 1;
  for (int i = 0; i < SHIP_NISA; i++)
    if (isa & (1u << i)) sb_printf(b, "%s%s", first ? "" : sep, ship_isa[i].flag), first = 0;
}

/* Sort the variants of k by (isa, point) and remap the entries, generalists and fallbacks. */
static int np_sort;
static int cmp_variant(const void *a, const void *b) {
  const ship_variant *x = a, *y = b;
  if (x->isa != y->isa) return x->isa < y->isa ? -1 : 1;
  for (int i = 0; i < np_sort; i++)
    if (x->point[i] != y->point[i]) return x->point[i] < y->point[i] ? -1 : 1;
  return 0;
}

static void sort_variants(ship *s, ship_kernel *k) {
  for (int i = 0; i < k->nv; i++) k->v[i].index = i;
  np_sort = k->spec->nparams;
  qsort(k->v, (size_t)k->nv, sizeof k->v[0], cmp_variant);
  int map[SHIP_MAX];
  for (int i = 0; i < k->nv; i++) map[k->v[i].index] = i;
  for (int i = 0; i < k->ne; i++) k->e[i].variant = map[k->e[i].variant];
  for (int i = 0; i < s->nm; i++)
    if (k->generalist[i] >= 0) k->generalist[i] = map[k->generalist[i]];
  k->fb_avx2 = map[k->fb_avx2], k->fb_portable = map[k->fb_portable];
}

static int write_kernel(ship *s, ship_kernel *k, sbuf *cmake_src, sbuf *cmake_props) {
  const char *name = k->spec->name;
  for (int i = 0; i < k->nv; i++) {
    char *src = NULL;
    size_t len = 0;
    kg_ctx ctx = {0};
    if (kg_template_emit(k->spec, k->v[i].point, &src, &len, &ctx)) {
      fprintf(stderr, "kgen ship: %s\n", kg_ctx_message(&ctx));
      return -1;
    }
    sbuf b = {0};
    sb_printf(&b, "/* kgen ship: variant kgv_%s_%d_ of %s; build with: -O3 -fopenmp", name, i, name);
    if (k->v[i].isa) sb_printf(&b, " "), isa_flags(k->v[i].isa, &b, " ");
    sb_printf(&b, " */\n#define KG_PUBLIC_ONLY 1\n#define KG_NAME(x) kgv_%s_%d_##x\n", name, i);
    sb_printf(&b, "%.*s", (int)len, src);
    free(src);
    char rel[512];
    snprintf(rel, sizeof rel, "src/v_%s_%03d.c", name, i);
    int rc = write_file(s, rel, &b);
    free(b.p);
    if (rc) return -1;
    sb_printf(cmake_src, "  %s\n", rel);
    if (k->v[i].isa) {
      sb_printf(cmake_props, "set_source_files_properties(%s PROPERTIES COMPILE_OPTIONS \"", rel);
      isa_flags(k->v[i].isa, cmake_props, ";");
      sb_printf(cmake_props, "\")\n");
    }
  }
  /* The front: the generated variant list, then templates/<name>.front.c. */
  sbuf f = {0};
  sb_printf(&f, "/* kgen ship: the public entry points of %s (from %s.front.c) */\n#define KGV_LIST(X)", name,
            strrchr(k->stem, '/') ? strrchr(k->stem, '/') + 1 : k->stem);
  for (int i = 0; i < k->nv; i++) sb_printf(&f, " X(%d, kgv_%s_%d_)", i, name, i);
  sb_printf(&f, "\n#define KGV_TABLE kgr_table_%s\n#include \"kgen_rt.h\"\nextern const kgr_table kgr_table_%s;\n\n",
            name, name);
  char path[4096];
  snprintf(path, sizeof path, "%s.front.c", k->stem);
  if (read_into(path, &f)) return -1;
  char rel[512];
  snprintf(rel, sizeof rel, "src/%s_front.c", name);
  int rc = write_file(s, rel, &f);
  free(f.p);
  if (rc) return -1;
  sb_printf(cmake_src, "  %s\n", rel);
  /* The header fragment. */
  sbuf h = {0};
  sb_printf(&h,
            "/* kgen ship: part of kgen/kgen.h (from %s.api.h) */\n#ifndef KGEN_%s_H\n#define KGEN_%s_H\n\n#include "
            "<stddef.h>\n#include <stdint.h>\n\n",
            strrchr(k->stem, '/') ? strrchr(k->stem, '/') + 1 : k->stem, name, name);
  snprintf(path, sizeof path, "%s.api.h", k->stem);
  if (read_into(path, &h)) return -1;
  sb_printf(&h, "\n#endif\n");
  snprintf(rel, sizeof rel, "include/kgen/kgen_%s.h", name);
  rc = write_file(s, rel, &h);
  free(h.p);
  return rc;
}

static void write_tables(ship *s, sbuf *b) {
  sb_printf(
      b,
      "/* kgen ship: dispatch tables (generated from the tuned results; do not edit) */\n#include \"kgen_rt.h\"\n\n");
  sb_printf(b, "const kgr_machine kgr_machines[%d] = {\n", s->nm ? s->nm : 1);
  for (int i = 0; i < s->nm; i++) {
    const ship_machine *m = &s->m[i];
    sb_printf(b, "  {"), c_string(b, m->id), sb_printf(b, ", "), c_string(b, m->vendor), sb_printf(b, ", ");
    c_string(b, m->microarch), sb_printf(b, ", "), c_string(b, m->cpu);
    sb_printf(b, ", %d, %d, 0x%x, %d, %lld, %lld, %lld},\n", m->family, m->model, m->isa, m->cores, m->l1d, m->l2,
              m->l3);
  }
  if (!s->nm) sb_printf(b, "  {0},\n");
  sb_printf(b, "};\nconst int kgr_nmachines = %d;\n", s->nm);
  for (int ki = 0; ki < s->nk; ki++) {
    ship_kernel *k = &s->k[ki];
    const char *n = k->spec->name;
    sb_printf(b, "\n/* ---- %s ---- */\n", n);
    for (int i = 0; i < k->nv; i++) sb_printf(b, "void kgv_%s_%d_kg_set_thread_cap(int);\n", n, i);
    sb_printf(b, "static const kgr_variant %s_variants[] = {\n", n);
    for (int i = 0; i < k->nv; i++) {
      char pt[4096];
      kg_spec_format_point(k->spec, k->v[i].point, pt, sizeof pt);
      long pi = kg_spec_point_index(k->spec, k->v[i].point);
      sb_printf(b, "  {\"kgv_%s_%d_\", ", n, i), c_string(b, pt);
      sb_printf(b, ", 0x%x, %d, kgv_%s_%d_kg_set_thread_cap},\n", k->v[i].isa,
                pi >= 0 ? kg_tune_point_threads(k->spec, pi) : 0, n, i);
    }
    sb_printf(b, "};\nstatic const char *const %s_dims[%d] = {", n, k->ndims ? k->ndims : 1);
    for (int i = 0; i < k->ndims; i++) sb_printf(b, "%s", i ? ", " : ""), c_string(b, k->dims[i]);
    if (!k->ndims) sb_printf(b, "\"\"");
    sb_printf(b, "};\n");
    for (int e = 0; e < k->ne; e++) {
      sb_printf(b, "static const int64_t %s_e%d[] = {", n, e);
      for (int d = 0; d < k->ndims; d++) sb_printf(b, "%s%" PRId64, d ? ", " : "", k->e[e].dims[d]);
      sb_printf(b, "};\n");
    }
    sb_printf(b, "static const kgr_entry %s_entries[%d] = {\n", n, k->ne ? k->ne : 1);
    for (int e = 0; e < k->ne; e++) {
      sb_printf(b, "  {%d, %d, ", k->e[e].machine, k->e[e].variant), c_string(b, k->e[e].problem);
      sb_printf(b, ", %s_e%d},\n", n, e);
    }
    if (!k->ne) sb_printf(b, "  {0},\n");
    sb_printf(b, "};\nstatic const int %s_generalist[%d] = {", n, s->nm ? s->nm : 1);
    for (int i = 0; i < s->nm; i++) sb_printf(b, "%s%d", i ? ", " : "", k->generalist[i]);
    if (!s->nm) sb_printf(b, "-1");
    sb_printf(b,
              "};\nconst kgr_table kgr_table_%s = {\"%s\", %d, %s_variants, %d, %s_dims, %d, %s_entries, "
              "%s_generalist, %d, %d};\n",
              n, n, k->nv, n, k->ndims, n, k->ne, n, n, k->fb_avx2, k->fb_portable);
  }
  sb_printf(b, "\nconst kgr_table *const kgr_tables[%d] = {", s->nk);
  for (int ki = 0; ki < s->nk; ki++) sb_printf(b, "%s&kgr_table_%s", ki ? ", " : "", s->k[ki].spec->name);
  sb_printf(b, "};\nconst int kgr_ntables = %d;\n", s->nk);
}

static const char ship_cmake_head[] =
    "# Generated by `kgen ship` (do not edit): kgen's tuned kernels as a C library.\n"
    "#   cmake -S . -B build && cmake --build build && cmake --install build --prefix PREFIX\n"
    "# Users: find_package(kgen) -> target kgen::kgen, or pkg-config --cflags --libs kgen.\n"
    "cmake_minimum_required(VERSION 3.16)\n"
    "project(kgen_kernels VERSION %s LANGUAGES C)\n"
    "include(GNUInstallDirs)\n"
    "include(CMakePackageConfigHelpers)\n"
    "option(BUILD_SHARED_LIBS \"Build libkgen as a shared library\" ON)\n"
    "if(NOT CMAKE_BUILD_TYPE AND NOT CMAKE_CONFIGURATION_TYPES)\n"
    "  set(CMAKE_BUILD_TYPE Release)\n"
    "endif()\n"
    "set(CMAKE_C_STANDARD 11)\n"
    "set(CMAKE_C_EXTENSIONS ON)\n"
    "set(CMAKE_POSITION_INDEPENDENT_CODE ON)\n"
    "find_package(Threads REQUIRED)\n"
    "find_package(OpenMP COMPONENTS C)\n"
    "add_library(kgen\n";

static const char ship_cmake_tail[] =
    ")\n"
    "add_library(kgen::kgen ALIAS kgen)\n"
    "set_target_properties(kgen PROPERTIES VERSION ${PROJECT_VERSION} SOVERSION ${PROJECT_VERSION_MAJOR} EXPORT_NAME "
    "kgen)\n"
    "# Variants need the ISA flags of the machine they won on; the dispatch stays at baseline x86-64.\n"
    "target_compile_options(kgen PRIVATE -O3 -fno-strict-aliasing -w)\n"
    "target_include_directories(kgen PUBLIC $<BUILD_INTERFACE:${CMAKE_CURRENT_SOURCE_DIR}/include>\n"
    "                                $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>\n"
    "                         PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/src)\n"
    "target_link_libraries(kgen PRIVATE Threads::Threads m)\n"
    "set(KGEN_PC_PRIVATE \"-lpthread -lm\")\n"
    "if(OpenMP_C_FOUND)\n"
    "  target_link_libraries(kgen PRIVATE OpenMP::OpenMP_C)\n"
    "  set(KGEN_PC_PRIVATE \"${KGEN_PC_PRIVATE} ${OpenMP_C_FLAGS}\")\n"
    "endif()\n"
    "install(TARGETS kgen EXPORT kgenTargets\n"
    "        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}\n"
    "        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})\n"
    "install(DIRECTORY include/kgen DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})\n"
    "install(EXPORT kgenTargets NAMESPACE kgen:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/kgen)\n"
    "configure_package_config_file(cmake/kgenConfig.cmake.in ${CMAKE_CURRENT_BINARY_DIR}/kgenConfig.cmake\n"
    "                              INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/kgen)\n"
    "write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/kgenConfigVersion.cmake COMPATIBILITY "
    "SameMajorVersion)\n"
    "install(FILES ${CMAKE_CURRENT_BINARY_DIR}/kgenConfig.cmake ${CMAKE_CURRENT_BINARY_DIR}/kgenConfigVersion.cmake\n"
    "        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/kgen)\n"
    "file(RELATIVE_PATH KGEN_PC_REL \"/${CMAKE_INSTALL_LIBDIR}/pkgconfig\" \"/\") # relocatable: --prefix at install "
    "time\n"
    "configure_file(kgen.pc.in ${CMAKE_CURRENT_BINARY_DIR}/kgen.pc @ONLY)\n"
    "install(FILES ${CMAKE_CURRENT_BINARY_DIR}/kgen.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)\n";

static const char ship_config[] = "# kgen's shipped kernels: target kgen::kgen\n"
                                  "@PACKAGE_INIT@\n"
                                  "include(CMakeFindDependencyMacro)\n"
                                  "if(NOT @BUILD_SHARED_LIBS@)\n"
                                  "  find_dependency(Threads)\n"
                                  "  find_dependency(OpenMP COMPONENTS C)\n"
                                  "endif()\n"
                                  "include(${CMAKE_CURRENT_LIST_DIR}/kgenTargets.cmake)\n"
                                  "check_required_components(kgen)\n";

static const char ship_pc[] = "prefix=${pcfiledir}/@KGEN_PC_REL@\n"
                              "libdir=${prefix}/@CMAKE_INSTALL_LIBDIR@\n"
                              "includedir=${prefix}/@CMAKE_INSTALL_INCLUDEDIR@\n"
                              "\n"
                              "Name: kgen\n"
                              "Description: kgen's tuned CPU kernels (GEMM, quantized matmul, paired weight cache)\n"
                              "Version: @PROJECT_VERSION@\n"
                              "Libs: -L${libdir} -lkgen\n"
                              "Libs.private: @KGEN_PC_PRIVATE@\n"
                              "Cflags: -I${includedir}\n";

/* The folder of kgen's dispatch runtime sources. */
static void runtime_dir(char *buf, size_t cap) {
  const char *root = getenv("KGEN_ROOT");
  if (root && *root) snprintf(buf, cap, "%s/gen/ship/runtime", root);
  else if (access("gen/ship/runtime/kgen_rt.c", R_OK) == 0) snprintf(buf, cap, "gen/ship/runtime");
  else snprintf(buf, cap, "%s/gen/ship/runtime", KG_SOURCE_ROOT);
}

static int cmp_machine(const void *a, const void *b) {
  return strcmp(((const ship_machine *)a)->id, ((const ship_machine *)b)->id);
}

/* Sort machines by id and remap the kernels' entries and generalists. */
static void sort_machines(ship *s) {
  char *old[256];
  for (int i = 0; i < s->nm; i++) old[i] = s->m[i].id;
  qsort(s->m, (size_t)s->nm, sizeof s->m[0], cmp_machine);
  int map[256];
  for (int i = 0; i < s->nm; i++)
    for (int j = 0; j < s->nm; j++)
      if (s->m[j].id == old[i]) map[i] = j;
  for (int ki = 0; ki < s->nk; ki++) {
    ship_kernel *k = &s->k[ki];
    for (int e = 0; e < k->ne; e++) k->e[e].machine = map[k->e[e].machine];
    int g[256];
    for (int i = 0; i < s->nm; i++) g[map[i]] = k->generalist[i];
    memcpy(k->generalist, g, sizeof(int) * (size_t)s->nm);
  }
}

static int cmp_entry(const void *a, const void *b) {
  const ship_entry *x = a, *y = b;
  if (x->machine != y->machine) return x->machine < y->machine ? -1 : 1;
  return strcmp(x->problem, y->problem);
}

static int ship_write(ship *s) {
  sort_machines(s);
  sbuf src = {0}, props = {0};
  for (int ki = 0; ki < s->nk; ki++) {
    ship_kernel *k = &s->k[ki];
    sort_variants(s, k);
    qsort(k->e, (size_t)k->ne, sizeof k->e[0], cmp_entry);
    if (write_kernel(s, k, &src, &props)) return -1;
  }
  sbuf t = {0};
  write_tables(s, &t);
  if (write_file(s, "src/kgen_tables.c", &t)) return -1;
  free(t.p);
  char rt[4096], path[4200];
  runtime_dir(rt, sizeof rt);
  const char *copies[] = {"kgen_rt.h", "kgen_rt.c"};
  for (int i = 0; i < 2; i++) {
    sbuf b = {0};
    snprintf(path, sizeof path, "%s/%s", rt, copies[i]);
    char rel[256];
    snprintf(rel, sizeof rel, "src/%s", copies[i]);
    if (read_into(path, &b) || write_file(s, rel, &b)) return -1;
    free(b.p);
  }
  sbuf h = {0};
  snprintf(path, sizeof path, "%s/kgen_base.h", rt);
  if (read_into(path, &h)) return -1;
  for (int ki = 0; ki < s->nk; ki++) sb_printf(&h, "#include <kgen/kgen_%s.h>\n", s->k[ki].spec->name);
  sb_printf(&h, "\n#endif\n");
  if (write_file(s, "include/kgen/kgen.h", &h)) return -1;
  free(h.p);
  sbuf c = {0};
  sb_printf(&c, ship_cmake_head, KG_VERSION);
  sb_printf(&c, "  src/kgen_rt.c\n  src/kgen_tables.c\n%s", src.p ? src.p : "");
  sb_printf(&c, "%s%s", ship_cmake_tail, props.p ? props.p : "");
  free(src.p), free(props.p);
  if (write_file(s, "CMakeLists.txt", &c)) return -1;
  free(c.p);
  sbuf cfg = {0}, pc = {0};
  sb_printf(&cfg, "%s", ship_config);
  sb_printf(&pc, "%s", ship_pc);
  if (write_file(s, "cmake/kgenConfig.cmake.in", &cfg) || write_file(s, "kgen.pc.in", &pc)) return -1;
  free(cfg.p), free(pc.p);
  return 0;
}

/* ---- the command ------------------------------------------------------------------------------ */

static const char ship_usage[] =
    "usage: kgen ship [SPEC...] [--tuned DIR] --out DIR\n"
    "  write the tuned kernels as a self-contained CMake project (C library, kgen/kgen.h,\n"
    "  dispatch by machine and shape, find_package(kgen) -> kgen::kgen, kgen.pc); SPECs default\n"
    "  to every spec under specs/ whose template has a public front (<template>.front.c)\n"
    "  --tuned DIR   tuned results (default tuned)\n"
    "  --out DIR     the project to write (required)\n";

static void ship_free(ship *s) {
  for (int i = 0; i < s->nm; i++) free(s->m[i].id), free(s->m[i].vendor), free(s->m[i].microarch), free(s->m[i].cpu);
  for (int ki = 0; ki < s->nk; ki++) {
    ship_kernel *k = &s->k[ki];
    for (int i = 0; i < k->nv; i++) free(k->v[i].point);
    for (int i = 0; i < k->ne; i++) free(k->e[i].problem), free(k->e[i].dims);
    for (int i = 0; i < k->ndims; i++) free(k->dims[i]);
    free(k->e), free(k->generalist), free(k->stem);
    kg_spec_free(k->spec);
  }
}

/* Load spec path into s if its template has a front; 1 when skipped, -1 on error. */
static int ship_add_spec(ship *s, const char *path, int explicit_) {
  kg_ctx ctx = {0};
  kg_spec *spec = NULL;
  if (kg_spec_load(path, &spec, &ctx)) {
    fprintf(stderr, "kgen ship: %s\n", kg_ctx_message(&ctx));
    return explicit_ ? -1 : 1;
  }
  char stem[4096], front[4200], api[4200];
  snprintf(stem, sizeof stem, "%s", spec->template_path);
  size_t l = strlen(stem);
  if (l > 2 && !strcmp(stem + l - 2, ".c")) stem[l - 2] = 0;
  snprintf(front, sizeof front, "%s.front.c", stem);
  snprintf(api, sizeof api, "%s.api.h", stem);
  if (access(front, R_OK) || access(api, R_OK) || s->nk == 32) {
    if (explicit_) fprintf(stderr, "kgen ship: %s: its template has no public front (%s)\n", path, front);
    kg_spec_free(spec);
    return explicit_ ? -1 : 1;
  }
  for (int i = 0; i < s->nk; i++)
    if (!strcmp(s->k[i].spec->name, spec->name)) {
      kg_spec_free(spec);
      return 1;
    }
  ship_kernel *k = &s->k[s->nk++];
  memset(k, 0, sizeof *k);
  k->spec = spec;
  k->stem = strdup(stem);
  return 0;
}

static int cmp_kernel(const void *a, const void *b) {
  return strcmp(((const ship_kernel *)a)->spec->name, ((const ship_kernel *)b)->spec->name);
}

int kg_cli_ship(int argc, char **argv) {
  static const struct option longs[] = {{"tuned", required_argument, 0, 't'},
                                        {"out", required_argument, 0, 'o'},
                                        {"help", no_argument, 0, 'h'},
                                        {0, 0, 0, 0}};
  ship *s = calloc(1, sizeof *s);
  if (!s) return 1;
  s->tuned = "tuned";
  int c, rc = 2;
  opterr = 0;
  while ((c = getopt_long(argc, argv, "o:h", longs, NULL)) != -1) {
    if (c == 't') s->tuned = optarg;
    else if (c == 'o') s->out = optarg;
    else if (c == 'h') {
      fputs(ship_usage, stdout);
      free(s);
      return 0;
    } else {
      fprintf(stderr, "kgen ship: unknown option or missing value '%s'\n\n%s", argv[optind - 1], ship_usage);
      free(s);
      return 2;
    }
  }
  if (!s->out) {
    fprintf(stderr, "kgen ship: --out DIR is required\n\n%s", ship_usage);
    free(s);
    return 2;
  }
  if (optind < argc) {
    for (int i = optind; i < argc; i++)
      if (ship_add_spec(s, argv[i], 1) < 0) goto done;
  } else {
    char dir[4096];
    const char *root = getenv("KGEN_ROOT");
    if (root && *root) snprintf(dir, sizeof dir, "%s/specs", root);
    else if (access("specs", R_OK) == 0) snprintf(dir, sizeof dir, "specs");
    else snprintf(dir, sizeof dir, "%s/specs", KG_SOURCE_ROOT);
    DIR *d = opendir(dir);
    if (!d) {
      fprintf(stderr, "kgen ship: %s: %s\n", dir, strerror(errno));
      goto done;
    }
    char *names[256];
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) && n < 256;) {
      size_t l = strlen(e->d_name);
      if (l > 4 && !strcmp(e->d_name + l - 4, ".lua")) names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof names[0], cmp_str);
    for (int i = 0; i < n; i++) {
      char path[8192];
      snprintf(path, sizeof path, "%s/%s", dir, names[i]);
      ship_add_spec(s, path, 0);
      free(names[i]);
    }
  }
  if (!s->nk) {
    fprintf(stderr, "kgen ship: no spec with a public front\n");
    goto done;
  }
  qsort(s->k, (size_t)s->nk, sizeof s->k[0], cmp_kernel);
  rc = 1;
  for (int ki = 0; ki < s->nk; ki++)
    if (collect_kernel(s, &s->k[ki])) {
      fprintf(stderr, "kgen ship: %s: out of memory or too many variants\n", s->k[ki].spec->name);
      goto done;
    }
  if (ship_write(s)) goto done;
  int nv = 0;
  for (int ki = 0; ki < s->nk; ki++) nv += s->k[ki].nv;
  fprintf(stderr, "kgen ship: %d kernels, %d variants, %d machines -> %s\n", s->nk, nv, s->nm, s->out);
  rc = 0;
done:
  ship_free(s);
  free(s);
  return rc;
}
