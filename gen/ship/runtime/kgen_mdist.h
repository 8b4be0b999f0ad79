/*
 * kgen_mdist.h - the one rule that says how near a machine with tuned results is to this CPU.
 *
 * Shared, header-only, by the shipped library's dispatch (kgen_rt.c: which machine entry of the
 * generated tables to use), `kgen bench` / `kgen verify` (gen/bench/: whose tuned/ winners to
 * measure on a machine absent from tuned/) and kgen-site-tune (which machines' winners to try
 * first), so the three always agree.  `kgen ship` copies it next to kgen_rt.c.  No allocation,
 * no state; baseline x86-64 C99.
 */
#ifndef KGEN_MDIST_H
#define KGEN_MDIST_H

#include <math.h>
#include <stdint.h>
#include <string.h>

/** ISA feature names in the order of the KGR_* bits of kgen_rt.h (bit i = name i); the names are
 *  those of a kgen machine fingerprint's "isa" array. */
#define KGR_NISA 10
static const char *const kgr_isa_names[KGR_NISA] = {"avx2",     "fma",      "f16c",     "bmi2",     "avx512f",
                                                    "avx512dq", "avx512cd", "avx512bw", "avx512vl", "avx512_vnni"};

/** What the rule looks at in a machine.  vendor: cpuid vendor string ("GenuineIntel"); isa: the
 *  KGR_* bits it has; cores: usable cores; l1d, l2, l3: bytes per instance (0: unknown). */
typedef struct kgr_mdesc {
  const char *vendor;
  int family, model;
  unsigned isa;
  int cores;
  int64_t l1d, l2, l3;
} kgr_mdesc;

/* ISA level: 2 AVX-512 (any of its bits, 0x3f0), 1 AVX2, 0 baseline. */
static inline int kgr_mdist_level(unsigned isa) { return (isa & 0x3f0u) ? 2 : (isa & 1u) ? 1 : 0; }

/* |log2(a / b)|, 0 when either is unknown (<= 0). */
static inline double kgr_mdist_log2(double a, double b) { return a <= 0 || b <= 0 ? 0.0 : fabs(log2(a / b)); }

/**
 * Distance of machine m (with tuned results) from cpu, or -1 when m is incompatible (it has an
 * ISA feature cpu lacks, so its variants may not run here).  0 is the same machine; in order of
 * weight: 1000 per ISA level m is below cpu, then 0 / 100 / 200 / 300 for the same vendor,
 * family and model / the same family / the same vendor / another vendor, then 10 per factor of
 * 2 in cores, then 1 per factor of 2 in each cache size.
 */
static inline double kgr_mdist(const kgr_mdesc *m, const kgr_mdesc *cpu) {
  if (m->isa & ~cpu->isa) return -1;
  double d = 1000.0 * (kgr_mdist_level(cpu->isa) - kgr_mdist_level(m->isa));
  const int vendor = m->vendor && cpu->vendor && strcmp(m->vendor, cpu->vendor) == 0;
  d += vendor && m->family == cpu->family && m->model == cpu->model ? 0
       : vendor && m->family == cpu->family                         ? 100
       : vendor                                                     ? 200
                                                                    : 300;
  d += 10.0 * kgr_mdist_log2(m->cores, cpu->cores);
  d += kgr_mdist_log2((double)m->l1d, (double)cpu->l1d) + kgr_mdist_log2((double)m->l2, (double)cpu->l2) +
       kgr_mdist_log2((double)m->l3, (double)cpu->l3);
  return d;
}

/** The KGR_* bits of a list of ISA names (unknown names are ignored). */
static inline unsigned kgr_isa_of_names(const char *const *names, int n) {
  unsigned isa = 0;
  for (int i = 0; i < n; i++)
    for (int b = 0; b < KGR_NISA; b++)
      if (names[i] && !strcmp(names[i], kgr_isa_names[b])) isa |= 1u << b;
  return isa;
}

#endif
