/*
 * kg_template.h - expand a C template into the source of one variant.
 *
 * A template is valid C: each parameter is a macro with a default (`#ifndef GRAIN / #define
 * GRAIN 64 / #endif`), so the file compiles and is tested on its own.  Bodies that must be
 * unrolled or generated come from Lua slots, which keep a default body for the unexpanded file:
 *
 *   / *$slot fma_body
 *     for i = 0, UNROLL - 1 do emit("acc%d = fmaf(a[i + %d], b[i + %d], acc%d);", i, i, i, i) end
 *   $* /
 *   ... default C body, used when the file is compiled unexpanded ...
 *   / *$end* /
 *
 * (written without the spaces inside the comment markers).  The chunk runs in the same sandbox
 * as specs, with every parameter visible as a global under its macro name (UNROLL) and its spec
 * name (unroll), and `emit(fmt, ...)` appending one line (string.format rules); the whole region
 * from the slot's opening comment to its end marker is replaced by what the chunk emitted.
 *
 * `#include "x.h"` lines naming a file beside the template are inlined once each (include
 * guards keep working), so the emitted source is standalone.  The output opens with a banner
 * naming the spec, the template, the parameters and content hashes (no dates: the same spec and
 * parameters give the same bytes), then one #define per parameter (string parameters define
 * NAME to the value's index and NAME_<value> to each index, so templates write
 * `#if COPY == COPY_nt`).
 */
#ifndef KG_TEMPLATE_H
#define KG_TEMPLATE_H

#include <stddef.h>
#include <stdint.h>

#include "kg_spec.h"
#include "kg_status.h"

/**
 * Expand spec's template for `point` (spec->nparams value indices).  On success *src is a
 * malloc'd NUL-terminated source (caller frees) of *len bytes (len may be NULL).  Errors:
 * KG_EIO (template unreadable), KG_ETEMPLATE (unterminated slot, Lua error in a slot:
 * "template.c:line: message").
 */
kg_status kg_template_emit(const kg_spec *spec, const int32_t *point, char **src, size_t *len, kg_ctx *ctx);

/**
 * xxh64 over the template file and every file it inlines, in inclusion order: the
 * template_hash of the autotune JSON.  Errors: KG_EIO.
 */
kg_status kg_template_hash(const kg_spec *spec, uint64_t *hash, kg_ctx *ctx);

#endif
