/*
 * kgen_site.c - the shipped library's site files (issue 12): the choices kgen-site-tune made on
 * this machine, read at the first use of each kernel, override the shipped tables through
 * kgr_site_choice (kgen_rt.h).
 *
 * Where: $KGEN_SITE_DIR/<kernel>.json, else <the library's folder>/KGEN_SITE_REL/<kernel>.json
 * (libdir -> datadir/kgen/site of the install, found with dladdr, so a relocated install finds
 * its own), else KGEN_SITE_ABS/<kernel>.json (the configured prefix).  The file is an autotune
 * JSON (tuned/ schema) plus "source": "site" and "build_hash", the hash `kgen ship` gave this
 * build's tables (kgr_build_hash); each problem's winner names its variant ("variant": the
 * symbol prefix, "params_label": its parameters).
 *
 * A missing file is no site tuning.  A file that cannot be parsed (corrupt, truncated), whose
 * source is not "site", whose kernel or build hash differs, or that names a variant this build
 * lacks (or with other parameters) is ignored as a whole: the shipped tables decide, and with
 * KGEN_VERBOSE=1 a note on stderr says which file and why.  Never aborts, never exits.
 * Built without jansson (KGEN_SITE_JSON undefined) it reads nothing and says so under
 * KGEN_VERBOSE.  Thread-safe: loading is under a mutex, on the slow path only (choices are
 * cached by kgen_rt.c).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kgen_rt.h"

#ifdef KGEN_SITE_JSON
#include <jansson.h>
#endif

#ifndef KGEN_SITE_REL
#define KGEN_SITE_REL "../share/kgen/site"
#endif
#ifndef KGEN_SITE_ABS
#define KGEN_SITE_ABS "/usr/local/share/kgen/site"
#endif
#define KGS_MAX_TABLES 32
#define KGS_MAX_DIMS 8

/** Referenced by kgen_tables.c, so that a static link keeps this file. */
const int kgr_site_linked = 1;

/** The build's hash (kgen_tables.c, written by `kgen ship`). */
extern const char kgr_build_hash[];

typedef struct kgs_entry {
  int variant, ndims;
  char names[KGS_MAX_DIMS][32];
  int64_t dims[KGS_MAX_DIMS];
} kgs_entry;

static struct {
  const kgr_table *t;
  int n;
  kgs_entry *e;
} kgs_tables[KGS_MAX_TABLES];
static int kgs_ntables;
static pthread_mutex_t kgs_lock = PTHREAD_MUTEX_INITIALIZER;

static int kgs_verbose(void) {
  const char *v = getenv("KGEN_VERBOSE");
  return v && strcmp(v, "0");
}

/* The site file of kernel into buf[cap]. */
static void kgs_path(const char *kernel, char *buf, size_t cap) {
  const char *env = getenv("KGEN_SITE_DIR");
  if (env && *env) {
    snprintf(buf, cap, "%s/%s.json", env, kernel);
    return;
  }
  Dl_info info;
  if (dladdr((void *)&kgr_site_choice, &info) && info.dli_fname && strchr(info.dli_fname, '/')) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", info.dli_fname);
    *strrchr(dir, '/') = 0;
    snprintf(buf, cap, "%s/%s/%s.json", dir, KGEN_SITE_REL, kernel);
    if (access(buf, F_OK) == 0) return;
  }
  snprintf(buf, cap, "%s/%s.json", KGEN_SITE_ABS, kernel);
}

#ifdef KGEN_SITE_JSON
/* Parse the site file of t into *out[*n]; NULL and a reason in why[cap] when it is unusable. */
static kgs_entry *kgs_parse(const kgr_table *t, const char *path, int *n, char *why, size_t cap) {
  json_error_t err;
  json_t *doc = json_load_file(path, 0, &err);
  kgs_entry *e = NULL;
  *n = 0;
  if (!doc) {
    snprintf(why, cap, "cannot be read as JSON (line %d: %s)", err.line, err.text);
    return NULL;
  }
  const char *src = json_string_value(json_object_get(doc, "source"));
  const char *hash = json_string_value(json_object_get(doc, "build_hash"));
  const char *kernel = json_string_value(json_object_get(doc, "kernel"));
  const json_t *probs = json_object_get(doc, "problems"), *p;
  if (!src || strcmp(src, "site")) snprintf(why, cap, "not a site file (\"source\" is not \"site\")");
  else if (!kernel || strcmp(kernel, t->kernel)) snprintf(why, cap, "of kernel '%s'", kernel ? kernel : "?");
  else if (!hash || strcmp(hash, kgr_build_hash))
    snprintf(why, cap, "tuned for another build (build hash %s, this library's %s)", hash ? hash : "missing",
             kgr_build_hash);
  else if (!json_is_array(probs) || json_array_size(probs) == 0) snprintf(why, cap, "no problems");
  else if (!(e = calloc(json_array_size(probs), sizeof *e))) snprintf(why, cap, "out of memory");
  else {
    size_t i;
    why[0] = 0;
    json_array_foreach(probs, i, p) {
      const json_t *w = json_object_get(p, "winner"), *dims = json_object_get(p, "dims"), *v;
      const char *prefix = json_string_value(json_object_get(w, "variant"));
      const char *label = json_string_value(json_object_get(w, "params_label"));
      const char *pname = json_string_value(json_object_get(p, "name"));
      int vi = -1;
      for (int k = 0; prefix && k < t->nvariants; k++)
        if (!strcmp(t->variants[k].prefix, prefix)) vi = k;
      if (vi < 0 || !label || strcmp(label, t->variants[vi].params) || !json_is_object(dims) ||
          json_object_size(dims) > KGS_MAX_DIMS) {
        snprintf(why, cap, "problem %zu (%s): %s", i, pname ? pname : "?",
                 vi < 0                                            ? "names a variant this build lacks"
                 : !label || strcmp(label, t->variants[vi].params) ? "its variant has other parameters in this build"
                                                                   : "bad dims");
        break;
      }
      kgs_entry *x = &e[(*n)++];
      x->variant = vi;
      const char *k;
      json_object_foreach((json_t *)dims, k, v) {
        if (!json_is_integer(v)) {
          snprintf(why, cap, "problem %zu (%s): dimension %s is not an integer", i, pname ? pname : "?", k);
          break;
        }
        snprintf(x->names[x->ndims], sizeof x->names[0], "%s", k);
        x->dims[x->ndims++] = (int64_t)json_integer_value(v);
      }
      if (why[0]) break;
    }
  }
  json_decref(doc);
  if (why[0]) {
    free(e);
    *n = 0;
    return NULL;
  }
  return e;
}
#endif

/* The entries of t's site file, loaded on first call (with the lock held). */
static int kgs_load(const kgr_table *t, kgs_entry **out) {
  for (int i = 0; i < kgs_ntables; i++)
    if (kgs_tables[i].t == t) return *out = kgs_tables[i].e, kgs_tables[i].n;
  char path[4400], why[512] = "";
  kgs_path(t->kernel, path, sizeof path);
  kgs_entry *e = NULL;
  int n = 0;
  if (access(path, F_OK) != 0) {
    if (kgs_verbose()) fprintf(stderr, "kgen: %s: no site file (%s): the shipped choices\n", t->kernel, path);
  } else {
#ifdef KGEN_SITE_JSON
    e = kgs_parse(t, path, &n, why, sizeof why);
#else
    snprintf(why, sizeof why, "this library was built without jansson: site files are not read");
#endif
    if (!e && kgs_verbose()) fprintf(stderr, "kgen: %s: site file %s ignored: %s\n", t->kernel, path, why);
    else if (e && kgs_verbose())
      fprintf(stderr, "kgen: %s: site file %s: %d tuned problem%s\n", t->kernel, path, n, n == 1 ? "" : "s");
  }
  if (kgs_ntables < KGS_MAX_TABLES) {
    kgs_tables[kgs_ntables].t = t, kgs_tables[kgs_ntables].n = n, kgs_tables[kgs_ntables].e = e;
    kgs_ntables++;
  } else {
    free(e), e = NULL, n = 0;
  }
  *out = e;
  return n;
}

static double kgs_log2(double a, double b) { return a <= 0 || b <= 0 ? 0.0 : fabs(log2(a / b)); }

/* The site file's variant for key: its tuned problem nearest to key in the same regime (the
 * rule kgen_rt.c applies to the shipped entries), or -1. */
int kgr_site_choice(const kgr_table *t, const kgr_front *f, const int64_t *key) {
  if (f->nkey > KGS_MAX_DIMS) return -1;
  pthread_mutex_lock(&kgs_lock);
  kgs_entry *e = NULL;
  const int n = kgs_load(t, &e);
  pthread_mutex_unlock(&kgs_lock); /* entries are never freed or changed once loaded */
  const int64_t regime = f->regime(key);
  int best = -1;
  double bd = 0;
  for (int i = 0; i < n; i++) {
    int64_t ek[KGS_MAX_DIMS];
    for (int k = 0; k < f->nkey; k++) {
      ek[k] = 0;
      for (int d = 0; d < e[i].ndims; d++)
        if (!strcmp(e[i].names[d], f->key_names[k])) ek[k] = e[i].dims[d];
    }
    if (f->regime(ek) != regime) continue;
    double dist = 0;
    int ok = 1;
    for (int k = 0; k < f->nkey && ok; k++) {
      if (f->log2[k]) dist += kgs_log2((double)(ek[k] > 0 ? ek[k] : 1), (double)(key[k] > 0 ? key[k] : 1));
      else ok = ek[k] == key[k];
    }
    if (ok && (best < 0 || dist < bd)) best = i, bd = dist;
  }
  return best >= 0 ? e[best].variant : -1;
}
