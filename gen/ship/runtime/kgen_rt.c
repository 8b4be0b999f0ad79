/*
 * kgen_rt.c - the shipped library's dispatch runtime (see kgen_rt.h) and the kernel-independent
 * part of the public API: kgen_explain, kgen_strerror, kgen_last_error.
 */
#define _GNU_SOURCE
#include "kgen_rt.h"

#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include "kgen/kgen.h"
#include "kgen_mdist.h"

/* ---- the machine, detected once ---------------------------------------------------------- */

static struct {
  char vendor[16];
  int family, model;
  unsigned isa;     /* usable: the CPU has it and the OS saves its state, after KGEN_MAX_ISA */
  unsigned isa_cpu; /* before KGEN_MAX_ISA */
  int cores;        /* usable (affinity), capped by OMP_NUM_THREADS */
  int64_t l1d, l2, l3;
  int machine;         /* kgr_machines index, or -1: the per-tier fallbacks */
  double machine_dist; /* its distance (0: this CPU's own entry) */
  char how[256];       /* how it was chosen */
} kgr_cpu;

static pthread_once_t kgr_once = PTHREAD_ONCE_INIT;

/* The per-thread choice cache (kgen_rt.h); the key's destructor frees a thread's at its exit. */
__thread kgr_slot *kgr_tcache __attribute__((tls_model("initial-exec")));
static pthread_key_t kgr_tcache_key;

static unsigned kgr_detect_isa(void) {
  unsigned isa = 0;
#if defined(__x86_64__) || defined(__i386__)
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
  const int osxsave = (c >> 27) & 1, fma = (c >> 12) & 1, f16c = (c >> 29) & 1, avx = (c >> 28) & 1;
  if (!osxsave || !avx) return 0;
  unsigned xlo, xhi;
  __asm__ volatile("xgetbv" : "=a"(xlo), "=d"(xhi) : "c"(0));
  const int ymm = (xlo & 6) == 6, zmm = (xlo & 0xe6) == 0xe6; /* SSE, AVX; + opmask, ZMM hi */
  if (!ymm || __get_cpuid_max(0, NULL) < 7) return 0;
  __cpuid_count(7, 0, a, b, c, d);
  if ((b >> 5) & 1) isa |= KGR_AVX2;
  if (fma) isa |= KGR_FMA;
  if (f16c) isa |= KGR_F16C;
  if ((b >> 8) & 1) isa |= KGR_BMI2;
  if (zmm) {
    if ((b >> 16) & 1) isa |= KGR_AVX512F;
    if ((b >> 17) & 1) isa |= KGR_AVX512DQ;
    if ((b >> 28) & 1) isa |= KGR_AVX512CD;
    if ((b >> 30) & 1) isa |= KGR_AVX512BW;
    if ((b >> 31) & 1) isa |= KGR_AVX512VL;
    if ((c >> 11) & 1) isa |= KGR_AVX512VNNI;
  }
#endif
  return isa;
}

static void kgr_detect_id(void) {
#if defined(__x86_64__) || defined(__i386__)
  unsigned a, b, c, d;
  if (__get_cpuid(0, &a, &b, &c, &d)) {
    memcpy(kgr_cpu.vendor, &b, 4), memcpy(kgr_cpu.vendor + 4, &d, 4), memcpy(kgr_cpu.vendor + 8, &c, 4);
    kgr_cpu.vendor[12] = 0;
  }
  if (__get_cpuid(1, &a, &b, &c, &d)) {
    int fam = (a >> 8) & 15, mod = (a >> 4) & 15;
    if (fam == 15) fam += (a >> 20) & 255;
    if (fam == 6 || fam >= 15) mod += ((a >> 16) & 15) << 4;
    kgr_cpu.family = fam, kgr_cpu.model = mod;
  }
#endif
}

static double kgr_log2_ratio(double a, double b) {
  if (a <= 0 || b <= 0) return 0.0;
  return fabs(log2(a / b));
}

/* Distance of machine entry m from this CPU, or -1 when incompatible: the rule of kgen_mdist.h,
 * which `kgen bench` and kgen-site-tune share. */
static double kgr_machine_distance(const kgr_machine *m) {
  const kgr_mdesc e = {m->vendor, m->family, m->model, m->isa, m->cores, m->l1d, m->l2, m->l3};
  const kgr_mdesc c = {kgr_cpu.vendor, kgr_cpu.family, kgr_cpu.model, kgr_cpu.isa,
                       kgr_cpu.cores,  kgr_cpu.l1d,    kgr_cpu.l2,    kgr_cpu.l3};
  return kgr_mdist(&e, &c);
}

static void kgr_tcache_free(void *c) {
  kgr_tcache = NULL;
  free(c);
}

static void kgr_init(void) {
  pthread_key_create(&kgr_tcache_key, kgr_tcache_free);
  kgr_detect_id();
  kgr_cpu.isa_cpu = kgr_cpu.isa = kgr_detect_isa();
  const char *max = getenv("KGEN_MAX_ISA");
  if (max && !strcmp(max, "avx2")) kgr_cpu.isa &= ~(unsigned)KGR_AVX512_ANY;
  else if (max && (!strcmp(max, "x86-64") || !strcmp(max, "none") || !strcmp(max, "portable"))) kgr_cpu.isa = 0;
  cpu_set_t set;
  kgr_cpu.cores = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : (int)sysconf(_SC_NPROCESSORS_ONLN);
  if (kgr_cpu.cores < 1) kgr_cpu.cores = 1;
  const char *omp = getenv("OMP_NUM_THREADS");
  if (omp && atoi(omp) >= 1 && atoi(omp) < kgr_cpu.cores) kgr_cpu.cores = atoi(omp);
#ifdef _SC_LEVEL1_DCACHE_SIZE
  kgr_cpu.l1d = sysconf(_SC_LEVEL1_DCACHE_SIZE);
  kgr_cpu.l2 = sysconf(_SC_LEVEL2_CACHE_SIZE);
  kgr_cpu.l3 = sysconf(_SC_LEVEL3_CACHE_SIZE);
#endif
  /* The machine entry: KGEN_MACHINE when compatible, else the nearest compatible one. */
  kgr_cpu.machine = -1;
  const char *want = getenv("KGEN_MACHINE");
  int asked = -1;
  for (int i = 0; want && i < kgr_nmachines; i++)
    if (!strcmp(kgr_machines[i].id, want)) asked = i;
  if (asked >= 0 && kgr_machine_distance(&kgr_machines[asked]) >= 0) {
    kgr_cpu.machine = asked, kgr_cpu.machine_dist = 0;
    snprintf(kgr_cpu.how, sizeof kgr_cpu.how, "KGEN_MACHINE=%s", want);
  } else {
    double best = -1;
    for (int i = 0; i < kgr_nmachines; i++) {
      double d = kgr_machine_distance(&kgr_machines[i]);
      if (d >= 0 && (best < 0 || d < best)) best = d, kgr_cpu.machine = i;
    }
    kgr_cpu.machine_dist = best;
    const char *why = want ? (asked >= 0 ? "KGEN_MACHINE names an entry this CPU cannot run; "
                                         : "KGEN_MACHINE names no shipped entry; ")
                           : "";
    if (kgr_cpu.machine < 0)
      snprintf(kgr_cpu.how, sizeof kgr_cpu.how, "%sno compatible machine entry: per-tier fallback", why);
    else if (best < 1.0) snprintf(kgr_cpu.how, sizeof kgr_cpu.how, "%sthis CPU's own entry", why);
    else snprintf(kgr_cpu.how, sizeof kgr_cpu.how, "%snearest compatible entry (distance %.2f)", why, best);
  }
  for (int t = 0; t < kgr_ntables; t++)
    for (int v = 0; v < kgr_tables[t]->nvariants; v++)
      if (kgr_tables[t]->variants[v].set_thread_cap) kgr_tables[t]->variants[v].set_thread_cap(kgr_cpu.cores);
  const char *verbose = getenv("KGEN_VERBOSE");
  if (verbose && strcmp(verbose, "0")) {
    fprintf(stderr, "kgen: cpu %s family %d model %d, isa 0x%x (usable 0x%x), %d usable cores; machine %s (%s)\n",
            kgr_cpu.vendor, kgr_cpu.family, kgr_cpu.model, kgr_cpu.isa_cpu, kgr_cpu.isa, kgr_cpu.cores,
            kgr_cpu.machine >= 0 ? kgr_machines[kgr_cpu.machine].id : "(none)", kgr_cpu.how);
  }
}

/* ---- errors -------------------------------------------------------------------------------- */

static __thread char kgr_last[512];

int kgr_fail(int status, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(kgr_last, sizeof kgr_last, fmt, ap);
  va_end(ap);
  return status;
}

const char *kgen_last_error(void) { return kgr_last; }

const char *kgen_strerror(int status) {
  switch (status) {
  case KGEN_OK: return "success";
  case KGEN_EINVAL: return "invalid argument";
  case KGEN_ENOMEM: return "out of memory";
  case KGEN_ERECIPE: return "unknown quantization recipe";
  case KGEN_ENOVARIANT: return "no usable variant for this CPU";
  default: return "unknown status";
  }
}

/* ---- choice --------------------------------------------------------------------------------- */

/* Why the last choice of each table on this thread was made (kgen_explain). */
typedef struct kgr_why {
  const kgr_table *t;
  int variant, entry;
  double dist;
  const char *how;
  int machine; /* the machine entry decided on (kgr_table_machine), or -1 */
  int nkey;
  int64_t key[KGR_MAX_KEY];
  const char *const *key_names;
} kgr_why;

static __thread kgr_why kgr_whys[16];

static int kgr_usable(const kgr_table *t, int v) {
  return v >= 0 && v < t->nvariants && (t->variants[v].isa & ~kgr_cpu.isa) == 0;
}

__attribute__((weak)) int kgr_site_choice(const kgr_table *t, const kgr_front *f, const int64_t *key) {
  (void)t, (void)f, (void)key;
  return -1;
}

/* The machine entry kernel t dispatches on: the chosen one when it has tuned problems of t,
 * else the nearest compatible entry that has (the chosen one may hold other kernels only, as
 * this CPU's own entry with a few kernels tuned here), else the chosen one. */
static int kgr_table_machine(const kgr_table *t) {
  const int mi = kgr_cpu.machine;
  if (mi < 0 || t->generalist[mi] >= 0) return mi;
  int best = -1;
  double bd = 0;
  for (int i = 0; i < kgr_nmachines; i++) {
    const double d = t->generalist[i] >= 0 ? kgr_machine_distance(&kgr_machines[i]) : -1;
    if (d >= 0 && (best < 0 || d < bd)) best = i, bd = d;
  }
  return best >= 0 ? best : mi;
}

/* The slow path: a site file's choice, else the entry of the chosen machine nearest to key, else its generalist, else the
 * per-tier fallbacks. */
static int kgr_decide(const kgr_table *t, const kgr_front *f, const int64_t *key, kgr_why *why) {
  why->t = t, why->entry = -1, why->machine = -1, why->dist = 0, why->nkey = f->nkey, why->key_names = f->key_names;
  memcpy(why->key, key, sizeof(int64_t) * (size_t)f->nkey);
  const int site = kgr_site_choice(t, f, key);
  if (kgr_usable(t, site)) {
    why->how = "the site file's choice (tuned on this machine)";
    return why->variant = site;
  }
  const int mi = why->machine = kgr_table_machine(t);
  if (mi >= 0) {
    int col[KGR_MAX_KEY];
    for (int i = 0; i < f->nkey; i++) {
      col[i] = -1;
      for (int j = 0; j < t->ndims; j++)
        if (!strcmp(t->dim_names[j], f->key_names[i])) col[i] = j;
    }
    const int64_t regime = f->regime(key);
    int best = -1;
    double bd = 0;
    for (int e = 0; e < t->nentries; e++) {
      const kgr_entry *en = &t->entries[e];
      if (en->machine != mi || !kgr_usable(t, en->variant)) continue;
      int64_t ek[KGR_MAX_KEY];
      for (int i = 0; i < f->nkey; i++) ek[i] = col[i] >= 0 ? en->dims[col[i]] : 0;
      if (f->regime(ek) != regime) continue;
      double d = 0;
      int ok = 1;
      for (int i = 0; i < f->nkey && ok; i++) {
        if (f->log2[i]) d += kgr_log2_ratio((double)(ek[i] > 0 ? ek[i] : 1), (double)(key[i] > 0 ? key[i] : 1));
        else ok = ek[i] == key[i];
      }
      if (ok && (best < 0 || d < bd)) best = e, bd = d;
    }
    if (best >= 0) {
      why->entry = best, why->dist = bd,
      why->how = bd == 0 ? "exact tuned problem" : "nearest tuned problem (log2 distance)";
      return why->variant = t->entries[best].variant;
    }
    if (kgr_usable(t, t->generalist[mi])) {
      why->how = "no tuned problem in this regime: the machine's generalist";
      return why->variant = t->generalist[mi];
    }
  }
  if ((kgr_cpu.isa & KGR_AVX2_TIER) == KGR_AVX2_TIER && kgr_usable(t, t->fallback_avx2)) {
    why->how = "no compatible machine entry: the generalist built for AVX2";
    return why->variant = t->fallback_avx2;
  }
  why->how = "no compatible machine entry: the portable variant";
  return why->variant = kgr_usable(t, t->fallback_portable) ? t->fallback_portable : -1;
}

int kgr_choose_slow(const kgr_table *t, const kgr_front *f, const int64_t *key) {
  pthread_once(&kgr_once, kgr_init);
  if (f->nkey > KGR_MAX_KEY) return kgr_fail(KGEN_ENOVARIANT, "kgen: %s: key too long", t->kernel), -1;
  if (!kgr_tcache) {
    kgr_slot *c = calloc(KGR_CACHE, sizeof *c);
    if (!c) return kgr_fail(KGEN_ENOMEM, "kgen: %s: out of memory for the choice cache", t->kernel), -1;
    kgr_tcache = c;
    pthread_setspecific(kgr_tcache_key, c);
  }
  int slot = 0;
  for (int i = 0; i < kgr_ntables; i++)
    if (kgr_tables[i] == t) slot = i % 16;
  const int v = kgr_decide(t, f, key, &kgr_whys[slot]);
  if (v < 0) {
    kgr_fail(KGEN_ENOVARIANT, "kgen: %s: no variant this CPU can run", t->kernel);
    return -1;
  }
  kgr_slot *s = &kgr_tcache[kgr_slot_of(t, f->nkey, key)];
  s->t = t, s->variant = v;
  memset(s->key, 0, sizeof s->key);
  memcpy(s->key, key, sizeof(int64_t) * (size_t)f->nkey);
  return v;
}

int kgr_usable_cores(void) {
  pthread_once(&kgr_once, kgr_init);
  return kgr_cpu.cores;
}

/* ---- explain -------------------------------------------------------------------------------- */

static void kgr_isa_str(unsigned isa, char *buf, size_t cap) {
  static const char *const names[] = {"avx2",     "fma",      "f16c",     "bmi2",     "avx512f",
                                      "avx512dq", "avx512cd", "avx512bw", "avx512vl", "avx512_vnni"};
  size_t n = 0;
  buf[0] = 0;
  for (int i = 0; i < 10; i++)
    if (isa & (1u << i)) n += (size_t)snprintf(buf + n, n < cap ? cap - n : 0, "%s%s", n ? "," : "", names[i]);
  if (!n) snprintf(buf, cap, "x86-64 baseline");
}

int kgen_explain(const char *kernel, char *buf, size_t cap) {
  if (!kernel || !buf || cap == 0) return kgr_fail(KGEN_EINVAL, "kgen_explain: NULL kernel or buffer");
  const kgr_table *t = NULL;
  int slot = 0;
  for (int i = 0; i < kgr_ntables; i++)
    if (!strcmp(kgr_tables[i]->kernel, kernel)) t = kgr_tables[i], slot = i % 16;
  if (!t) return kgr_fail(KGEN_EINVAL, "kgen_explain: unknown kernel '%s'", kernel);
  pthread_once(&kgr_once, kgr_init);
  char isa[256], misa[256];
  kgr_isa_str(kgr_cpu.isa, isa, sizeof isa);
  size_t n = 0;
#define KGR_PUT(...) n += (size_t)snprintf(buf + n, n < cap ? cap - n : 0, __VA_ARGS__)
  KGR_PUT("kernel %s\ncpu: %s family %d model %d, usable isa %s, %d usable cores, l1d %lld l2 %lld l3 %lld\n", kernel,
          kgr_cpu.vendor, kgr_cpu.family, kgr_cpu.model, isa, kgr_cpu.cores, (long long)kgr_cpu.l1d,
          (long long)kgr_cpu.l2, (long long)kgr_cpu.l3);
  if (kgr_cpu.machine >= 0) {
    const kgr_machine *m = &kgr_machines[kgr_cpu.machine];
    kgr_isa_str(m->isa, misa, sizeof misa);
    KGR_PUT("machine entry: %s (%s; %s family %d model %d, %s, isa %s, %d cores, l1d %lld l2 %lld l3 %lld), "
            "machine distance %.2f\n",
            m->id, kgr_cpu.how, m->vendor, m->family, m->model, m->cpu, misa, m->cores, (long long)m->l1d,
            (long long)m->l2, (long long)m->l3, kgr_cpu.machine_dist);
  } else {
    KGR_PUT("machine entry: none (%s)\n", kgr_cpu.how);
  }
  const kgr_why *w = &kgr_whys[slot];
  if (w->t != t) {
    KGR_PUT("no call yet on this thread\n");
  } else {
    KGR_PUT("last decision (the first call of its shape on this thread):");
    for (int i = 0; i < w->nkey; i++) KGR_PUT(" %s=%lld", w->key_names[i], (long long)w->key[i]);
    const kgr_variant *v = &t->variants[w->variant];
    kgr_isa_str(v->isa, misa, sizeof misa);
    KGR_PUT("\nvariant: %s (params %s; isa %s; threads %d, capped at %d)\nchoice: %s", v->prefix, v->params, misa,
            v->threads, kgr_cpu.cores, w->how);
    if (w->entry >= 0) KGR_PUT(": %s, distance %.3f", t->entries[w->entry].problem, w->dist);
    KGR_PUT("\n");
    if (w->machine >= 0 && w->machine != kgr_cpu.machine)
      KGR_PUT("kernel's machine entry: %s (the nearest compatible entry with tuned %s problems)\n",
              kgr_machines[w->machine].id, kernel);
  }
#undef KGR_PUT
  return KGEN_OK;
}
