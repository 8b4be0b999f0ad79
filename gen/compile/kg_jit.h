/*
 * kg_jit.h - internal: the C interface of kg_jit.cpp (in-process Clang 16 + ORC LLJIT).
 * Only kg_compile.c uses it; everyone else goes through kg_compile.h.
 */
#ifndef KG_JIT_H
#define KG_JIT_H

#include <stdbool.h>

/* kg_status.h has no C++ guards of its own. */
#ifdef __cplusplus
extern "C" {
#endif

#include "kg_status.h"

typedef struct kg_jit kg_jit;
typedef struct kg_jit_module kg_jit_module;

/**
 * Create the JIT: target = host (LLVM 16 "generic" becomes x86-64 + the host feature list).
 * With `prelude`, build or reuse the prelude PCH under cache_dir (must exist).  extra_flags is
 * space-separated driver flags or NULL.  Errors: KG_EUNSUPPORTED, KG_EIO, KG_ECOMPILE.
 */
kg_status kg_jit_new(const char *cache_dir, bool prelude, const char *extra_flags, kg_jit **out, kg_ctx *ctx);
void kg_jit_free(kg_jit *j);
/** "clang 16.0.6 -O3 -fopenmp -march=x86-64 +avx2,..."; owned by j. */
const char *kg_jit_describe(const kg_jit *j);
/** Compile C `src` (already carrying its #line banner); see kg_compiler_compile for diag. */
kg_status kg_jit_compile(kg_jit *j, const char *src, kg_jit_module **out, char **diag, kg_ctx *ctx);
void *kg_jit_sym(kg_jit_module *m, const char *symbol);
void kg_jit_module_free(kg_jit_module *m);

#ifdef __cplusplus
}
#endif

#endif
