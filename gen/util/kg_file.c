/* kg_file.c - reading whole files, mkdir -p, atomic file output (see kg_file.h). */
#include "kg_file.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

kg_status kg_file_mkdirs(const char *path, kg_ctx *ctx) { return kg_file_mkdirs_mode(path, 0777, ctx); }

kg_status kg_file_mkdirs_mode(const char *path, unsigned mode, kg_ctx *ctx) {
  char buf[4096];
  size_t n = strlen(path);
  if (n == 0) return kg_ctx_set(ctx, KG_EIO, "cannot create a directory with an empty name");
  if (n >= sizeof buf) return kg_ctx_set(ctx, KG_EIO, "%.200s...: cannot create directory: name too long", path);
  memcpy(buf, path, n + 1);
  for (char *p = buf + 1;; p++) {
    if (*p == '/' || *p == '\0') {
      char c = *p;
      *p = '\0';
      if (mkdir(buf, (mode_t)mode) != 0 && errno != EEXIST)
        return kg_ctx_set(ctx, KG_EIO, "%s: cannot create directory: %s", buf, strerror(errno));
      *p = c;
      if (c == '\0') break;
    }
  }
  return KG_OK;
}

/* Write data to path.tmp.<pid>, fsync, and leave it for kg_file_commit to rename. */
kg_status kg_file_stage(const char *path, const char *data, size_t len, kg_ctx *ctx) {
  char tmp[4200];
  snprintf(tmp, sizeof tmp, "%.4150s.tmp.%d", path, (int)getpid());
  FILE *f = fopen(tmp, "wb");
  if (!f) return kg_ctx_set(ctx, KG_EIO, "%s: %s", tmp, strerror(errno));
  size_t w = fwrite(data, 1, len, f);
  int bad = w != len || fflush(f) != 0 || fsync(fileno(f)) != 0;
  int err = errno;
  if (fclose(f) != 0) bad = 1;
  if (bad) {
    unlink(tmp);
    return kg_ctx_set(ctx, KG_EIO, "%s: write failed: %s", tmp, strerror(err ? err : EIO));
  }
  return KG_OK;
}

kg_status kg_file_commit(const char *path, kg_ctx *ctx) {
  char tmp[4200];
  snprintf(tmp, sizeof tmp, "%.4150s.tmp.%d", path, (int)getpid());
  if (rename(tmp, path) != 0) {
    unlink(tmp);
    return kg_ctx_set(ctx, KG_EIO, "%s: rename failed: %s", path, strerror(errno));
  }
  return KG_OK;
}

void kg_file_discard(const char *path) {
  char tmp[4200];
  snprintf(tmp, sizeof tmp, "%.4150s.tmp.%d", path, (int)getpid());
  unlink(tmp);
}

kg_status kg_file_write_atomic(const char *path, const char *data, size_t len, kg_ctx *ctx) {
  char dir[4096];
  snprintf(dir, sizeof dir, "%s", path);
  char *slash = strrchr(dir, '/');
  kg_status st;
  if (slash && slash != dir) {
    *slash = '\0';
    if ((st = kg_file_mkdirs(dir, ctx))) return st;
  }
  if ((st = kg_file_stage(path, data, len, ctx))) return st;
  return kg_file_commit(path, ctx);
}

kg_status kg_file_write_json(const char *path, const json_t *root, kg_ctx *ctx) {
  char *text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
  if (!text) return kg_ctx_set(ctx, KG_ENOMEM, "out of memory");
  size_t n = strlen(text);
  char *buf = realloc(text, n + 2);
  if (!buf) {
    free(text);
    return kg_ctx_set(ctx, KG_ENOMEM, "out of memory");
  }
  buf[n] = '\n';
  buf[n + 1] = '\0';
  kg_status st = kg_file_write_atomic(path, buf, n + 1, ctx);
  free(buf);
  return st;
}

kg_status kg_file_read(const char *path, char **buf, size_t *len, kg_ctx *ctx) {
  FILE *f = fopen(path, "rb");
  if (!f) return kg_ctx_set(ctx, KG_EIO, "%s: %s", path, strerror(errno));
  size_t cap = 4096, n = 0;
  char *b = malloc(cap);
  while (b) {
    n += fread(b + n, 1, cap - n - 1, f);
    if (n < cap - 1) break;
    char *nb = realloc(b, cap * 2);
    if (!nb) {
      free(b);
      b = NULL;
      break;
    }
    b = nb;
    cap *= 2;
  }
  int err = ferror(f);
  fclose(f);
  if (!b) return kg_ctx_set(ctx, KG_ENOMEM, "%s: out of memory", path);
  if (err) {
    free(b);
    return kg_ctx_set(ctx, KG_EIO, "%s: read error", path);
  }
  b[n] = '\0';
  *buf = b;
  *len = n;
  return KG_OK;
}
