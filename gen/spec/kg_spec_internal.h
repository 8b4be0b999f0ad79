/*
 * kg_spec_internal.h - the spec loader's shared state and helpers (gen/spec/ only): kg_spec.c
 * (helpers, the load), kg_spec_dsl.c (constructors, machine, prelude), kg_spec_space.c
 * (parameters, constraints), kg_spec_fields.c (problems, metrics, the other fields),
 * kg_spec_set.c (--set).  The def table of the kernel is at stack index `def`.
 */
#ifndef KG_SPEC_INTERNAL_H
#define KG_SPEC_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kg_lua.h"
#include "kg_machine.h"
#include "kg_spec.h"
#include "kg_timer.h"

#define MT_KERNEL "kg.kernel"
#define MT_PROBLEM "kg.problem"
#define MT_VALUES "kg.values"
#define KG_SPEC_MAX_VALUES 65536
#define KG_SPEC_MAX_PARAMS 64

typedef struct kg_spec_loader {
  kg_lua kl;
  const char *path;
  kg_spec *spec;
  kg_ctx *ctx;
  int kline;         /* line of `kernel "name"` */
  int nlines;        /* lines in the file */
  char errbuf[4096]; /* a message built in C while Lua runs */
  /* constraint evaluation state */
  int32_t *cur;
  int cur_constraint;
  size_t cap_points;
  int bound;                           /* parameters bound at the running constraint call */
  int blocked;                         /* the unbound parameter it read first, or -1 */
  int32_t *cstate;                     /* [nparams + 1][nconstraints]: depth to retry each constraint */
  unsigned long long nodes;            /* nodes of the backtracking visited */
  unsigned long long enum_deadline_ns; /* kg_now_ns deadline of the whole enumeration */
  uint64_t rng;                        /* splitmix64 state of the estimate and the sample */
  int *okv;                            /* [max nvalues] scratch of a probe */
  int *perm;                           /* [sum of nvalues] value orders of a sample's descent */
  size_t *perm_at;                     /* [nparams] parameter d's part of perm */
  kg_machine machine;                  /* what the spec's `machine` table describes */
} kg_spec_loader;

/** A malloc'd copy of s, or NULL when out of memory. */
char *kg_spec_strdup(const char *s);

/** Set ctx to "path:line: message" (line 0: "path: message") with status st; returns st. */
kg_status kg_spec_fail(kg_spec_loader *ld, int line, kg_status st, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/** The error of a failed Lua load or call (status st, message on the stack) as KG_ESPEC. */
kg_status kg_spec_fail_lua(kg_spec_loader *ld, int st);

/** Whether s is a C identifier. */
bool kg_spec_is_ident(const char *s);

/** Whether s is made of identifier characters only (a name part after a digit is fine). */
bool kg_spec_is_suffix(const char *s);

/** Whether s is a kernel or problem name: letters, digits, '_', '-' and '.'. */
bool kg_spec_is_name(const char *s);

/** " (did you mean 'x'?)" for the known name closest to name, or "" (written into buf). */
const char *kg_spec_suggest(const char *name, const char *const *known, char *buf, size_t cap);

/** The NULL-terminated names joined with ", " into buf. */
const char *kg_spec_join(const char *const *known, char *buf, size_t cap);

/** Whether the value at idx is a table with the metatable registered as tname. */
bool kg_spec_is_obj(lua_State *L, int idx, const char *tname);

/** A description of the value at idx for type errors: "boolean", "number 1.5", "string 'x'". */
const char *kg_spec_describe(lua_State *L, int idx, char *buf, size_t cap);

/** Push the problem's dimensions as a table {name = value}: integers, or floats when as_float. */
void kg_spec_push_dims(lua_State *L, const kg_spec_problem *pr, bool as_float);

/** Call the function at absolute stack index f with the problem's dimensions (integers), leaving
 *  its one result on the stack.  A failing call is KG_ESPEC "<what> failed for problem '<name>':
 *  <Lua's message>" at the spec's line `line` (nothing left on the stack). */
kg_status kg_spec_call_dims(kg_spec_loader *ld, int f, const kg_spec_problem *pr, const char *what, int line);

/** An integer, or a float with an integral value, at idx into *v. */
bool kg_spec_get_int(lua_State *L, int idx, int64_t *v);

/** Number of keys of the table at idx (to detect non-sequence keys). */
size_t kg_spec_count_keys(lua_State *L, int idx);

/** Report the unknown string key (the smallest, for a deterministic message) of table t. */
kg_status kg_spec_check_keys(kg_spec_loader *ld, int t, const char *const *known, const char *where, int line);

/** Optional string field of the def table; *out is a malloc'd copy (dflt when absent; NULL dflt: required). */
kg_status kg_spec_get_string(kg_spec_loader *ld, int def, const char *field, const char *dflt, char **out);

/** lua_CFunction: install the constructors kernel, problem, values, enum, pow2, range (kg_spec_dsl.c). */
int kg_spec_install_dsl(lua_State *L);

/** lua_CFunction: install the read-only global `machine` from the kg_machine given as light userdata. */
int kg_spec_install_machine(lua_State *L);

/** Run every *.lua of the prelude folder (lib/ beside the spec, else $KGEN_ROOT/specs/lib), in name order. */
kg_status kg_spec_load_prelude(kg_spec_loader *ld);

/** params: the parameters in declaration order (kg_spec_space.c). */
kg_status kg_spec_read_params(kg_spec_loader *ld, int def);

/** constraints: the valid points enumerated by backtracking into spec->points. */
kg_status kg_spec_read_constraints(kg_spec_loader *ld, int def);

/** problems: flattened one level, dimensions sorted (kg_spec_fields.c). */
kg_status kg_spec_read_problems(kg_spec_loader *ld, int def);

/** metrics: bytes and flops evaluated for every problem. */
kg_status kg_spec_read_metrics(kg_spec_loader *ld, int def);

/** bound and cold (kg_spec_roofline.c), evaluated for every problem; after the metrics. */
kg_status kg_spec_read_roofline(kg_spec_loader *ld, int def);

/** tolerance, seed, baselines, baseline_threads. */
kg_status kg_spec_read_misc(kg_spec_loader *ld, int def);

/** roles = { role = name }: what parameters and dimensions mean to kgen (threads, ...). */
kg_status kg_spec_read_roles(kg_spec_loader *ld, int def);

/** fusion = { pattern, unfused, bytes_unfused, quick }: per-problem patterns (kg_spec_fusion.c);
 *  after the problems and the baselines. */
kg_status kg_spec_read_fusion(kg_spec_loader *ld, int def);

/** The template file: beside the spec, then ../templates/; sets spec->template_path. */
kg_status kg_spec_resolve_template(kg_spec_loader *ld, const char *tmpl);

#endif
