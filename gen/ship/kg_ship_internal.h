/*
 * kg_ship_internal.h - shared by the parts of `kgen ship` (kg_ship.h): kg_ship_collect.c reads
 * tuned/ into the machines, kernels, variants and dispatch entries below; kg_ship_write.c writes
 * the library's CMake project from them; kg_ship.c is the command.  Internal to gen/ship/.
 */
#ifndef KG_SHIP_INTERNAL_H
#define KG_SHIP_INTERNAL_H

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

/* ISA features a variant can be compiled for: JSON name, compiler flag (bit i = entry i). */
typedef struct kg_ship_isa_entry {
  const char *name, *flag;
} kg_ship_isa_entry;
extern const kg_ship_isa_entry kg_ship_isa[];
#define SHIP_NISA 10
#define SHIP_AVX2_TIER 0xfu

/* A growable string. */
typedef struct sbuf {
  char *p;
  size_t n, cap;
  int oom;
} sbuf;

/* Append printf output to b (grows it; b->oom on failure). */
void kg_ship_sbprintf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

typedef struct ship_machine {
  char *id, *vendor, *microarch, *cpu;
  int family, model, cores;
  unsigned isa;
  long long l1d, l2, l3;
} ship_machine;

typedef struct ship_variant {
  const kg_spec *spec; /* the spec as the machine that tuned it saw it (owned by the kernel) */
  int32_t *point;      /* [spec->nparams] value indices into that spec's params */
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
  kg_spec *spec; /* as this machine sees it: its name, problems, and the fallbacks' space */
  /* The spec as each tuned machine sees it (its `machine` table from the report's "machine"
   * object): a spec may offer other tiles or paths per ISA, so a winner's point is read in the
   * space of the machine that measured it.  mspec_id[i] is that machine's id. */
  kg_spec *mspec[256];
  char *mspec_id[256];
  int nmspec;
  int np_max; /* the most parameters of k->spec and any k->mspec (a point buffer's length) */
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

/* strcmp on two char * array elements (qsort). */
int kg_ship_cmp_str(const void *a, const void *b);

/* Read the tuned reports of kernel k (its spec loaded) into s: machines, shipped variants, entries,
 * generalists and fallbacks.  0, or -1 with a message on stderr. */
int kg_ship_collect_kernel(ship *s, ship_kernel *k);

/* The point of a JSON params object, into point[]; 0, or -1 when a value is not in the spec. */
int kg_ship_point_of(const kg_spec *spec, const json_t *params, int32_t *point);

/* The spec of kernel k as machine `id` sees it (k->spec when none was loaded for it). */
const kg_spec *kg_ship_spec_for(const ship_kernel *k, const char *id);

/* The shipped variant of kernel k with this point of spec and this isa (compared by parameter
 * values, so points of two machines' specs match), or -1. */
int kg_ship_variant_find(const ship_kernel *k, const kg_spec *spec, const int32_t *point, unsigned isa);

/* Site tuning (issue 12, kg_ship_site.c): write under s->out the site manifest of each kernel
 * (site/<kernel>.json: build hash, machines, variants, problems and each machine's candidates),
 * one harness module source per variant (site/h_<kernel>_<i>.c: the full template, harness
 * included) and the CMake part that builds them as modules and installs them
 * (KGEN_SITE_MODULES) into cmake_extra.  0, or -1 with a message on stderr. */
int kg_ship_write_site(ship *s, const char *build_hash, sbuf *cmake_extra);

/* Write the whole project under s->out.  0, or -1 with a message on stderr. */
int kg_ship_write(ship *s);

#endif
