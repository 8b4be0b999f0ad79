/*
 * kg_machine.h - machine fingerprint (hwloc topology + cpuid + /proc and uname) and the short
 * stable machine-id that names directories under tuned/.
 */
#ifndef KG_MACHINE_H
#define KG_MACHINE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "kg_status.h"

#define KG_MAX_ISA 64

typedef struct kg_machine {
  char id[80];        /**< e.g. "zen5-avx512-2c-3f9a1c0d": readable prefix + 8 hex of a hash
                             of the fields that change code speed (vendor, family, model, model
                             name, ISA flags, cores, threads, cache sizes) */
  char vendor[32];    /**< "AuthenticAMD" */
  char cpu[128];      /**< model name */
  char microarch[32]; /**< "zen5", "zen4", "skylake-avx512", ... or "unknown" */
  int family, model, stepping;
  int nisa;
  char isa[KG_MAX_ISA][24]; /**< ISA flags kgen cares about, in fixed order: sse4_2, avx, avx2,
                                 fma, avx512f, avx512bw, avx512vl, avx512_vnni, avx512_bf16,
                                 amx_tile, ... (only those present) */
  int cores, threads;       /**< physical cores and hardware threads (hwloc) */
  uint64_t l1d, l2, l3;     /**< bytes per instance; 0 when unknown */
  uint64_t memory;          /**< bytes of RAM */
  char os[128];             /**< PRETTY_NAME of /etc/os-release */
  char kernel[128];         /**< uname -r */
  char governor[32];        /**< cpufreq governor, or "unavailable" */
} kg_machine;

/** The CPUs this process may run on (its affinity mask), at least 1. */
int kg_usable_cpus(void);

/** Detect this machine into *m.  Errors: KG_EIO when nothing can be read (hwloc failure). */
kg_status kg_machine_detect(kg_machine *m, kg_ctx *ctx);

/** Whether m has ISA flag `flag` ("avx512f"). */
int kg_machine_has(const kg_machine *m, const char *flag);

/**
 * The fingerprint as a JSON object with keys id, cpu, vendor, microarch, family, model,
 * stepping, isa (array), cores, threads, caches {l1d, l2, l3}, memory, os, kernel, governor.
 * New reference owned by the caller; NULL on allocation failure.
 */
json_t *kg_machine_to_json(const kg_machine *m);

/**
 * The inverse of kg_machine_to_json, for tests and for describing another machine
 * (KGEN_MACHINE_OVERRIDE): fills *m from object j.  Keys absent from j keep the values *m has
 * (start from a detected or zeroed machine); "isa" (an array of flag strings) replaces the whole
 * ISA list.  Errors: KG_EINVAL (j not an object, a key of the wrong type, more than KG_MAX_ISA
 * flags), with the key named in ctx.
 */
kg_status kg_machine_from_json(const json_t *j, kg_machine *m, kg_ctx *ctx);

/**
 * Load a machine description: the JSON file at `path` (an object as kg_machine_to_json writes,
 * or one with such an object under "machine", as tuned/machines/<id>.json has), applied over
 * a zeroed machine with id "override".  Errors: KG_EIO (unreadable or invalid JSON), KG_EINVAL
 * (see kg_machine_from_json); messages name the file.
 */
kg_status kg_machine_load(const char *path, kg_machine *m, kg_ctx *ctx);

#endif
