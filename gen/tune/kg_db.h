/*
 * kg_db.h - the SQLite tuning database: every measurement is stored the moment it is made, so an
 * interrupted run (Ctrl-C, kill -9) loses nothing completed and `--resume` skips what is done.
 *
 * A row is keyed by (kernel, spec_hash, template_hash, machine_id, backend, mode, problem,
 * variant); `variant` is the parameter assignment "a=1,b=2" or "baseline:<name>".  The database
 * runs in WAL mode with one transaction per row.
 */
#ifndef KG_DB_H
#define KG_DB_H

#include <stdbool.h>
#include <stdint.h>

#include "kg_measure.h"
#include "kg_status.h"

typedef struct kg_db kg_db;

/** The identity of a tuning run: rows match only within the same key. */
typedef struct kg_db_key {
  const char *kernel;
  uint64_t spec_hash, template_hash;
  const char *machine_id;
  const char *backend; /**< "jit" or "cc" */
  const char *mode;    /**< "warm" or "cold" */
} kg_db_key;

/** One stored row: the measurement plus what the tuner adds. */
typedef struct kg_db_row {
  char problem[128];
  char variant[1024];
  kg_measurement m;  /**< status, reason, stats, noise figures (events are not stored) */
  double compile_ms; /**< 0 for baselines and resumed rows without it */
} kg_db_row;

/** Open (creating if needed, with parent directories made by the caller) the database at path. */
kg_status kg_db_open(const char *path, kg_db **out, kg_ctx *ctx);

/** Close; NULL is a no-op. */
void kg_db_close(kg_db *db);

/** Store (or replace) one row, committed before return.  Errors: KG_EDB (full disk, locked). */
kg_status kg_db_put(kg_db *db, const kg_db_key *key, const kg_db_row *row, kg_ctx *ctx);

/** Look up a row; *found tells whether it exists (then *row is filled). */
kg_status kg_db_get(kg_db *db, const kg_db_key *key, const char *problem, const char *variant, kg_db_row *row,
                    bool *found, kg_ctx *ctx);

/** Number of rows stored under key (all problems and variants). */
kg_status kg_db_count(kg_db *db, const kg_db_key *key, long *count, kg_ctx *ctx);

#endif
