/* kg_db.c - SQLite tuning database (see kg_db.h). */
#include "kg_db.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

struct kg_db {
  sqlite3 *db;
  sqlite3_stmt *put, *get, *count;
};

static const char kg_db_schema[] =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=NORMAL;"
    "CREATE TABLE IF NOT EXISTS measurements ("
    " kernel TEXT NOT NULL, spec_hash TEXT NOT NULL, template_hash TEXT NOT NULL,"
    " machine_id TEXT NOT NULL, backend TEXT NOT NULL, mode TEXT NOT NULL,"
    " problem TEXT NOT NULL, variant TEXT NOT NULL,"
    " status TEXT NOT NULL, status_code INTEGER NOT NULL, reason TEXT NOT NULL,"
    " samples INTEGER, p50_ns REAL, p90_ns REAL, p99_ns REAL, mean_ns REAL, std_ns REAL,"
    " min_ns REAL, max_ns REAL, ci95_lo_ns REAL, ci95_hi_ns REAL, inner_reps INTEGER,"
    " retaken INTEGER, ctx_switches REAL, migrations REAL, page_faults REAL, noisy INTEGER,"
    " cold INTEGER, compile_ms REAL, wall_s REAL,"
    " measured_at TEXT NOT NULL DEFAULT (datetime('now')),"
    " PRIMARY KEY (kernel, spec_hash, template_hash, machine_id, backend, mode, problem, variant));";

static const char kg_db_put_sql[] =
    "INSERT OR REPLACE INTO measurements (kernel, spec_hash, template_hash, machine_id, backend,"
    " mode, problem, variant, status, status_code, reason, samples, p50_ns, p90_ns, p99_ns,"
    " mean_ns, std_ns, min_ns, max_ns, ci95_lo_ns, ci95_hi_ns, inner_reps, retaken,"
    " ctx_switches, migrations, page_faults, noisy, cold, compile_ms, wall_s)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18,"
    " ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29, ?30)";

static const char kg_db_get_sql[] =
    "SELECT status_code, reason, samples, p50_ns, p90_ns, p99_ns, mean_ns, std_ns, min_ns,"
    " max_ns, ci95_lo_ns, ci95_hi_ns, inner_reps, retaken, ctx_switches, migrations,"
    " page_faults, noisy, cold, compile_ms, wall_s FROM measurements WHERE kernel = ?1 AND"
    " spec_hash = ?2 AND template_hash = ?3 AND machine_id = ?4 AND backend = ?5 AND mode = ?6"
    " AND problem = ?7 AND variant = ?8";

static const char kg_db_count_sql[] = "SELECT count(*) FROM measurements WHERE kernel = ?1 AND spec_hash = ?2 AND"
                                      " template_hash = ?3 AND machine_id = ?4 AND backend = ?5 AND mode = ?6";

static kg_status kg_db_fail(kg_db *db, kg_ctx *ctx, const char *what) {
  return kg_ctx_set(ctx, KG_EDB, "tuning database: %s: %s", what, sqlite3_errmsg(db->db));
}

kg_status kg_db_open(const char *path, kg_db **out, kg_ctx *ctx) {
  kg_db *db = calloc(1, sizeof *db);
  if (!db) return kg_ctx_set(ctx, KG_ENOMEM, "out of memory");
  kg_status st = KG_OK;
  if (sqlite3_open_v2(path, &db->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
    st = kg_ctx_set(ctx, KG_EDB, "%s: cannot open the tuning database: %s", path,
                    db->db ? sqlite3_errmsg(db->db) : "out of memory");
    goto fail;
  }
  sqlite3_busy_timeout(db->db, 5000);
  char *err = NULL;
  if (sqlite3_exec(db->db, kg_db_schema, NULL, NULL, &err) != SQLITE_OK) {
    st = kg_ctx_set(ctx, KG_EDB, "%s: %s", path, err ? err : "schema failed");
    sqlite3_free(err);
    goto fail;
  }
  if (sqlite3_prepare_v2(db->db, kg_db_put_sql, -1, &db->put, NULL) != SQLITE_OK ||
      sqlite3_prepare_v2(db->db, kg_db_get_sql, -1, &db->get, NULL) != SQLITE_OK ||
      sqlite3_prepare_v2(db->db, kg_db_count_sql, -1, &db->count, NULL) != SQLITE_OK) {
    st = kg_db_fail(db, ctx, path);
    goto fail;
  }
  *out = db;
  return KG_OK;
fail:
  kg_db_close(db);
  return st;
}

void kg_db_close(kg_db *db) {
  if (!db) return;
  sqlite3_finalize(db->put);
  sqlite3_finalize(db->get);
  sqlite3_finalize(db->count);
  sqlite3_close(db->db);
  free(db);
}

/* Bind the six key columns at ?1..?6.  Hashes are stored as 16 hex digits. */
static void kg_db_bind_key(sqlite3_stmt *s, const kg_db_key *key) {
  char h[2][17];
  snprintf(h[0], sizeof h[0], "%016" PRIx64, key->spec_hash);
  snprintf(h[1], sizeof h[1], "%016" PRIx64, key->template_hash);
  sqlite3_bind_text(s, 1, key->kernel, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(s, 2, h[0], -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(s, 3, h[1], -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(s, 4, key->machine_id, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(s, 5, key->backend, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(s, 6, key->mode, -1, SQLITE_TRANSIENT);
}

/* NaN (unavailable) is stored as NULL and read back as NaN. */
static void kg_db_bind_real(sqlite3_stmt *s, int i, double v) {
  if (isnan(v)) sqlite3_bind_null(s, i);
  else sqlite3_bind_double(s, i, v);
}

static double kg_db_real(sqlite3_stmt *s, int i) {
  return sqlite3_column_type(s, i) == SQLITE_NULL ? NAN : sqlite3_column_double(s, i);
}

kg_status kg_db_put(kg_db *db, const kg_db_key *key, const kg_db_row *row, kg_ctx *ctx) {
  sqlite3_stmt *s = db->put;
  const kg_measurement *m = &row->m;
  const kg_stats *x = &m->stats;
  sqlite3_reset(s);
  sqlite3_clear_bindings(s);
  kg_db_bind_key(s, key);
  sqlite3_bind_text(s, 7, row->problem, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(s, 8, row->variant, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(s, 9, m->status == KG_OK ? "ok" : kg_strerror(m->status), -1, SQLITE_STATIC);
  sqlite3_bind_int(s, 10, (int)m->status);
  sqlite3_bind_text(s, 11, m->reason, -1, SQLITE_TRANSIENT);
  if (m->status == KG_OK || m->status == KG_ECENSORED) { /* censored: its few samples, a lower bound */
    sqlite3_bind_int64(s, 12, (sqlite3_int64)x->n);
    double v[] = {x->p50, x->p90, x->p99, x->mean, x->std, x->min, x->max, x->ci_lo, x->ci_hi};
    for (int i = 0; i < 9; i++) kg_db_bind_real(s, 13 + i, v[i]);
    sqlite3_bind_int(s, 22, m->inner_reps);
    sqlite3_bind_int(s, 23, m->retaken);
    kg_db_bind_real(s, 24, m->ctx_switches);
    kg_db_bind_real(s, 25, m->migrations);
    kg_db_bind_real(s, 26, m->page_faults);
    sqlite3_bind_int(s, 27, m->noisy);
  }
  sqlite3_bind_int(s, 28, m->cold);
  sqlite3_bind_double(s, 29, row->compile_ms);
  sqlite3_bind_double(s, 30, m->wall_s);
  int rc = sqlite3_step(s);
  sqlite3_reset(s);
  if (rc != SQLITE_DONE) return kg_db_fail(db, ctx, "storing a measurement");
  return KG_OK;
}

kg_status kg_db_get(kg_db *db, const kg_db_key *key, const char *problem, const char *variant, kg_db_row *row,
                    bool *found, kg_ctx *ctx) {
  sqlite3_stmt *s = db->get;
  sqlite3_reset(s);
  sqlite3_clear_bindings(s);
  kg_db_bind_key(s, key);
  sqlite3_bind_text(s, 7, problem, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(s, 8, variant, -1, SQLITE_TRANSIENT);
  int rc = sqlite3_step(s);
  *found = rc == SQLITE_ROW;
  if (rc == SQLITE_ROW) {
    memset(row, 0, sizeof *row);
    snprintf(row->problem, sizeof row->problem, "%s", problem);
    snprintf(row->variant, sizeof row->variant, "%s", variant);
    kg_measurement *m = &row->m;
    m->status = (kg_status)sqlite3_column_int(s, 0);
    snprintf(m->reason, sizeof m->reason, "%s", (const char *)sqlite3_column_text(s, 1));
    m->stats.n = (size_t)sqlite3_column_int64(s, 2);
    double *v[] = {&m->stats.p50, &m->stats.p90, &m->stats.p99,   &m->stats.mean, &m->stats.std,
                   &m->stats.min, &m->stats.max, &m->stats.ci_lo, &m->stats.ci_hi};
    for (int i = 0; i < 9; i++) *v[i] = kg_db_real(s, 3 + i);
    m->inner_reps = sqlite3_column_int(s, 12);
    m->retaken = sqlite3_column_int(s, 13);
    m->ctx_switches = kg_db_real(s, 14);
    m->migrations = kg_db_real(s, 15);
    m->page_faults = kg_db_real(s, 16);
    m->noisy = sqlite3_column_int(s, 17);
    m->cold = sqlite3_column_int(s, 18);
    row->compile_ms = kg_db_real(s, 19);
    m->wall_s = kg_db_real(s, 20);
  }
  sqlite3_reset(s);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) return kg_db_fail(db, ctx, "reading a measurement");
  return KG_OK;
}

kg_status kg_db_count(kg_db *db, const kg_db_key *key, long *count, kg_ctx *ctx) {
  sqlite3_stmt *s = db->count;
  sqlite3_reset(s);
  kg_db_bind_key(s, key);
  int rc = sqlite3_step(s);
  *count = rc == SQLITE_ROW ? (long)sqlite3_column_int64(s, 0) : 0;
  sqlite3_reset(s);
  if (rc != SQLITE_ROW) return kg_db_fail(db, ctx, "counting measurements");
  return KG_OK;
}
