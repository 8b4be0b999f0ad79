/*
 * fuzz_common.h - shared by the libFuzzer targets (fuzz/fuzz_*.c): a private temporary folder
 * and whole-file writes.  Built only with -DKG_FUZZ=ON and Clang (scripts/fuzz.sh).
 */
#ifndef KG_FUZZ_COMMON_H
#define KG_FUZZ_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A folder of this process's own, made once: /tmp/kgen-fuzz-XXXXXX. */
static inline const char *fuzz_dir(void) {
  static char dir[64];
  if (!dir[0]) {
    snprintf(dir, sizeof dir, "/tmp/kgen-fuzz-XXXXXX");
    if (!mkdtemp(dir)) abort();
  }
  return dir;
}

/* Write len bytes to fuzz_dir()/name; returns the path (static buffer per call site's cap). */
static inline const char *fuzz_write(const char *name, const void *data, size_t len, char *path, size_t cap) {
  snprintf(path, cap, "%s/%s", fuzz_dir(), name);
  FILE *f = fopen(path, "wb");
  if (!f) abort();
  if (len && fwrite(data, 1, len, f) != len) abort();
  fclose(f);
  return path;
}

/* The Lua limits, small: a runaway input costs a fraction of a second, not ten. */
static inline void fuzz_limits(void) { setenv("KGEN_LUA_TIME_LIMIT", "0.5", 1); }

#endif
