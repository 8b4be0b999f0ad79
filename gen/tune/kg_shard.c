/* kg_shard.c - shards of a tuning run: their record in the database and the merge's import (see
 * kg_shard.h). */
#include "kg_shard.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sqlite3.h>

static const char kg_shard_schema[] =
    "CREATE TABLE IF NOT EXISTS shards ("
    " id INTEGER PRIMARY KEY CHECK (id = 1), shard INTEGER NOT NULL, shards INTEGER NOT NULL,"
    " kernel TEXT NOT NULL, spec_hash TEXT NOT NULL, template_hash TEXT NOT NULL,"
    " machine_id TEXT NOT NULL, backend TEXT NOT NULL, mode TEXT NOT NULL, spec_path TEXT NOT NULL,"
    " strategy TEXT NOT NULL, budget INTEGER NOT NULL, seed TEXT NOT NULL, problems TEXT NOT NULL,"
    " kgen_version TEXT NOT NULL, done INTEGER NOT NULL,"
    " updated_at TEXT NOT NULL DEFAULT (datetime('now')));";

kg_status kg_shard_parse(const char *arg, int *index, int *count, kg_ctx *ctx) {
  char *end;
  errno = 0;
  long i = strtol(arg, &end, 10);
  long n = -1;
  if (end != arg && *end == '/') {
    const char *rest = end + 1;
    n = strtol(rest, &end, 10);
    if (end == rest || *end) n = -1;
  }
  if (errno || n < 1 || n > KG_SHARD_MAX || i < 0 || i >= n)
    return kg_ctx_set(ctx, KG_EINVAL, "--shard %s: expected I/N with 0 <= I < N <= %d (I like a Slurm array index)",
                      arg, KG_SHARD_MAX);
  *index = (int)i;
  *count = (int)n;
  return KG_OK;
}

int kg_shard_of(long pos, int p, long nsel, int np, int count) {
  if (count <= 1 || nsel <= 0 || np <= 0) return 0;
  /* 128-bit product: pairs x count stays exact for any space kgen can hold */
  unsigned __int128 k = (unsigned __int128)((uint64_t)pos * (uint64_t)np + (uint64_t)p);
  unsigned __int128 total = (unsigned __int128)((uint64_t)nsel * (uint64_t)np);
  return (int)(k * (unsigned)count / total);
}

/* Open path (created when create) with the shard table; KG_EDB naming the path otherwise. */
static kg_status kg_shard_open(const char *path, bool create, sqlite3 **out, kg_ctx *ctx) {
  sqlite3 *h = NULL;
  int flags = SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0);
  if (sqlite3_open_v2(path, &h, flags, NULL) != SQLITE_OK) {
    kg_status st = kg_ctx_set(ctx, KG_EDB, "%s: cannot open the tuning database: %s", path,
                              h ? sqlite3_errmsg(h) : "out of memory");
    sqlite3_close(h);
    return st;
  }
  sqlite3_busy_timeout(h, 5000);
  char *err = NULL;
  if (sqlite3_exec(h, kg_shard_schema, NULL, NULL, &err) != SQLITE_OK) {
    kg_status st = kg_ctx_set(ctx, KG_EDB, "%s: %s", path, err ? err : "schema failed");
    sqlite3_free(err);
    sqlite3_close(h);
    return st;
  }
  *out = h;
  return KG_OK;
}

static const char kg_shard_cols[] = "shard, shards, kernel, spec_hash, template_hash, machine_id, backend, mode,"
                                    " spec_path, strategy, budget, seed, problems, kgen_version, done";

static void kg_shard_copy(char *dst, size_t cap, sqlite3_stmt *s, int col) {
  const unsigned char *t = sqlite3_column_text(s, col);
  snprintf(dst, cap, "%s", t ? (const char *)t : "");
}

/* The shard row of h into *info; *found says whether there is one. */
static kg_status kg_shard_get(sqlite3 *h, const char *path, kg_shard_info *info, bool *found, kg_ctx *ctx) {
  char sql[512];
  snprintf(sql, sizeof sql, "SELECT %s FROM shards WHERE id = 1", kg_shard_cols);
  sqlite3_stmt *s = NULL;
  if (sqlite3_prepare_v2(h, sql, -1, &s, NULL) != SQLITE_OK)
    return kg_ctx_set(ctx, KG_EDB, "%s: reading its shard record: %s", path, sqlite3_errmsg(h));
  int rc = sqlite3_step(s);
  *found = rc == SQLITE_ROW;
  if (*found) {
    char buf[64];
    memset(info, 0, sizeof *info);
    info->index = sqlite3_column_int(s, 0);
    info->count = sqlite3_column_int(s, 1);
    kg_shard_copy(info->kernel, sizeof info->kernel, s, 2);
    kg_shard_copy(buf, sizeof buf, s, 3);
    info->spec_hash = strtoull(buf, NULL, 16);
    kg_shard_copy(buf, sizeof buf, s, 4);
    info->template_hash = strtoull(buf, NULL, 16);
    kg_shard_copy(info->machine_id, sizeof info->machine_id, s, 5);
    kg_shard_copy(info->backend, sizeof info->backend, s, 6);
    kg_shard_copy(info->mode, sizeof info->mode, s, 7);
    kg_shard_copy(info->spec_path, sizeof info->spec_path, s, 8);
    kg_shard_copy(info->strategy, sizeof info->strategy, s, 9);
    info->budget = (long)sqlite3_column_int64(s, 10);
    kg_shard_copy(buf, sizeof buf, s, 11);
    info->seed = strtoull(buf, NULL, 10);
    kg_shard_copy(info->problems, sizeof info->problems, s, 12);
    kg_shard_copy(info->kgen_version, sizeof info->kgen_version, s, 13);
    info->done = sqlite3_column_int(s, 14) != 0;
  }
  sqlite3_finalize(s);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE)
    return kg_ctx_set(ctx, KG_EDB, "%s: reading its shard record: %s", path, sqlite3_errmsg(h));
  return KG_OK;
}

kg_status kg_shard_mark(const char *db_path, const kg_shard_info *info, kg_ctx *ctx) {
  sqlite3 *h = NULL;
  sqlite3_stmt *s = NULL;
  kg_status st = kg_shard_open(db_path, true, &h, ctx);
  if (st) return st;
  kg_shard_info old;
  bool found = false;
  if ((st = kg_shard_get(h, db_path, &old, &found, ctx))) goto done;
  if (found && (old.index != info->index || old.count != info->count || strcmp(old.kernel, info->kernel) ||
                old.spec_hash != info->spec_hash || old.template_hash != info->template_hash ||
                strcmp(old.machine_id, info->machine_id))) {
    st = kg_ctx_set(ctx, KG_EINVAL,
                    "%s records shard %d/%d of %s (spec %016" PRIx64 ", template %016" PRIx64 ", machine %s); this "
                    "run is shard %d/%d of %s (spec %016" PRIx64 ", template %016" PRIx64 ", machine %s): give it "
                    "its own --db",
                    db_path, old.index, old.count, old.kernel, old.spec_hash, old.template_hash, old.machine_id,
                    info->index, info->count, info->kernel, info->spec_hash, info->template_hash, info->machine_id);
    goto done;
  }
  char sql[768], h1[17], h2[17], seed[24];
  snprintf(sql, sizeof sql,
           "INSERT OR REPLACE INTO shards (id, %s) VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12,"
           " ?13, ?14, ?15)",
           kg_shard_cols);
  if (sqlite3_prepare_v2(h, sql, -1, &s, NULL) != SQLITE_OK) {
    st = kg_ctx_set(ctx, KG_EDB, "%s: recording the shard: %s", db_path, sqlite3_errmsg(h));
    goto done;
  }
  snprintf(h1, sizeof h1, "%016" PRIx64, info->spec_hash);
  snprintf(h2, sizeof h2, "%016" PRIx64, info->template_hash);
  snprintf(seed, sizeof seed, "%" PRIu64, info->seed);
  sqlite3_bind_int(s, 1, info->index);
  sqlite3_bind_int(s, 2, info->count);
  sqlite3_bind_text(s, 3, info->kernel, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(s, 4, h1, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(s, 5, h2, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(s, 6, info->machine_id, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(s, 7, info->backend, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(s, 8, info->mode, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(s, 9, info->spec_path, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(s, 10, info->strategy, -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64(s, 11, info->budget);
  sqlite3_bind_text(s, 12, seed, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(s, 13, info->problems, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(s, 14, info->kgen_version, -1, SQLITE_TRANSIENT);
  sqlite3_bind_int(s, 15, info->done);
  if (sqlite3_step(s) != SQLITE_DONE)
    st = kg_ctx_set(ctx, KG_EDB, "%s: recording the shard: %s", db_path, sqlite3_errmsg(h));
done:
  sqlite3_finalize(s);
  sqlite3_close(h);
  return st;
}

kg_status kg_shard_read(const char *db_path, kg_shard_info *info, kg_ctx *ctx) {
  struct stat sb;
  if (stat(db_path, &sb) != 0)
    return kg_ctx_set(ctx, KG_ENOTFOUND, "%s: no such shard database (%s)", db_path, strerror(errno));
  sqlite3 *h = NULL;
  kg_status st = kg_shard_open(db_path, false, &h, ctx);
  if (st) return st;
  bool found = false;
  st = kg_shard_get(h, db_path, info, &found, ctx);
  sqlite3_close(h);
  if (!st && !found)
    st = kg_ctx_set(ctx, KG_EINVAL, "%s: not a shard database (no shard record: written by kgen tune --shard I/N)",
                    db_path);
  return st;
}

kg_status kg_shard_import(const char *dst_path, const char *src_path, const kg_shard_info *info, long *copied,
                          kg_ctx *ctx) {
  kg_db *schema = NULL; /* creates the measurements table in dst when it is new */
  kg_status st = kg_db_open(dst_path, &schema, ctx);
  kg_db_close(schema);
  if (st) return st;
  sqlite3 *h = NULL;
  sqlite3_stmt *s = NULL;
  if ((st = kg_shard_open(dst_path, true, &h, ctx))) return st;
  char h1[17], h2[17];
  snprintf(h1, sizeof h1, "%016" PRIx64, info->spec_hash);
  snprintf(h2, sizeof h2, "%016" PRIx64, info->template_hash);
  const char *steps[] = {"ATTACH DATABASE ?1 AS src",
                         "INSERT OR REPLACE INTO main.measurements SELECT * FROM src.measurements WHERE kernel = ?1 AND"
                         " spec_hash = ?2 AND template_hash = ?3 AND machine_id = ?4 AND backend = ?5 AND mode = ?6"
                         " AND variant NOT LIKE 'final:%'",
                         "DETACH DATABASE src"};
  for (int i = 0; i < 3; i++) {
    if (sqlite3_prepare_v2(h, steps[i], -1, &s, NULL) != SQLITE_OK) goto sqlfail;
    if (i == 0) sqlite3_bind_text(s, 1, src_path, -1, SQLITE_TRANSIENT);
    if (i == 1) {
      sqlite3_bind_text(s, 1, info->kernel, -1, SQLITE_TRANSIENT);
      sqlite3_bind_text(s, 2, h1, -1, SQLITE_TRANSIENT);
      sqlite3_bind_text(s, 3, h2, -1, SQLITE_TRANSIENT);
      sqlite3_bind_text(s, 4, info->machine_id, -1, SQLITE_TRANSIENT);
      sqlite3_bind_text(s, 5, info->backend, -1, SQLITE_TRANSIENT);
      sqlite3_bind_text(s, 6, info->mode, -1, SQLITE_TRANSIENT);
    }
    if (sqlite3_step(s) != SQLITE_DONE) goto sqlfail;
    if (i == 1) *copied = (long)sqlite3_changes(h);
    sqlite3_finalize(s);
    s = NULL;
  }
  sqlite3_close(h);
  return KG_OK;
sqlfail:
  st = kg_ctx_set(ctx, KG_EDB, "importing %s into %s: %s", src_path, dst_path, sqlite3_errmsg(h));
  sqlite3_finalize(s);
  sqlite3_close(h);
  return st;
}
