/*
 * kg_machine.c - machine fingerprint: hwloc for topology and caches, cpuid for vendor, model
 * and ISA flags (checked against what the OS enables in XCR0), /etc/os-release, uname and the
 * cpufreq governor.  The id hashes only what changes code speed, so it is stable across runs.
 */
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#include "kg_machine.h"

#include <sched.h>

#include <hwloc.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <xxhash.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define KG_X86 1
#endif

/* Copy src into dst[cap], truncating (snprintf("%s") would trip -Wformat-truncation). */
static void set_str(char *dst, size_t cap, const char *src) {
  size_t n = strlen(src);
  if (n >= cap) n = cap - 1;
  memcpy(dst, src, n);
  dst[n] = '\0';
}

static void copy_trimmed(char *dst, size_t cap, const char *src) {
  while (*src == ' ' || *src == '\t') src++;
  set_str(dst, cap, src);
  size_t n = strlen(dst);
  while (n > 0 && (dst[n - 1] == ' ' || dst[n - 1] == '\n' || dst[n - 1] == '\r' || dst[n - 1] == '\t'))
    dst[--n] = '\0';
}

static void add_isa(kg_machine *m, const char *flag) {
  if (m->nisa < KG_MAX_ISA) snprintf(m->isa[m->nisa++], sizeof m->isa[0], "%s", flag);
}

#ifdef KG_X86
static uint64_t xgetbv0(void) {
  uint32_t lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return ((uint64_t)hi << 32) | lo;
}

static void detect_cpuid(kg_machine *m) {
  unsigned a, b, c, d, maxleaf;
  if (!__get_cpuid(0, &maxleaf, &b, &c, &d)) return;
  memcpy(m->vendor, &b, 4);
  memcpy(m->vendor + 4, &d, 4);
  memcpy(m->vendor + 8, &c, 4);
  m->vendor[12] = '\0';

  __cpuid(1, a, b, c, d);
  int base_family = (a >> 8) & 0xf, base_model = (a >> 4) & 0xf;
  m->stepping = a & 0xf;
  m->family = base_family == 0xf ? base_family + (int)((a >> 20) & 0xff) : base_family;
  m->model = (base_family == 0x6 || base_family == 0xf) ? (int)(((a >> 16) & 0xf) << 4) + base_model : base_model;
  unsigned ecx1 = c;
  /* What the OS saves on context switch: SSE+AVX state (bits 1, 2), AVX-512 (5-7), AMX (17, 18). */
  uint64_t xcr0 = (ecx1 & bit_OSXSAVE) ? xgetbv0() : 0;
  int os_avx = (xcr0 & 0x6) == 0x6, os_avx512 = os_avx && (xcr0 & 0xe0) == 0xe0, os_amx = (xcr0 & 0x60000) == 0x60000;

  unsigned b7 = 0, c7 = 0, d7 = 0, a71 = 0;
  if (maxleaf >= 7) {
    __cpuid_count(7, 0, a, b7, c7, d7);
    if (a >= 1) __cpuid_count(7, 1, a71, b, c, d);
  }
  if (ecx1 & (1u << 20)) add_isa(m, "sse4_2");
  if (os_avx && (ecx1 & (1u << 28))) add_isa(m, "avx");
  if (os_avx && (b7 & (1u << 5))) add_isa(m, "avx2");
  if (os_avx && (ecx1 & (1u << 12))) add_isa(m, "fma");
  if (os_avx && (ecx1 & (1u << 29))) add_isa(m, "f16c");
  if (b7 & (1u << 8)) add_isa(m, "bmi2");
  if (os_avx512) {
    if (b7 & (1u << 16)) add_isa(m, "avx512f");
    if (b7 & (1u << 17)) add_isa(m, "avx512dq");
    if (b7 & (1u << 28)) add_isa(m, "avx512cd");
    if (b7 & (1u << 30)) add_isa(m, "avx512bw");
    if (b7 & (1u << 31)) add_isa(m, "avx512vl");
    if (c7 & (1u << 11)) add_isa(m, "avx512_vnni");
    if (a71 & (1u << 5)) add_isa(m, "avx512_bf16");
    if (d7 & (1u << 23)) add_isa(m, "avx512_fp16");
    if (c7 & (1u << 1)) add_isa(m, "avx512_vbmi");
  }
  if (os_avx && (a71 & (1u << 4))) add_isa(m, "avx_vnni");
  if (os_amx) {
    if (d7 & (1u << 24)) add_isa(m, "amx_tile");
    if (d7 & (1u << 22)) add_isa(m, "amx_bf16");
    if (d7 & (1u << 25)) add_isa(m, "amx_int8");
  }

  unsigned maxext = __get_cpuid_max(0x80000000u, NULL);
  if (maxext >= 0x80000004u) {
    unsigned r[12];
    for (unsigned i = 0; i < 3; i++) __cpuid(0x80000002u + i, r[4 * i], r[4 * i + 1], r[4 * i + 2], r[4 * i + 3]);
    char brand[49];
    memcpy(brand, r, 48);
    brand[48] = '\0';
    copy_trimmed(m->cpu, sizeof m->cpu, brand);
  }
}
#endif

/* Names for the Intel family-6 models we are likely to meet; others read "intel-6-<model>". */
static const char *intel_model_name(int model, int stepping) {
  switch (model) {
  case 0x3c:
  case 0x3f:
  case 0x45:
  case 0x46: return "haswell";
  case 0x3d:
  case 0x47:
  case 0x4f:
  case 0x56: return "broadwell";
  case 0x4e:
  case 0x5e: return "skylake";
  case 0x55: return stepping >= 5 ? "cascadelake" : "skylake-avx512";
  case 0x8e:
  case 0x9e: return "kabylake";
  case 0x6a:
  case 0x6c: return "icelake-server";
  case 0x7d:
  case 0x7e: return "icelake-client";
  case 0x8c:
  case 0x8d: return "tigerlake";
  case 0x97:
  case 0x9a: return "alderlake";
  case 0xb7:
  case 0xba:
  case 0xbf: return "raptorlake";
  case 0x8f: return "sapphirerapids";
  case 0xcf: return "emeraldrapids";
  case 0xad:
  case 0xae: return "graniterapids";
  }
  return NULL;
}

static void detect_microarch(kg_machine *m) {
  const char *name = "unknown";
  if (strcmp(m->vendor, "AuthenticAMD") == 0) {
    if (m->family == 0x1a) name = "zen5";
    else if (m->family == 0x19) name = kg_machine_has(m, "avx512f") ? "zen4" : "zen3";
    else if (m->family == 0x17) name = m->model >= 0x30 ? "zen2" : "zen";
  } else if (strcmp(m->vendor, "GenuineIntel") == 0) {
    const char *known = m->family == 6 ? intel_model_name(m->model, m->stepping) : NULL;
    if (known) name = known;
    else {
      snprintf(m->microarch, sizeof m->microarch, "intel-%d-%d", m->family, m->model);
      return;
    }
  }
  snprintf(m->microarch, sizeof m->microarch, "%s", name);
}

static int detect_hwloc(kg_machine *m) {
  hwloc_topology_t t;
  if (hwloc_topology_init(&t) != 0) return -1;
  if (hwloc_topology_load(t) != 0) {
    hwloc_topology_destroy(t);
    return -1;
  }
  int pus = hwloc_get_nbobjs_by_type(t, HWLOC_OBJ_PU);
  int cores = hwloc_get_nbobjs_by_type(t, HWLOC_OBJ_CORE);
  m->threads = pus > 0 ? pus : 1;
  m->cores = cores > 0 ? cores : m->threads;
  hwloc_obj_t o;
  for (o = hwloc_get_next_obj_by_type(t, HWLOC_OBJ_L1CACHE, NULL); o;
       o = hwloc_get_next_obj_by_type(t, HWLOC_OBJ_L1CACHE, o))
    if (o->attr->cache.type != HWLOC_OBJ_CACHE_INSTRUCTION) {
      m->l1d = o->attr->cache.size;
      break;
    }
  if ((o = hwloc_get_obj_by_type(t, HWLOC_OBJ_L2CACHE, 0))) m->l2 = o->attr->cache.size;
  if ((o = hwloc_get_obj_by_type(t, HWLOC_OBJ_L3CACHE, 0))) m->l3 = o->attr->cache.size;
  m->memory = hwloc_get_root_obj(t)->total_memory;
  hwloc_topology_destroy(t);
  return 0;
}

static void detect_os(kg_machine *m) {
  snprintf(m->os, sizeof m->os, "unknown");
  FILE *f = fopen("/etc/os-release", "r");
  if (f) {
    char line[512];
    while (fgets(line, sizeof line, f)) {
      if (strncmp(line, "PRETTY_NAME=", 12) != 0) continue;
      char *v = line + 12;
      v[strcspn(v, "\r\n")] = '\0';
      size_t n = strlen(v);
      if (n >= 2 && (v[0] == '"' || v[0] == '\'') && v[n - 1] == v[0]) {
        v[n - 1] = '\0';
        v++;
      }
      if (*v) set_str(m->os, sizeof m->os, v);
      break;
    }
    fclose(f);
  }
  struct utsname u;
  set_str(m->kernel, sizeof m->kernel, uname(&u) == 0 ? u.release : "unknown");
  snprintf(m->governor, sizeof m->governor, "unavailable");
  f = fopen("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor", "r");
  if (f) {
    char g[64];
    if (fgets(g, sizeof g, f)) {
      char tmp[64];
      copy_trimmed(tmp, sizeof tmp, g);
      if (tmp[0]) set_str(m->governor, sizeof m->governor, tmp);
    }
    fclose(f);
  }
}

/* "<microarch>-<avx512|avx2|sse>-<cores>c-<8 hex>": the hash covers vendor, family, model, cpu
 * name, ISA flags, cores, threads and cache sizes (XXH64, upper 32 bits). */
static void make_id(kg_machine *m) {
  char buf[4096];
  int len = snprintf(buf, sizeof buf, "%s|%d|%d|%s|", m->vendor, m->family, m->model, m->cpu);
  for (int i = 0; i < m->nisa && len < (int)sizeof buf; i++)
    len += snprintf(buf + len, sizeof buf - (size_t)len, "%s,", m->isa[i]);
  if (len < (int)sizeof buf)
    len += snprintf(buf + len, sizeof buf - (size_t)len, "|%d|%d|%llu|%llu|%llu", m->cores, m->threads,
                    (unsigned long long)m->l1d, (unsigned long long)m->l2, (unsigned long long)m->l3);
  if (len > (int)sizeof buf - 1) len = (int)sizeof buf - 1;
  uint64_t h = XXH64(buf, (size_t)len, 0);
  const char *cls = kg_machine_has(m, "avx512f") ? "avx512" : kg_machine_has(m, "avx2") ? "avx2" : "sse";
  snprintf(m->id, sizeof m->id, "%s-%s-%dc-%08x", m->microarch, cls, m->cores, (unsigned)(h >> 32));
}

int kg_usable_cpus(void) {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) return CPU_COUNT(&set);
  return 1;
}

kg_status kg_machine_detect(kg_machine *m, kg_ctx *ctx) {
  if (!m) return kg_ctx_set(ctx, KG_EINVAL, "kg_machine_detect: m is NULL");
  memset(m, 0, sizeof *m);
  snprintf(m->vendor, sizeof m->vendor, "unknown");
  snprintf(m->cpu, sizeof m->cpu, "unknown");
#ifdef KG_X86
  detect_cpuid(m);
#endif
  if (!m->cpu[0]) snprintf(m->cpu, sizeof m->cpu, "unknown");
  detect_microarch(m);
  if (detect_hwloc(m) != 0) return kg_ctx_set(ctx, KG_EIO, "kg_machine_detect: hwloc could not load the topology");
  detect_os(m);
  make_id(m);
  return KG_OK;
}

int kg_machine_has(const kg_machine *m, const char *flag) {
  for (int i = 0; i < m->nisa; i++)
    if (strcmp(m->isa[i], flag) == 0) return 1;
  return 0;
}

json_t *kg_machine_to_json(const kg_machine *m) {
  json_t *isa = json_array();
  json_t *caches =
      json_pack("{s:I, s:I, s:I}", "l1d", (json_int_t)m->l1d, "l2", (json_int_t)m->l2, "l3", (json_int_t)m->l3);
  if (!isa || !caches) goto fail;
  for (int i = 0; i < m->nisa; i++)
    if (json_array_append_new(isa, json_string(m->isa[i])) != 0) goto fail;
  /* "o" steals the references to isa and caches, also when json_pack fails. */
  return json_pack("{s:s, s:s, s:s, s:s, s:i, s:i, s:i, s:o, s:i, s:i, s:o, s:I, s:s, s:s, s:s}", "id", m->id, "cpu",
                   m->cpu, "vendor", m->vendor, "microarch", m->microarch, "family", m->family, "model", m->model,
                   "stepping", m->stepping, "isa", isa, "cores", m->cores, "threads", m->threads, "caches", caches,
                   "memory", (json_int_t)m->memory, "os", m->os, "kernel", m->kernel, "governor", m->governor);
fail:
  json_decref(isa);
  json_decref(caches);
  return NULL;
}

/* Copy string key `key` of j into dst (cap bytes) when present. */
static kg_status kg_machine_str(const json_t *j, const char *key, char *dst, size_t cap, kg_ctx *ctx) {
  const json_t *v = json_object_get(j, key);
  if (!v) return KG_OK;
  if (!json_is_string(v)) return kg_ctx_set(ctx, KG_EINVAL, "machine: '%s' must be a string", key);
  snprintf(dst, cap, "%s", json_string_value(v));
  return KG_OK;
}

/* Integer key `key` of obj into *dst when present. */
static kg_status kg_machine_int(const json_t *obj, const char *key, int64_t *dst, kg_ctx *ctx) {
  const json_t *v = json_object_get(obj, key);
  if (!v) return KG_OK;
  if (!json_is_integer(v) || json_integer_value(v) < 0)
    return kg_ctx_set(ctx, KG_EINVAL, "machine: '%s' must be a non-negative integer", key);
  *dst = (int64_t)json_integer_value(v);
  return KG_OK;
}

kg_status kg_machine_from_json(const json_t *j, kg_machine *m, kg_ctx *ctx) {
  if (!json_is_object(j)) return kg_ctx_set(ctx, KG_EINVAL, "machine: expected a JSON object");
  kg_status st;
  if ((st = kg_machine_str(j, "id", m->id, sizeof m->id, ctx)) ||
      (st = kg_machine_str(j, "cpu", m->cpu, sizeof m->cpu, ctx)) ||
      (st = kg_machine_str(j, "vendor", m->vendor, sizeof m->vendor, ctx)) ||
      (st = kg_machine_str(j, "microarch", m->microarch, sizeof m->microarch, ctx)))
    return st;
  int64_t cores = m->cores, threads = m->threads, l1d = (int64_t)m->l1d, l2 = (int64_t)m->l2, l3 = (int64_t)m->l3;
  if ((st = kg_machine_int(j, "cores", &cores, ctx)) || (st = kg_machine_int(j, "threads", &threads, ctx))) return st;
  const json_t *caches = json_object_get(j, "caches");
  if (caches && !json_is_object(caches)) return kg_ctx_set(ctx, KG_EINVAL, "machine: 'caches' must be an object");
  if (caches && ((st = kg_machine_int(caches, "l1d", &l1d, ctx)) || (st = kg_machine_int(caches, "l2", &l2, ctx)) ||
                 (st = kg_machine_int(caches, "l3", &l3, ctx))))
    return st;
  m->cores = (int)cores;
  m->threads = (int)threads;
  m->l1d = (uint64_t)l1d;
  m->l2 = (uint64_t)l2;
  m->l3 = (uint64_t)l3;
  const json_t *isa = json_object_get(j, "isa");
  if (isa) {
    if (!json_is_array(isa) || json_array_size(isa) > KG_MAX_ISA)
      return kg_ctx_set(ctx, KG_EINVAL, "machine: 'isa' must be an array of at most %d flag strings", KG_MAX_ISA);
    m->nisa = 0;
    size_t i;
    const json_t *f;
    json_array_foreach(isa, i, f) {
      if (!json_is_string(f)) return kg_ctx_set(ctx, KG_EINVAL, "machine: 'isa' entry %zu must be a string", i);
      snprintf(m->isa[m->nisa++], sizeof m->isa[0], "%s", json_string_value(f));
    }
  }
  return KG_OK;
}

kg_status kg_machine_load(const char *path, kg_machine *m, kg_ctx *ctx) {
  memset(m, 0, sizeof *m);
  snprintf(m->id, sizeof m->id, "override");
  json_error_t err;
  json_t *j = json_load_file(path, 0, &err);
  if (!j) return kg_ctx_set(ctx, KG_EIO, "%s:%d: %s", path, err.line, err.text);
  const json_t *inner = json_object_get(j, "machine");
  kg_status st = kg_machine_from_json(json_is_object(inner) ? inner : j, m, ctx);
  if (st) {
    char msg[512];
    snprintf(msg, sizeof msg, "%s", kg_ctx_message(ctx));
    kg_ctx_set(ctx, st, "%s: %s", path, msg);
  }
  json_decref(j);
  return st;
}
