/*
 * kg_file.h - files (gen/util/): reading a whole file, mkdir -p, and atomic output shared by
 * everything kgen writes (tuned/ reports, machine profiles, bench reports, the JIT's prelude
 * header): stage to PATH.tmp.<pid>, fsync, rename.  A reader never sees half a file and a failed
 * run leaves the old file in place.
 */
#ifndef KG_FILE_H
#define KG_FILE_H

#include <stddef.h>

#include <jansson.h>

#include "kg_status.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Read the whole file at path into *buf (malloc'd, NUL-terminated; the caller frees it) and
 *  its length (without the NUL) into *len.  Errors: KG_EIO (the message names the path and the
 *  reason), KG_ENOMEM. */
kg_status kg_file_read(const char *path, char **buf, size_t *len, kg_ctx *ctx);

/** mkdir -p path.  Errors: KG_EIO (the message names the directory). */
kg_status kg_file_mkdirs(const char *path, kg_ctx *ctx);

/** mkdir -p path, creating the missing directories with `mode` (before the umask; the JIT's
 *  cache uses 0700).  Errors: KG_EIO (the message names the directory). */
kg_status kg_file_mkdirs_mode(const char *path, unsigned mode, kg_ctx *ctx);

/** Write data[len] to path.tmp.<pid> and fsync it; kg_file_commit renames it into place.
 *  Errors: KG_EIO (the temporary file is removed). */
kg_status kg_file_stage(const char *path, const char *data, size_t len, kg_ctx *ctx);

/** Rename the staged path.tmp.<pid> to path.  Errors: KG_EIO. */
kg_status kg_file_commit(const char *path, kg_ctx *ctx);

/** Remove a staged path.tmp.<pid> (after a failure elsewhere). */
void kg_file_discard(const char *path);

/** Stage and commit in one go; the parent directory is created when missing. */
kg_status kg_file_write_atomic(const char *path, const char *data, size_t len, kg_ctx *ctx);

/** Dump root (indented, keys in insertion order, newline-terminated) atomically to path.
 *  Errors: KG_ENOMEM, KG_EIO. */
kg_status kg_file_write_json(const char *path, const json_t *root, kg_ctx *ctx);

#ifdef __cplusplus
}
#endif

#endif
