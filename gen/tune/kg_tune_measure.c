/* kg_tune_measure.c - measuring one entry of one problem (or loading it with --resume), storing
 * failures, and the progress line (kg_tune_internal.h). */

#include <math.h>
#include <string.h>

#include "kg_timer.h"
#include "kg_tune_internal.h"

/* ---- progress ------------------------------------------------------------------------------- */

void kg_progress_line(kg_progress *pg, const char *problem, const char *best, bool force) {
  if (!pg->f) return;
  double now = (double)kg_now_ns() * 1e-9;
  if (!force && !pg->tty && now - pg->last < 10.0) return;
  if (!force && pg->tty && now - pg->last < 0.1) return;
  pg->last = now;
  double el = now - pg->start;
  double eta = pg->done > 0 ? el / (double)pg->done * (double)(pg->total - pg->done) : 0;
  fprintf(pg->f, "%s[%ld/%ld] %s  failed %ld  censored %ld  best %s  elapsed %.0fs  left ~%.0fs%s",
          pg->tty ? "\r\033[K" : "", pg->done, pg->total, problem, pg->failed, pg->censored, best, el, eta,
          pg->tty ? "" : "\n");
  fflush(pg->f);
}

/* ---- the run -------------------------------------------------------------------------------- */

void kg_result_fail(kg_result *r, long point, kg_status st, const char *reason) {
  memset(r, 0, sizeof *r);
  r->point = point;
  r->m.status = st;
  snprintf(r->m.reason, sizeof r->m.reason, "%s", reason);
}

long kg_tune_fastest(const kg_problem_result *pr) {
  long at = -1;
  for (long i = 0; i < pr->nresults; i++)
    if (pr->results[i].m.status == KG_OK && (at < 0 || pr->results[i].m.stats.p50 < pr->results[at].m.stats.p50))
      at = i;
  return at;
}

void kg_tune_best_label(const kg_tune_report *r, const kg_problem_result *pr, char *buf, size_t cap) {
  long at = kg_tune_fastest(pr);
  if (at < 0) {
    snprintf(buf, cap, "-");
    return;
  }
  char params[512];
  kg_spec_format_point(r->spec, r->spec->points + (size_t)pr->results[at].point * (size_t)r->spec->nparams, params,
                       sizeof params);
  snprintf(buf, cap, "%.3g us (%s)", pr->results[at].m.stats.p50 / 1e3, params);
}

kg_status kg_problem_measure(kg_problem_run *pr, const char *variant, long point, kg_run_fn run, kg_verify_fn verify,
                             double compile_ms, kg_result *res, kg_ctx *ctx) {
  kg_status st;
  memset(res, 0, sizeof *res);
  res->point = point;
  res->compile_ms = compile_ms;
  if (pr->opts->resume && pr->db) {
    kg_db_row row;
    bool found = false;
    st = kg_db_get(pr->db, pr->key, pr->sp->name, variant, &row, &found, ctx);
    if (st) return st;
    if (found && kg_tune_row_stands(pr->opts, &row)) {
      res->m = row.m;
      res->compile_ms = row.compile_ms;
      res->resumed = true;
      return KG_OK;
    }
  }
  if (pr->create_failed) {
    res->m = pr->create_failure;
  } else {
    if (!pr->worker) {
      kg_measure_opts mo = pr->opts->measure;
      mo.cold |= pr->sp->cold;                                               /* the spec declares this problem cold */
      if (pr->screen && pr->opts->screen_time > 0 && pr->opts->rounds > 0) { /* the final rounds measure in full */
        if (pr->opts->screen_time < mo.min_time_s) mo.min_time_s = pr->opts->screen_time;
        if (mo.min_samples > KG_SCREEN_SAMPLES) mo.min_samples = KG_SCREEN_SAMPLES;
      }
      st = kg_worker_start(&pr->prob, pr->create, pr->prepare, pr->destroy, &mo, &pr->worker, &pr->create_failure, ctx);
      if (st) return st;
      if (!pr->worker) pr->create_failed = true;
    }
    if (pr->create_failed) {
      res->m = pr->create_failure;
    } else {
      st = kg_worker_measure_phases(pr->worker, run, verify, pr->phases, pr->cutoff_ns, &res->m, ctx);
      if (st) return st;
      if (!kg_worker_alive(pr->worker)) {
        kg_worker_stop(pr->worker);
        pr->worker = NULL;
      }
    }
  }
  if (!pr->db) return KG_OK;
  kg_db_row row;
  memset(&row, 0, sizeof row);
  snprintf(row.problem, sizeof row.problem, "%s", pr->sp->name);
  snprintf(row.variant, sizeof row.variant, "%s", variant);
  row.m = res->m;
  row.compile_ms = compile_ms;
  return kg_db_put(pr->db, pr->key, &row, ctx);
}

kg_status kg_tune_store_failure(kg_db *db, const kg_db_key *key, const char *problem, const kg_variant *v,
                                kg_ctx *ctx) {
  if (!db) return KG_OK;
  kg_db_row row;
  memset(&row, 0, sizeof row);
  snprintf(row.problem, sizeof row.problem, "%s", problem);
  snprintf(row.variant, sizeof row.variant, "%s", v->name);
  row.m.status = v->compile;
  snprintf(row.m.reason, sizeof row.m.reason, "%s", v->reason);
  row.compile_ms = v->compile_ms;
  return kg_db_put(db, key, &row, ctx);
}

double kg_tune_cutoff_ns(const kg_tune_opts *opts, const kg_problem_result *res) {
  long at = kg_tune_fastest(res);
  return opts->cutoff > 0 && at >= 0 ? opts->cutoff * res->results[at].m.stats.p50 : 0;
}

bool kg_tune_row_stands(const kg_tune_opts *o, const kg_db_row *row) {
  return row->m.status == KG_OK || row->m.status == KG_ECENSORED || o->keep_failures;
}
