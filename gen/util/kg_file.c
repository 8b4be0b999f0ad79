/* kg_file.c - reading whole files, mkdir -p, atomic file output (see kg_file.h). */
#define _GNU_SOURCE /* renameat2 */
#include "kg_file.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
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
static kg_status kg_file_stage(const char *path, const char *data, size_t len, kg_ctx *ctx) {
  char tmp[4200];
  snprintf(tmp, sizeof tmp, "%.4150s.tmp.%d", path, (int)getpid());
  kg_status st = kg_file_write_synced(tmp, data, len, ctx);
  if (st) unlink(tmp);
  return st;
}

static kg_status kg_file_commit(const char *path, kg_ctx *ctx) {
  char tmp[4200];
  snprintf(tmp, sizeof tmp, "%.4150s.tmp.%d", path, (int)getpid());
  if (rename(tmp, path) != 0) {
    unlink(tmp);
    return kg_ctx_set(ctx, KG_EIO, "%s: rename failed: %s", path, strerror(errno));
  }
  return KG_OK;
}

kg_status kg_file_check_writable(const char *dir, kg_ctx *ctx) {
  /* The first missing folder of the path: created with the rest, removed again afterwards. */
  char first[4096] = "";
  size_t n = strlen(dir);
  if (n >= sizeof first) return kg_ctx_set(ctx, KG_EIO, "%.200s...: name too long", dir);
  for (size_t i = 1; i <= n; i++)
    if (dir[i] == '/' || dir[i] == '\0') {
      char part[4096];
      memcpy(part, dir, i);
      part[i] = '\0';
      if (access(part, F_OK) != 0) {
        memcpy(first, part, i + 1);
        break;
      }
    }
  kg_status st = kg_file_mkdirs(dir, ctx);
  if (!st) {
    char probe[4200];
    snprintf(probe, sizeof probe, "%.4000s/.kgen-probe.tmp.%d", dir, (int)getpid());
    int fd = open(probe, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) st = kg_ctx_set(ctx, KG_EIO, "%s: cannot write there: %s", dir, strerror(errno));
    else close(fd), unlink(probe);
  }
  if (first[0]) kg_file_remove_tree(first);
  return st;
}

const char *kg_file_parent(const char *path, char *buf, size_t size) {
  snprintf(buf, size, "%s", path);
  char *slash = strrchr(buf, '/');
  if (slash == buf) slash[1] = '\0';
  else if (slash) *slash = '\0';
  else snprintf(buf, size, ".");
  return buf;
}

kg_status kg_file_write_atomic(const char *path, const char *data, size_t len, kg_ctx *ctx) {
  char dir[4096];
  kg_status st = kg_file_mkdirs(kg_file_parent(path, dir, sizeof dir), ctx);
  if (st) return st;
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

kg_status kg_file_write_synced(const char *path, const char *data, size_t len, kg_ctx *ctx) {
  FILE *f = fopen(path, "wb");
  if (!f) return kg_ctx_set(ctx, KG_EIO, "%s: %s", path, strerror(errno));
  size_t w = fwrite(data, 1, len, f);
  int bad = w != len || fflush(f) != 0 || fsync(fileno(f)) != 0;
  int err = errno;
  if (fclose(f) != 0) bad = 1;
  if (bad) return kg_ctx_set(ctx, KG_EIO, "%s: write failed: %s", path, strerror(err ? err : EIO));
  return KG_OK;
}

kg_status kg_file_sync_dir(const char *dir, kg_ctx *ctx) {
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return kg_ctx_set(ctx, KG_EIO, "%s: %s", dir, strerror(errno));
  int bad = fsync(fd) != 0 && errno != EINVAL; /* some file systems cannot sync a directory */
  int err = errno;
  close(fd);
  return bad ? kg_ctx_set(ctx, KG_EIO, "%s: sync failed: %s", dir, strerror(err)) : KG_OK;
}

kg_status kg_file_swap_dir(const char *staged, const char *target, kg_ctx *ctx) {
  if (renameat2(AT_FDCWD, staged, AT_FDCWD, target, RENAME_EXCHANGE) == 0) return KG_OK;
  if (errno == ENOENT && rename(staged, target) == 0) return KG_OK; /* no target yet */
  return kg_ctx_set(ctx, KG_EIO, "%s: cannot swap in %s: %s", target, staged, strerror(errno));
}

static int kg_file_remove_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb, (void)ftw;
  if (flag == FTW_DP) rmdir(path);
  else unlink(path);
  return 0;
}

void kg_file_remove_tree(const char *path) { nftw(path, kg_file_remove_one, 16, FTW_DEPTH | FTW_PHYS); }

int kg_file_clean_stale(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return 0;
  int removed = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    const char *t = strstr(e->d_name, ".tmp.");
    while (t && strstr(t + 1, ".tmp.")) t = strstr(t + 1, ".tmp."); /* the last one */
    if (!t || !isdigit((unsigned char)t[5])) continue;
    char *end;
    long pid = strtol(t + 5, &end, 10);
    if (*end || pid <= 0 || pid == (long)getpid()) continue;
    if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue; /* its writer may still be at work */
    char path[4200];
    snprintf(path, sizeof path, "%.3900s/%s", dir, e->d_name);
    kg_file_remove_tree(path);
    removed++;
  }
  closedir(d);
  return removed;
}

void kg_file_fault(const char *point) {
  const char *f = getenv("KGEN_FAULT");
  if (f && !strcmp(f, point)) raise(SIGKILL);
}
