/*
 * kg_cli_export.c - `kgen export-cache`: one problem's measurements from the tuning database as a
 * Kernel Tuner cache file, so kgen's CPU landscapes can be replayed (kgen replay) and read by
 * Kernel Tuner users.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include <sqlite3.h>

#include "kg_machine.h"
#include "kg_replay.h"
#include "kg_spec.h"

static json_t *kg_param_value(const kg_param *p, int32_t i) {
  return p->kind == KG_PARAM_INT ? json_integer((json_int_t)p->ivalues[i]) : json_string(p->svalues[i]);
}

kg_status kg_replay_export(const kg_spec *spec, const char *db_path, const char *problem, json_t **out, kg_ctx *ctx) {
  *out = NULL;
  int pi = kg_spec_problem_index(spec, problem);
  if (pi < 0) return kg_ctx_set(ctx, KG_ENOTFOUND, "%s: no problem '%s' in spec '%s'", spec->path, problem, spec->name);
  sqlite3 *db = NULL;
  sqlite3_stmt *grp = NULL, *rows = NULL;
  json_t *doc = NULL;
  kg_status st = KG_OK;
  char hash[17];
  snprintf(hash, sizeof hash, "%016" PRIx64, spec->hash);
  if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
    st = kg_ctx_set(ctx, KG_EDB, "%s: cannot open the tuning database: %s", db_path,
                    db ? sqlite3_errmsg(db) : "out of memory");
    goto done;
  }
  static const char grp_sql[] =
      "SELECT template_hash, machine_id, backend, mode, count(*) AS n FROM measurements"
      " WHERE kernel = ?1 AND spec_hash = ?2 AND problem = ?3 AND variant NOT LIKE 'baseline:%'"
      " AND variant NOT LIKE 'final:%' GROUP BY template_hash, machine_id, backend, mode"
      " ORDER BY n DESC, max(measured_at) DESC LIMIT 1";
  static const char rows_sql[] =
      "SELECT variant, status_code, reason, samples, p50_ns, p90_ns, compile_ms, min_ns FROM measurements"
      " WHERE kernel = ?1 AND spec_hash = ?2 AND problem = ?3 AND template_hash = ?4 AND machine_id = ?5"
      " AND backend = ?6 AND mode = ?7 AND variant NOT LIKE 'baseline:%' AND variant NOT LIKE 'final:%'"
      " ORDER BY variant";
  if (sqlite3_prepare_v2(db, grp_sql, -1, &grp, NULL) != SQLITE_OK ||
      sqlite3_prepare_v2(db, rows_sql, -1, &rows, NULL) != SQLITE_OK) {
    st = kg_ctx_set(ctx, KG_EDB, "%s: %s", db_path, sqlite3_errmsg(db));
    goto done;
  }
  sqlite3_bind_text(grp, 1, spec->name, -1, SQLITE_STATIC);
  sqlite3_bind_text(grp, 2, hash, -1, SQLITE_STATIC);
  sqlite3_bind_text(grp, 3, problem, -1, SQLITE_STATIC);
  int rc = sqlite3_step(grp);
  if (rc != SQLITE_ROW) {
    st = rc == SQLITE_DONE ? kg_ctx_set(ctx, KG_ENOTFOUND,
                                        "%s: no measurement of problem '%s' of spec '%s' (hash %s) in the database",
                                        db_path, problem, spec->name, hash)
                           : kg_ctx_set(ctx, KG_EDB, "%s: %s", db_path, sqlite3_errmsg(db));
    goto done;
  }
  for (int c = 0; c < 4; c++)
    sqlite3_bind_text(rows, 4 + c, (const char *)sqlite3_column_text(grp, c), -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(rows, 1, spec->name, -1, SQLITE_STATIC);
  sqlite3_bind_text(rows, 2, hash, -1, SQLITE_STATIC);
  sqlite3_bind_text(rows, 3, problem, -1, SQLITE_STATIC);

  const kg_spec_problem *pr = &spec->problems[pi];
  json_t *keys = json_array(), *params = json_object(), *size = json_array(), *cache = json_object();
  for (int d = 0; d < spec->nparams; d++) {
    const kg_param *p = &spec->params[d];
    json_array_append_new(keys, json_string(p->name));
    json_t *vals = json_array();
    for (int32_t i = 0; i < p->nvalues; i++) json_array_append_new(vals, kg_param_value(p, i));
    json_object_set_new(params, p->name, vals);
  }
  for (int d = 0; d < pr->ndims; d++) json_array_append_new(size, json_integer((json_int_t)pr->dims[d]));
  doc = json_pack("{s:s, s:s, s:s, s:o, s:o, s:o, s:s, s:o, s:{s:s, s:s, s:s, s:s, s:s}}", "device_name",
                  (const char *)sqlite3_column_text(grp, 1), "kernel_name", spec->name, "problem", problem,
                  "problem_size", size, "tune_params_keys", keys, "tune_params", params, "objective", "time", "cache",
                  cache, "kgen_key", "spec_hash", hash, "template_hash", (const char *)sqlite3_column_text(grp, 0),
                  "machine_id", (const char *)sqlite3_column_text(grp, 1), "backend",
                  (const char *)sqlite3_column_text(grp, 2), "mode", (const char *)sqlite3_column_text(grp, 3));
  if (!doc) {
    st = kg_ctx_set(ctx, KG_ENOMEM, "export-cache: out of memory");
    goto done;
  }
  int32_t *point = malloc(sizeof *point * (size_t)(spec->nparams ? spec->nparams : 1));
  if (!point) {
    st = kg_ctx_set(ctx, KG_ENOMEM, "export-cache: out of memory");
    goto done;
  }
  static kg_ctx ignore; /* the reason a row is not a point of this spec is not needed */
  while ((rc = sqlite3_step(rows)) == SQLITE_ROW) {
    const char *variant = (const char *)sqlite3_column_text(rows, 0);
    if (kg_spec_parse_set(spec, variant, point, &ignore)) continue; /* not a point of this spec */
    json_t *e = json_object();
    char key[4096] = "";
    size_t kn = 0;
    for (int d = 0; d < spec->nparams; d++) {
      const kg_param *p = &spec->params[d];
      json_object_set_new(e, p->name, kg_param_value(p, point[d]));
      if (p->kind == KG_PARAM_INT)
        kn += (size_t)snprintf(key + kn, kn < sizeof key ? sizeof key - kn : 0, "%s%" PRId64, d ? "," : "",
                               p->ivalues[point[d]]);
      else
        kn += (size_t)snprintf(key + kn, kn < sizeof key ? sizeof key - kn : 0, "%s%s", d ? "," : "",
                               p->svalues[point[d]]);
    }
    int code = sqlite3_column_int(rows, 1);
    if (code == KG_OK && sqlite3_column_type(rows, 4) != SQLITE_NULL) {
      json_object_set_new(e, "time", json_real(sqlite3_column_double(rows, 4) / 1e6));
      json_object_set_new(e, "p90", json_real(sqlite3_column_double(rows, 5) / 1e6));
      json_object_set_new(e, "samples", json_integer(sqlite3_column_int(rows, 3)));
    } else {
      json_object_set_new(e, "time",
                          json_string(code == KG_ECOMPILE ? "CompilationFailedConfig" : "RuntimeFailedConfig"));
      json_object_set_new(e, "kgen_reason", json_string((const char *)sqlite3_column_text(rows, 2)));
      if (code == KG_ECENSORED && sqlite3_column_type(rows, 7) != SQLITE_NULL) /* stopped early: at least this */
        json_object_set_new(e, "kgen_lower_bound", json_real(sqlite3_column_double(rows, 7) / 1e6));
    }
    if (sqlite3_column_type(rows, 6) != SQLITE_NULL)
      json_object_set_new(e, "compile_time", json_real(sqlite3_column_double(rows, 6)));
    json_object_set_new(cache, key, e);
  }
  free(point);
  if (rc != SQLITE_DONE) {
    st = kg_ctx_set(ctx, KG_EDB, "%s: %s", db_path, sqlite3_errmsg(db));
    goto done;
  }
  *out = doc;
  doc = NULL;
done:
  json_decref(doc);
  sqlite3_finalize(grp);
  sqlite3_finalize(rows);
  sqlite3_close(db);
  return st;
}

static const char kg_export_usage[] =
    "usage: kgen export-cache SPEC --problem P [--db FILE] -o FILE.json[.gz]\n"
    "  one problem's measurements from the tuning database as a Kernel Tuner cache file (kgen replay\n"
    "  reads it; .gz is written gzip-compressed)\n"
    "      --problem P       the problem (required)\n"
    "      --db FILE         tuning database (default tuned/<kernel>/<machine-id>.db)\n"
    "      -o FILE           output file (required)\n";

static int kg_export_bad(const char *fmt, const char *arg) {
  fprintf(stderr, "kgen export-cache: ");
  fprintf(stderr, fmt, arg);
  fprintf(stderr, "\n\n%s", kg_export_usage);
  return 2;
}

int kg_cli_export_cache(int argc, char **argv) {
  static const struct option longopts[] = {{"problem", required_argument, 0, 'p'},
                                           {"db", required_argument, 0, 'd'},
                                           {"help", no_argument, 0, 'h'},
                                           {0, 0, 0, 0}};
  const char *problem = NULL, *db = NULL, *out = NULL;
  int c;
  opterr = 0;
  while ((c = getopt_long(argc, argv, "o:h", longopts, NULL)) != -1) {
    switch (c) {
    case 'p': problem = optarg; break;
    case 'd': db = optarg; break;
    case 'o': out = optarg; break;
    case 'h': fputs(kg_export_usage, stdout); return 0;
    default: return kg_export_bad("unknown option or missing value: '%s'", argv[optind - 1]);
    }
  }
  if (optind >= argc) return kg_export_bad("%s", "missing SPEC");
  if (optind + 1 < argc) return kg_export_bad("unexpected argument '%s'", argv[optind + 1]);
  if (!problem) return kg_export_bad("%s", "missing --problem");
  if (!out) return kg_export_bad("%s", "missing -o FILE");
  kg_ctx ctx = {0};
  kg_spec *spec = NULL;
  json_t *doc = NULL;
  int rc = 0;
  kg_status st = kg_spec_load(argv[optind], &spec, &ctx);
  char dbpath[4096];
  if (!st && !db) {
    kg_machine m;
    if (!(st = kg_machine_detect(&m, &ctx))) {
      snprintf(dbpath, sizeof dbpath, "tuned/%.1024s/%.80s.db", spec->name, m.id);
      db = dbpath;
    }
  }
  if (!st) st = kg_replay_export(spec, db, problem, &doc, &ctx);
  if (!st) {
    char *text = json_dumps(doc, JSON_INDENT(1));
    size_t n = strlen(out);
    bool gz = n > 3 && !strcmp(out + n - 3, ".gz");
    bool ok = text != NULL;
    if (ok && gz) {
      gzFile f = gzopen(out, "wb");
      ok = f && gzwrite(f, text, (unsigned)strlen(text)) == (int)strlen(text);
      if (f) ok = gzclose(f) == Z_OK && ok;
    } else if (ok) {
      FILE *f = fopen(out, "w");
      ok = f && fputs(text, f) >= 0 && fputc('\n', f) != EOF;
      if (f) ok = fclose(f) == 0 && ok;
    }
    free(text);
    if (!ok) st = kg_ctx_set(&ctx, KG_EIO, "%s: cannot write", out);
    else
      fprintf(stderr, "wrote %s: %zu configurations of problem %s\n", out,
              json_object_size(json_object_get(doc, "cache")), problem);
  }
  if (st) {
    fprintf(stderr, "kgen: %s\n", kg_ctx_message(&ctx));
    rc = (st == KG_EINVAL || st == KG_ESPEC || st == KG_ETEMPLATE || st == KG_ENOTFOUND) ? 2 : 1;
  }
  json_decref(doc);
  kg_spec_free(spec);
  return rc;
}
