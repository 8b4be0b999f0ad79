/*
 * kgen_rt.h - the shipped library's dispatch runtime (internal; copied by `kgen ship` into
 * the generated project, compiled at baseline x86-64, no Lua or LLVM).
 *
 * Once, at first use: detect the CPU (cpuid features the OS enabled through xgetbv, family and
 * model, usable cores from sched_getaffinity capped by OMP_NUM_THREADS, cache sizes), apply
 * KGEN_MAX_ISA=avx2|avx512 and KGEN_MACHINE=<id>, and choose a machine entry of the generated
 * tables: the requested id, else the entry of this CPU, else the nearest compatible one (same
 * ISA level or lower, then microarchitecture, cores, caches), else none (the per-tier
 * fallbacks: the generalist built for AVX2, or the portable variant).  Per call, a kernel's
 * front (templates/<kernel>.front.c) asks kgr_choose for a variant given its key dimensions;
 * the answer is cached per thread, so a repeated shape costs one hash look-up (inlined).
 * kgr_team_run (kgen_pool.c, declared in kg_team.h) is the variants' one shared helper team.
 * A site file (per-machine tuning at install, issue 12) overrides choices through
 * kgr_site_choice: a weak hook that returns -1 (no opinion) unless a site module defines it;
 * kgr_choose consults it on the slow path, before the shipped tables.
 */
#ifndef KGEN_RT_H
#define KGEN_RT_H

#include <stddef.h>
#include <stdint.h>

/* ISA features the variants are compiled for (bit masks). */
enum {
  KGR_AVX2 = 1 << 0,
  KGR_FMA = 1 << 1,
  KGR_F16C = 1 << 2,
  KGR_BMI2 = 1 << 3,
  KGR_AVX512F = 1 << 4,
  KGR_AVX512DQ = 1 << 5,
  KGR_AVX512CD = 1 << 6,
  KGR_AVX512BW = 1 << 7,
  KGR_AVX512VL = 1 << 8,
  KGR_AVX512VNNI = 1 << 9
};
#define KGR_AVX2_TIER (KGR_AVX2 | KGR_FMA | KGR_F16C | KGR_BMI2)
#define KGR_AVX512_ANY (KGR_AVX512F | KGR_AVX512DQ | KGR_AVX512CD | KGR_AVX512BW | KGR_AVX512VL | KGR_AVX512VNNI)

/** A machine entry of tuned/ (generated). */
typedef struct kgr_machine {
  const char *id, *vendor, *microarch, *cpu;
  int family, model;
  unsigned isa; /* KGR_* it has */
  int cores;
  int64_t l1d, l2, l3;
} kgr_machine;

/** A shipped variant (generated): its symbol prefix, required ISA, parameters, thread count. */
typedef struct kgr_variant {
  const char *prefix, *params;
  unsigned isa;
  int threads;
  void (*set_thread_cap)(int);
} kgr_variant;

/** One tuned problem of one machine: its dimensions (the kernel's dim_names order) -> variant. */
typedef struct kgr_entry {
  int machine, variant;
  const char *problem;
  const int64_t *dims;
} kgr_entry;

/** A kernel's generated tables. */
typedef struct kgr_table {
  const char *kernel;
  int nvariants;
  const kgr_variant *variants;
  int ndims;
  const char *const *dim_names; /* sorted */
  int nentries;
  const kgr_entry *entries;
  const int *generalist;                /* [nmachines]: variant, or -1 when the machine has no entry */
  int fallback_avx2, fallback_portable; /* variants; -1 when none */
} kgr_table;

/** What a kernel's front supplies: its key dimensions (names as in the tuned problems), which
 *  of them count in log2 distance (the others must match: they go into the regime too), and
 *  its regime function (e.g. decode m == 1 vs batched). */
typedef struct kgr_front {
  int nkey;
  const char *const *key_names;
  const unsigned char *log2; /* [nkey] 1: distance dimension, 0: must match */
  int64_t (*regime)(const int64_t *key);
} kgr_front;

/** The generated machine list and kernel tables (kgen_tables.c). */
extern const kgr_machine kgr_machines[];
extern const int kgr_nmachines;
extern const kgr_table *const kgr_tables[];
extern const int kgr_ntables;

/* Internal symbols of the library: hidden, so calls between its files bind directly (no PLT). */
#define KGR_HIDDEN __attribute__((visibility("hidden")))

#define KGR_MAX_KEY 8
#define KGR_CACHE 256 /* per-thread choice cache slots */

/** One slot of a thread's choice cache: table, key (zero-padded to KGR_MAX_KEY), variant. */
typedef struct kgr_slot {
  const kgr_table *t;
  int64_t key[KGR_MAX_KEY];
  int variant;
} kgr_slot;

/** This thread's choice cache ([KGR_CACHE] slots, allocated at its first slow-path choice and
 *  freed at its exit), or NULL before.  One initial-exec TLS word: the hot path reads it with
 *  one load from the thread pointer, where a __thread array in a shared library costs a call
 *  of __tls_get_addr. */
extern __thread kgr_slot *kgr_tcache __attribute__((tls_model("initial-exec"))) KGR_HIDDEN;

/** The slow path of kgr_choose: decide, cache, return (or -1 with the error set). */
KGR_HIDDEN int kgr_choose_slow(const kgr_table *t, const kgr_front *front, const int64_t *key);

/** The cache slot of (t, key). */
static inline unsigned kgr_slot_of(const kgr_table *t, int nkey, const int64_t *key) {
  uint64_t h = (uint64_t)(uintptr_t)t;
  for (int i = 0; i < nkey; i++) h = (h ^ (uint64_t)key[i]) * 0x100000001b3ull;
  return (unsigned)((h ^ (h >> 29)) % KGR_CACHE);
}

/**
 * The variant of table t for key[front->nkey], or -1 when no usable variant exists (the error
 * is then set).  Thread-safe; initialises the runtime on first use.  The hot path (a shape this
 * thread has seen): a TLS load, a hash of the key and one slot compared, inlined in the front.
 */
static inline int kgr_choose(const kgr_table *t, const kgr_front *front, const int64_t *key) {
  const kgr_slot *c = kgr_tcache;
  if (__builtin_expect(c != NULL, 1)) {
    const kgr_slot *s = &c[kgr_slot_of(t, front->nkey, key)];
    int same = s->t == t;
    for (int i = 0; i < front->nkey; i++) same &= s->key[i] == key[i];
    if (__builtin_expect(same, 1)) return s->variant;
  }
  return kgr_choose_slow(t, front, key);
}

/** Usable cores (affinity, capped by OMP_NUM_THREADS); initialises the runtime on first use. */
KGR_HIDDEN int kgr_usable_cores(void);

/**
 * The site override: the variant of table t for key that a site file chose on this machine, or
 * -1 (the default, weak definition: no site file).  Called on the slow path only (the result is
 * cached with the rest); must return a variant this CPU can run.
 */
int kgr_site_choice(const kgr_table *t, const kgr_front *front, const int64_t *key);

/** Record status with a printf-style message as this thread's last error; returns status. */
KGR_HIDDEN int kgr_fail(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
