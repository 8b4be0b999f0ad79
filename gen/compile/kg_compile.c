/*
 * kg_compile.c - backend dispatch, the `cc` subprocess backend and the cache directory.
 * The JIT itself lives in kg_jit.cpp behind kg_jit.h.
 *
 * Both backends prepend `#line 1 "<name>"` to the source so diagnostics name the variant
 * ("stream[unroll=4]:3:5: error: ...") rather than a temp file.
 */
#define _GNU_SOURCE
#include "kg_compile.h"

#include "kg_file.h"
#include "kg_proc.h"
#include "kg_timer.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "kg_jit.h"
#include "kg_machine.h" /* kg_usable_cpus */

#ifndef KG_OMP_LIB
#define KG_OMP_LIB "/usr/lib/llvm-16/lib/libomp.so"
#endif

struct kg_compiler {
  kg_backend backend;
  kg_jit *jit;  /* JIT backend */
  char *cc;     /* cc backend: the compiler command */
  char **extra; /* cc backend: extra_flags split, NULL-terminated */
  char *cache_dir;
  char *describe;
};

struct kg_module {
  kg_compiler *c;
  kg_jit_module *jm; /* JIT */
  void *dl;          /* cc */
};

kg_status kg_backend_parse(const char *name, kg_backend *out, kg_ctx *ctx) {
  if (name && strcmp(name, "jit") == 0) {
    *out = KG_BACKEND_JIT;
    return KG_OK;
  }
  if (name && strcmp(name, "cc") == 0) {
    *out = KG_BACKEND_CC;
    return KG_OK;
  }
  return kg_ctx_set(ctx, KG_EINVAL, "unknown backend '%s' (expected jit or cc)", name ? name : "(null)");
}

const char *kg_backend_name(kg_backend b) { return b == KG_BACKEND_CC ? "cc" : "jit"; }

/* The cache directory per kg_compile_opts.cache_dir's rules; malloc'd, created. */
static kg_status cache_dir_new(const char *want, char **out, kg_ctx *ctx) {
  char buf[4096];
  const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
  if (want) {
    kg_status st = kg_file_mkdirs_mode(want, 0700, ctx);
    if (st) return st;
    *out = strdup(want);
    return *out ? KG_OK : kg_ctx_set(ctx, KG_ENOMEM, "out of memory");
  }
  buf[0] = '\0';
  if (xdg && *xdg) snprintf(buf, sizeof buf, "%s/kgen", xdg);
  else if (home && *home) snprintf(buf, sizeof buf, "%s/.cache/kgen", home);
  kg_ctx ignored = {0};
  if (!buf[0] || kg_file_mkdirs_mode(buf, 0700, &ignored) != KG_OK) { /* fall back to /tmp */
    snprintf(buf, sizeof buf, "/tmp/kgen-%u", (unsigned)getuid());
    kg_status st = kg_file_mkdirs_mode(buf, 0700, ctx);
    if (st) return st;
  }
  *out = strdup(buf);
  return *out ? KG_OK : kg_ctx_set(ctx, KG_ENOMEM, "out of memory");
}

/* "gcc 12.2.0" / "clang 16.0.6" from `cc --version`; NULL when cc cannot run. */
static char *cc_version(const char *cc) {
  char *argv[] = {(char *)cc, "--version", NULL};
  char *out = NULL;
  int rc = kg_proc_capture(argv, NULL, true, &out);
  if (rc != 0 || !out) {
    free(out);
    return NULL;
  }
  out[strcspn(out, "\n")] = '\0';
  const char *kind = strstr(out, "clang")                                              ? "clang"
                     : strstr(out, "gcc") || strstr(out, "GCC") || strstr(out, "cc (") ? "gcc"
                                                                                       : cc;
  const char *ver = NULL;
  const char *v = strstr(out, "version ");
  if (v) {
    ver = v + 8;
  } else {
    ver = strrchr(out, ' ');
    ver = ver ? ver + 1 : out;
  }
  char vbuf[64];
  snprintf(vbuf, sizeof vbuf, "%.*s", (int)strcspn(ver, " "), ver);
  char *res = NULL;
  if (asprintf(&res, "%s %s", kind, vbuf) < 0) res = NULL;
  free(out);
  return res;
}

kg_status kg_compiler_new(const kg_compile_opts *opts, kg_compiler **out, kg_ctx *ctx) {
  static const kg_compile_opts zero;
  if (!opts) opts = &zero;
  *out = NULL;
  kg_status st;
  kg_compiler *c = calloc(1, sizeof *c);
  if (!c) return kg_ctx_set(ctx, KG_ENOMEM, "out of memory");
  c->backend = opts->backend;
  st = cache_dir_new(opts->cache_dir, &c->cache_dir, ctx);
  if (st != KG_OK) goto fail;
  /* gcc's GOMP_* and clang's __kmpc_* calls both resolve to LLVM's libomp, one runtime. */
  if (!dlopen(KG_OMP_LIB, RTLD_NOW | RTLD_GLOBAL | RTLD_NOLOAD)) dlopen(KG_OMP_LIB, RTLD_NOW | RTLD_GLOBAL);

  if (c->backend == KG_BACKEND_JIT) {
    st = kg_jit_new(c->cache_dir, !opts->no_prelude, opts->extra_flags, &c->jit, ctx);
    if (st != KG_OK) goto fail;
    c->describe = strdup(kg_jit_describe(c->jit));
  } else if (c->backend == KG_BACKEND_CC) {
    const char *cc = opts->cc ? opts->cc : getenv("CC");
    if (!cc || !*cc) cc = "cc";
    c->cc = strdup(cc);
    c->extra = kg_proc_split_args(opts->extra_flags);
    char *ver = cc_version(cc);
    if (!ver) {
      st = kg_ctx_set(ctx, KG_EUNSUPPORTED, "cc backend: '%s --version' failed", cc);
      goto fail;
    }
    if (asprintf(&c->describe, "%s -O3 -march=native -fopenmp%s%s", ver,
                 opts->extra_flags && *opts->extra_flags ? " " : "", opts->extra_flags ? opts->extra_flags : "") < 0)
      c->describe = NULL;
    free(ver);
  } else {
    st = kg_ctx_set(ctx, KG_EINVAL, "unknown backend %d", (int)c->backend);
    goto fail;
  }
  if (!c->describe || (c->backend == KG_BACKEND_CC && (!c->cc || !c->extra))) {
    st = kg_ctx_set(ctx, KG_ENOMEM, "out of memory");
    goto fail;
  }
  *out = c;
  return KG_OK;
fail:
  kg_compiler_free(c);
  return st;
}

void kg_compiler_free(kg_compiler *c) {
  if (!c) return;
  kg_jit_free(c->jit);
  free(c->cc);
  free(c->extra);
  free(c->cache_dir);
  free(c->describe);
  free(c);
}

const char *kg_compiler_describe(const kg_compiler *c) { return c->describe; }

/* `#line 1 "<name>"` + src; quotes, backslashes and control characters in name become '_'. */
static char *with_banner(const char *name, const char *src) {
  size_t nl = strlen(name), sl = strlen(src);
  char *s = malloc(nl + sl + 16);
  if (!s) return NULL;
  char *p = s + sprintf(s, "#line 1 \"");
  for (size_t i = 0; i < nl; i++) {
    unsigned char ch = (unsigned char)name[i];
    *p++ = (ch == '"' || ch == '\\' || ch < 0x20 || ch == 0x7f) ? '_' : (char)ch;
  }
  p += sprintf(p, "\"\n");
  memcpy(p, src, sl + 1);
  return s;
}

/* ctx gets the name and the first few lines of the diagnostics. */
static kg_status compile_failed(kg_ctx *ctx, const char *name, const char *diag) {
  const char *d = diag ? diag : "(no diagnostics)";
  int len = 0, lines = 0;
  while (d[len] && lines < 12) {
    if (d[len] == '\n') lines++;
    len++;
  }
  return kg_ctx_set(ctx, KG_ECOMPILE, "%s: compile failed:\n%.*s", name, len, d);
}

static kg_status cc_compile(kg_compiler *c, const char *src, kg_module *m, char **diag, kg_ctx *ctx) {
  kg_status st = KG_OK;
  char *cpath = NULL, *sopath = NULL, *out = NULL;
  char ompdir[4096], ldir[4200], rpath[4200];
  snprintf(ompdir, sizeof ompdir, "%s", KG_OMP_LIB);
  char *slash = strrchr(ompdir, '/');
  if (slash) *slash = '\0';
  snprintf(ldir, sizeof ldir, "-L%s", ompdir);
  snprintf(rpath, sizeof rpath, "-Wl,-rpath,%s", ompdir);

  if (asprintf(&cpath, "%s/kgcc-XXXXXX.c", c->cache_dir) < 0) {
    cpath = NULL;
    return kg_ctx_set(ctx, KG_ENOMEM, "out of memory");
  }
  int fd = mkstemps(cpath, 2);
  if (fd < 0) {
    st = kg_ctx_set(ctx, KG_EIO, "%s: %s", cpath, strerror(errno));
    free(cpath);
    return st;
  }
  size_t len = strlen(src);
  FILE *f = fdopen(fd, "w");
  if (!f || fwrite(src, 1, len, f) != len || fclose(f) != 0) {
    if (!f) close(fd);
    st = kg_ctx_set(ctx, KG_EIO, "%s: cannot write: %s", cpath, strerror(errno));
    goto done;
  }
  if (asprintf(&sopath, "%.*s.so", (int)(strlen(cpath) - 2), cpath) < 0) {
    sopath = NULL;
    st = kg_ctx_set(ctx, KG_ENOMEM, "out of memory");
    goto done;
  }
  {
    /* libomp before gcc's implicit -lgomp, and --as-needed, so libgomp is never NEEDED. */
    const char *pre[] = {c->cc, "-O3", "-march=native", "-fPIC", "-shared", "-fopenmp"};
    const char *post[] = {"-o", sopath, cpath, "-Wl,--as-needed", ldir, rpath, "-lomp"};
    size_t nextra = 0;
    while (c->extra[nextra]) nextra++;
    size_t n = 0, cap = sizeof pre / sizeof *pre + nextra + sizeof post / sizeof *post + 1;
    char **argv = malloc(cap * sizeof *argv);
    if (!argv) {
      st = kg_ctx_set(ctx, KG_ENOMEM, "out of memory");
      goto done;
    }
    for (size_t i = 0; i < sizeof pre / sizeof *pre; i++) argv[n++] = (char *)pre[i];
    for (size_t i = 0; i < nextra; i++) argv[n++] = c->extra[i];
    for (size_t i = 0; i < sizeof post / sizeof *post; i++) argv[n++] = (char *)post[i];
    argv[n] = NULL;
    int rc = kg_proc_capture(argv, NULL, true, &out);
    free(argv);
    if (rc < 0) {
      st = kg_ctx_set(ctx, KG_EUNSUPPORTED, "%s: cannot run: %s", c->cc, strerror(errno));
      goto done;
    }
    if (rc != 0) {
      st = KG_ECOMPILE;
      goto done;
    }
  }
  m->dl = dlopen(sopath, RTLD_NOW | RTLD_LOCAL);
  if (!m->dl) {
    const char *e = dlerror();
    size_t ol = out ? strlen(out) : 0, el = strlen(e ? e : "dlopen failed");
    char *nb = realloc(out, ol + el + 2);
    if (nb) {
      memcpy(nb + ol, e ? e : "dlopen failed", el);
      nb[ol + el] = '\n';
      nb[ol + el + 1] = '\0';
      out = nb;
    }
    st = KG_ECOMPILE;
  }
done:
  /* The mapping outlives the file: unlink now so nothing is left behind, even on a crash. */
  unlink(cpath);
  if (sopath) unlink(sopath);
  free(cpath);
  free(sopath);
  if (out && !*out) {
    free(out);
    out = NULL;
  }
  *diag = out;
  return st;
}

kg_status kg_compiler_compile(kg_compiler *c, const char *name, const char *src, kg_module **out, char **diag,
                              kg_ctx *ctx) {
  *out = NULL;
  if (diag) *diag = NULL;
  if (!c || !src) return kg_ctx_set(ctx, KG_EINVAL, "kg_compiler_compile: NULL argument");
  if (!name) name = "variant";
  char *full = with_banner(name, src);
  kg_module *m = calloc(1, sizeof *m);
  char *text = NULL;
  kg_status st;
  if (!full || !m) {
    st = kg_ctx_set(ctx, KG_ENOMEM, "out of memory");
    goto fail;
  }
  m->c = c;
  if (c->backend == KG_BACKEND_JIT) st = kg_jit_compile(c->jit, full, &m->jm, &text, ctx);
  else st = cc_compile(c, full, m, &text, ctx);
  if (st == KG_ECOMPILE) compile_failed(ctx, name, text);
  if (st != KG_OK) goto fail;
  free(full);
  if (diag) *diag = text;
  else free(text);
  *out = m;
  return KG_OK;
fail:
  free(full);
  free(m);
  if (diag) *diag = text;
  else free(text);
  return st;
}

/* kg_compiler_compile_all's shared state: the next job to take. */
typedef struct kg_compile_pool {
  kg_compiler *c;
  kg_compile_job *jobs;
  size_t n;
  atomic_size_t next;
} kg_compile_pool;

static void *compile_worker(void *arg) {
  kg_compile_pool *pool = arg;
  for (size_t i; (i = atomic_fetch_add(&pool->next, 1)) < pool->n;) {
    kg_compile_job *j = &pool->jobs[i];
    if (!j->src) continue;
    double t0 = (double)kg_now_ns();
    j->ctx = (kg_ctx){0};
    j->status = kg_compiler_compile(pool->c, j->name, j->src, &j->module, &j->diag, &j->ctx);
    j->ms = ((double)kg_now_ns() - t0) * 1e-6;
  }
  return NULL;
}

void kg_compiler_compile_all(kg_compiler *c, kg_compile_job *jobs, size_t n, int threads) {
  kg_compile_pool pool = {c, jobs, n, 0};
  size_t nsrc = 0;
  for (size_t i = 0; i < n; i++) {
    jobs[i].module = NULL;
    jobs[i].diag = NULL;
    jobs[i].status = KG_OK;
    jobs[i].ms = 0;
    nsrc += jobs[i].src != NULL;
  }
  if (threads <= 0) threads = kg_usable_cpus();
  if ((size_t)threads > nsrc) threads = (int)nsrc;
  pthread_t tid[64];
  pthread_attr_t attr;
  int started = 0;
  bool attr_ok = pthread_attr_init(&attr) == 0;
  /* Clang recurses deeply on some sources: give each thread the main thread's usual 8 MiB and
     more (glibc's default for threads is 2 MiB when RLIMIT_STACK is unlimited). */
  if (attr_ok) pthread_attr_setstacksize(&attr, (size_t)16 << 20);
  for (int k = 1; k < threads && k < 64; k++) /* this thread is the first */
    if (pthread_create(&tid[started], attr_ok ? &attr : NULL, compile_worker, &pool) == 0) started++;
  if (attr_ok) pthread_attr_destroy(&attr);
  compile_worker(&pool);
  for (int k = 0; k < started; k++) pthread_join(tid[k], NULL);
}

void *kg_module_sym(kg_module *m, const char *symbol) {
  if (!m || !symbol) return NULL;
  if (m->jm) return kg_jit_sym(m->jm, symbol);
  if (m->dl) return dlsym(m->dl, symbol);
  return NULL;
}

void kg_module_free(kg_module *m) {
  if (!m) return;
  kg_jit_module_free(m->jm);
  if (m->dl) dlclose(m->dl);
  free(m);
}
