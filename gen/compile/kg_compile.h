/*
 * kg_compile.h - compile a C source string into callable code: in-process Clang 16 + ORC
 * LLJIT (backend "jit"), or gcc/clang as a subprocess + dlopen (backend "cc").
 *
 * Both backends compile with -O3 for the host CPU (LLVM 16 does not know Zen5: the JIT maps
 * "generic" to x86-64 plus the host's feature list) with OpenMP enabled; OpenMP calls in
 * generated code resolve to the process's libomp.  A source that fails to compile returns
 * KG_ECOMPILE with the compiler's diagnostics as text; it never ends the process.
 * Only this module owns executable memory.
 */
#ifndef KG_COMPILE_H
#define KG_COMPILE_H

#include <stdbool.h>
#include <stddef.h>

#include "kg_status.h"

typedef enum kg_backend { KG_BACKEND_JIT, KG_BACKEND_CC } kg_backend;

/** Options for kg_compiler_new; zero-initialised means: JIT, with the prelude, -O3. */
typedef struct kg_compile_opts {
  kg_backend backend;
  bool no_prelude;         /**< JIT: do not use the precompiled-header prelude */
  const char *cc;          /**< cc backend: the compiler command; NULL = $CC or "cc" */
  const char *extra_flags; /**< appended to the compile flags (space-separated); may be NULL */
  const char *cache_dir;   /**< where the prelude PCH and cc objects go; NULL = $XDG_CACHE_HOME/kgen
                               or ~/.cache/kgen, falling back to /tmp/kgen-<uid> */
} kg_compile_opts;

typedef struct kg_compiler kg_compiler;
typedef struct kg_module kg_module;

/** Parse "jit" or "cc" into *out; KG_EINVAL otherwise. */
kg_status kg_backend_parse(const char *name, kg_backend *out, kg_ctx *ctx);

/** "jit" or "cc". */
const char *kg_backend_name(kg_backend b);

/**
 * Create a compiler.  The JIT builds (or reuses, keyed by a hash of its inputs) the prelude PCH
 * in the cache directory.  Errors: KG_EUNSUPPORTED (backend unavailable), KG_EIO, KG_ECOMPILE
 * (prelude failed).  Free with kg_compiler_free.
 */
kg_status kg_compiler_new(const kg_compile_opts *opts, kg_compiler **out, kg_ctx *ctx);

/** Free a compiler; every module it made must have been freed first.  NULL is a no-op. */
void kg_compiler_free(kg_compiler *c);

/**
 * The compiler and flags as a string for the machine fingerprint ("clang 16.0.6 -O3
 * -march=x86-64 +avx512f ..." or "gcc 12.2.0 -O3 -march=native ..."); owned by c.
 */
const char *kg_compiler_describe(const kg_compiler *c);

/**
 * Compile `src` (NUL-terminated C; `name` labels it in diagnostics, e.g. "stream[unroll=4]")
 * into a module.  On success *out is a new module (free with kg_module_free).  On KG_ECOMPILE
 * *diag (when diag is not NULL) receives the malloc'd diagnostics text (caller frees) and ctx
 * their first lines; warnings of a successful compile also land in *diag (or NULL when none).
 */
kg_status kg_compiler_compile(kg_compiler *c, const char *name, const char *src, kg_module **out, char **diag,
                              kg_ctx *ctx);

/** One compile of kg_compiler_compile_all: `name` and `src` in (src NULL: skipped, nothing out),
 *  the rest out, each as kg_compiler_compile's (module, diag and the status with its message in
 *  ctx) plus the compile's wall time in ms.  The caller owns module and diag. */
typedef struct kg_compile_job {
  const char *name;
  const char *src;
  kg_module *module;
  char *diag;
  kg_status status;
  double ms;
  kg_ctx ctx;
} kg_compile_job;

/**
 * Compile jobs[0..n) on up to `threads` threads at once (<= 0: kg_usable_cpus()), each exactly as kg_compiler_compile would: a failure is the job's, never the
 * call's.  Both backends compile concurrently (the JIT: one LLVM context and Clang instance per
 * compile; cc: one subprocess each).  Falls back to one thread when no thread can start.
 */
void kg_compiler_compile_all(kg_compiler *c, kg_compile_job *jobs, size_t n, int threads);

/** Address of `symbol` in m, or NULL when it does not exist. */
void *kg_module_sym(kg_module *m, const char *symbol);

/** Release a module's code and memory.  NULL is a no-op. */
void kg_module_free(kg_module *m);

#endif
