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

/** The folder of path into buf[size] ("." when path names none, "/" for a file at the root);
 *  returns buf. */
const char *kg_file_parent(const char *path, char *buf, size_t size);

/** mkdir -p path.  Errors: KG_EIO (the message names the directory). */
kg_status kg_file_mkdirs(const char *path, kg_ctx *ctx);

/** mkdir -p path, creating the missing directories with `mode` (before the umask; the JIT's
 *  cache uses 0700).  Errors: KG_EIO (the message names the directory). */
kg_status kg_file_mkdirs_mode(const char *path, unsigned mode, kg_ctx *ctx);

/** Whether files can be created in dir: the missing folders of its path are created, a probe
 *  file is created in it, and all of them are removed again (the file system is left as it
 *  was).  Errors: KG_EIO (the message names the directory and the reason). */
kg_status kg_file_check_writable(const char *dir, kg_ctx *ctx);

/** Write data[len] to path.tmp.<pid>, fsync it and rename it to path; the parent directory is
 *  created when missing.  Errors: KG_EIO (the temporary file is removed), KG_ENOMEM. */
kg_status kg_file_write_atomic(const char *path, const char *data, size_t len, kg_ctx *ctx);

/** Dump root (indented, keys in insertion order, newline-terminated) atomically to path.
 *  Errors: KG_ENOMEM, KG_EIO. */
kg_status kg_file_write_json(const char *path, const json_t *root, kg_ctx *ctx);

/** Write data[len] to path (created or truncated) and fsync it: a file inside a staging
 *  directory that kg_file_swap_dir then makes visible.  Errors: KG_EIO. */
kg_status kg_file_write_synced(const char *path, const char *data, size_t len, kg_ctx *ctx);

/** fsync a directory (its entries: names created or renamed in it).  Errors: KG_EIO. */
kg_status kg_file_sync_dir(const char *dir, kg_ctx *ctx);

/** Make the directory staged visible at target in one step: when target exists the two are
 *  exchanged (Linux renameat2 RENAME_EXCHANGE; staged then holds the old contents, for the caller
 *  to remove), else staged is renamed to target.  Errors: KG_EIO. */
kg_status kg_file_swap_dir(const char *staged, const char *target, kg_ctx *ctx);

/** rm -rf path (files, directories, symlinks not followed); best effort, silent. */
void kg_file_remove_tree(const char *path);

/** Remove what interrupted writes left in dir: entries named NAME.tmp.<pid> (files staged by
 *  kg_file_stage, staging directories) whose process no longer exists.  Those of live processes
 *  (a concurrent writer) stay.  Returns how many were removed. */
int kg_file_clean_stale(const char *dir);

/** Test hook for crash-consistency tests: when the environment variable KGEN_FAULT equals
 *  point, the process kills itself with SIGKILL (as kill -9 would, between two steps of a
 *  write).  Does nothing otherwise. */
void kg_file_fault(const char *point);

#ifdef __cplusplus
}
#endif

#endif
