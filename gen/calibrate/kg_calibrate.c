/* kg_calibrate.c - peak FLOP/s, STREAM bandwidth and OpenBLAS sgemm of this machine (see
 * kg_calibrate.h). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "kg_calibrate.h"
#include "kg_calibrate_internal.h"

#include <math.h>
#include <string.h>

#include "kg_timer.h"

#ifndef KG_VERSION
#define KG_VERSION "0"
#endif

void kg_calibrate_progress(const kg_calibrate_opts *o, const char *fmt, ...) {
  if (!o->progress) return;
  va_list ap;
  va_start(ap, fmt);
  vfprintf(o->progress, fmt, ap);
  va_end(ap);
  fflush(o->progress);
}

/* Thread counts to measure: 1, then doubling, then all cores. */
int kg_thread_list(int cores, int *list, int cap) {
  int n = 0;
  for (int t = 1; t < cores && n < cap - 1; t *= 2) list[n++] = t;
  list[n++] = cores > 0 ? cores : 1;
  return n;
}

/* ---- rounds: the best of each figure ------------------------------------------------------- */

/* The keys that name one figure: a peak by its thread count, a bandwidth by these four. */
const char *const kg_peak_keys[] = {"threads", NULL};
const char *const kg_bw_keys[] = {"op", "level", "threads", "nt", NULL};

/* Whether a and b agree on every key in keys (NULL-terminated). */
static bool kg_same_entry(const json_t *a, const json_t *b, const char *const *keys) {
  for (; *keys; keys++)
    if (!json_equal(json_object_get(a, *keys), json_object_get(b, *keys))) return false;
  return true;
}

/* Fold one round's entries into acc: the entry with the highest `value` wins (the STREAM
 * convention: report the best rate), and "round_values" keeps every round's figure. */
static void kg_merge_best(json_t *acc, const json_t *round, const char *const *keys, const char *value) {
  size_t i, j;
  const json_t *x;
  json_t *y;
  json_array_foreach(round, i, x) {
    json_t *match = NULL;
    json_array_foreach(acc, j, y) if (kg_same_entry(x, y, keys)) match = y;
    const json_t *v = json_object_get(x, value);
    if (!match) {
      json_t *e = json_deep_copy(x);
      json_object_set_new(e, "round_values", json_array());
      if (json_is_number(v)) json_array_append(json_object_get(e, "round_values"), (json_t *)v);
      json_array_append_new(acc, e);
      continue;
    }
    json_t *values = json_incref(json_object_get(match, "round_values"));
    if (json_is_number(v)) json_array_append(values, (json_t *)v);
    const json_t *best = json_object_get(match, value);
    if (json_is_number(v) && (!json_is_number(best) || json_number_value(v) > json_number_value(best))) {
      json_object_clear(match);
      json_object_update(match, (json_t *)x);
    }
    json_object_set_new(match, "round_values", values);
  }
}

/* Whether the figure of `probe` (matched on keys) is settled in acc: its best was reproduced,
 * a second round within KG_CALIBRATE_AGREE of it.  NULL acc (the first round): no. */
bool kg_confirmed(const json_t *acc, const json_t *probe, const char *const *keys) {
  size_t i;
  const json_t *y;
  json_array_foreach(acc, i, y) if (kg_same_entry(probe, y, keys)) return json_is_true(json_object_get(y, "confirmed"));
  return false;
}

/* Mark each entry of acc "confirmed" when at least two of its rounds reached within
 * KG_CALIBRATE_AGREE of its best; return how many are not. */
static int kg_mark_confirmed(json_t *acc, const char *value) {
  size_t i, j;
  json_t *y, *v;
  int open = 0;
  json_array_foreach(acc, i, y) {
    double best = json_number_value(json_object_get(y, value));
    int near = 0;
    json_array_foreach(json_object_get(y, "round_values"), j, v) near +=
        json_number_value(v) >= best * (1 - KG_CALIBRATE_AGREE);
    bool ok = json_is_number(json_object_get(y, value)) && near >= 2;
    json_object_set_new(y, "confirmed", json_boolean(ok));
    open += !ok;
  }
  return open;
}

/* ---- the profile ---------------------------------------------------------------------------- */

/* The best figure among `results` matching op/level/threads (bandwidth) -- NAN when none. */
static double kg_best_bw(const json_t *results, const char *op, const char *level, int threads) {
  double best = NAN;
  size_t i;
  const json_t *x;
  json_array_foreach(results, i, x) {
    const json_t *g = json_object_get(x, "gbps");
    if (!json_is_number(g) || strcmp(json_string_value(json_object_get(x, "op")), op) ||
        strcmp(json_string_value(json_object_get(x, "level")), level) ||
        json_integer_value(json_object_get(x, "threads")) != threads)
      continue;
    if (!(json_number_value(g) <= best)) best = json_number_value(g);
  }
  return best;
}

static double kg_peak_of(const json_t *peak, const char *prec, int threads) {
  size_t i;
  const json_t *x;
  json_array_foreach(json_object_get(peak, prec), i, x) {
    const json_t *g = json_object_get(x, "gflops");
    if (json_integer_value(json_object_get(x, "threads")) == threads && json_is_number(g)) return json_number_value(g);
  }
  return NAN;
}

static json_t *kg_num_or_null(double v) { return isfinite(v) ? json_real(v) : json_null(); }

kg_status kg_calibrate(const kg_calibrate_opts *o, json_t **out, kg_ctx *ctx) {
  kg_machine m;
  kg_compiler *cc = NULL;
  kg_status st;
  double t0 = (double)kg_now_ns();
  if ((st = kg_machine_detect(&m, ctx))) return st;
  if ((st = kg_compiler_new(&o->compile, &cc, ctx))) return st;
  kg_calibrate_progress(o, "kgen calibrate: machine %s%s\n", m.id, o->quick ? " (quick)" : "");
  json_t *machine = kg_machine_to_json(&m);
  const char *desc = kg_compiler_describe(cc), *flags = strstr(desc, " -");
  json_object_set_new(machine, "compiler", json_stringn(desc, flags ? (size_t)(flags - desc) : strlen(desc)));
  json_object_set_new(machine, "flags", json_string(flags ? flags + 1 : ""));
  json_t *root = json_pack("{s:i, s:s, s:s, s:b, s:o}", "schema", 1, "kind", "machine-profile", "kgen_version",
                           KG_VERSION, "quick", o->quick, "machine", machine);
  /* Peak and bandwidth: rounds of every figure not yet confirmed, the best of each over its
   * rounds; at least `rounds` (KG_CALIBRATE_ROUNDS), at most 3x as many. */
  int min_rounds = o->rounds > 0 ? o->rounds : o->quick ? 1 : KG_CALIBRATE_ROUNDS;
  int max_rounds = o->rounds > 0 || !o->quick ? 3 * min_rounds : 1;
  int rounds = 0, open = 0;
  json_t *peak = NULL, *bw = NULL;
  for (; rounds < max_rounds && (rounds < min_rounds || open > 0); rounds++) {
    if (rounds < min_rounds) kg_calibrate_progress(o, "round %d of %d\n", rounds + 1, min_rounds);
    else kg_calibrate_progress(o, "round %d: %d figure%s not yet confirmed\n", rounds + 1, open, open == 1 ? "" : "s");
    /* the first rounds measure everything, so that a best figure is confirmed by rounds spread
     * over the run rather than by two back to back */
    const json_t *pp = rounds < min_rounds ? NULL : peak,
                 *bp = rounds < min_rounds ? NULL : json_object_get(bw, "results");
    json_t *p = kg_calibrate_peak(o, &m, cc, pp, ctx), *b = kg_calibrate_bandwidth(o, &m, cc, bp, ctx);
    if (!peak) {
      peak = json_deep_copy(p), bw = json_deep_copy(b);
      json_object_set_new(peak, "fp32", json_array());
      json_object_set_new(peak, "fp64", json_array());
      json_object_set_new(bw, "results", json_array());
    }
    kg_merge_best(json_object_get(peak, "fp32"), json_object_get(p, "fp32"), kg_peak_keys, "gflops");
    kg_merge_best(json_object_get(peak, "fp64"), json_object_get(p, "fp64"), kg_peak_keys, "gflops");
    kg_merge_best(json_object_get(bw, "results"), json_object_get(b, "results"), kg_bw_keys, "gbps");
    json_decref(p);
    json_decref(b);
    if (max_rounds > 1) /* a single round has nothing to confirm a figure with */
      open = kg_mark_confirmed(json_object_get(peak, "fp32"), "gflops") +
             kg_mark_confirmed(json_object_get(peak, "fp64"), "gflops") +
             kg_mark_confirmed(json_object_get(bw, "results"), "gbps");
  }
  json_object_set_new(peak, "rounds", json_integer(rounds));
  json_object_set_new(bw, "rounds", json_integer(rounds));
  json_object_set_new(root, "peak", peak);
  json_object_set_new(root, "bandwidth", bw);
  json_object_set_new(root, "sgemm", kg_calibrate_sgemm(o, &m));
  json_object_set_new(root, "roofline", kg_calibrate_roofline(o, &m));
  int tall = m.cores > 0 ? m.cores : 1;
  double copy = kg_best_bw(json_object_get(bw, "results"), "copy", "dram", tall);
  json_object_set_new(root, "balance",
                      json_pack("{s:o, s:o, s:s}", "fp32_flops_per_byte",
                                kg_num_or_null(kg_peak_of(peak, "fp32", tall) / copy), "fp64_flops_per_byte",
                                kg_num_or_null(kg_peak_of(peak, "fp64", tall) / copy), "basis",
                                "all-cores peak over all-cores DRAM copy bandwidth"));
  json_object_set_new(root, "elapsed_s", json_real(((double)kg_now_ns() - t0) * 1e-9));
  kg_compiler_free(cc);
  *out = root;
  return KG_OK;
}

/* The roofline references (absent in profiles made before them). */
static void kg_calibrate_print_roofline(const json_t *r, FILE *f) {
  if (!json_is_object(r)) return;
  size_t i;
  const json_t *x;
  fprintf(f, "\nroofline references (runtime/kg_roofline.h, all cores)\n");
  json_array_foreach(json_object_get(r, "read_bandwidth"), i, x) {
    if (json_object_get(x, "error")) fprintf(f, "  read %-5s error: %s\n", json_string_value(json_object_get(x, "level")), json_string_value(json_object_get(x, "error")));
    else fprintf(f, "  read %-5s %8.3gMB%s %9.1f GB/s\n", json_string_value(json_object_get(x, "level")),
            json_number_value(json_object_get(x, "bytes")) / (1 << 20), json_is_true(json_object_get(x, "cold")) ? " cold" : "     ",
            json_number_value(json_object_get(x, "rate")));
  }
  static const char *const peaks[] = {"fp32_fma", "int8_dot", "bf16_dot"};
  for (int k = 0; k < 3; k++) {
    x = json_object_get(r, peaks[k]);
    if (json_object_get(x, "error")) fprintf(f, "  %-10s error: %s\n", peaks[k], json_string_value(json_object_get(x, "error")));
    else if (x) fprintf(f, "  %-10s %9.1f %s\n", peaks[k], json_number_value(json_object_get(x, "rate")), json_string_value(json_object_get(x, "unit")));
  }
}

void kg_calibrate_print(const json_t *p, FILE *f) {
  const json_t *peak = json_object_get(p, "peak"), *bw = json_object_get(p, "bandwidth"),
               *sg = json_object_get(p, "sgemm"), *x;
  size_t i;
  fprintf(f, "machine %s: %s, %d cores%s\n", json_string_value(json_object_get(json_object_get(p, "machine"), "id")),
          json_string_value(json_object_get(json_object_get(p, "machine"), "cpu")),
          (int)json_integer_value(json_object_get(json_object_get(p, "machine"), "cores")),
          json_is_true(json_object_get(p, "quick")) ? " (quick run)" : "");
  fprintf(f, "\npeak FLOP/s (FMA microkernel, %s, %d accumulators)\n%-8s %12s %12s\n",
          json_string_value(json_object_get(peak, "isa")),
          (int)json_integer_value(json_object_get(peak, "accumulators")), "threads", "fp32 GF/s", "fp64 GF/s");
  json_array_foreach(json_object_get(peak, "fp32"), i, x) {
    int t = (int)json_integer_value(json_object_get(x, "threads"));
    fprintf(f, "%-8d %12.1f %12.1f\n", t, kg_peak_of(peak, "fp32", t), kg_peak_of(peak, "fp64", t));
  }
  fprintf(f, "\nbandwidth GB/s (%s %s; best of plain and streaming stores)\n%-6s %10s %8s %9s %9s %9s %9s\n",
          json_string_value(json_object_get(bw, "kernel")), json_string_value(json_object_get(bw, "variant")), "level",
          "bytes", "threads", "copy", "scale", "add", "triad");
  static const char *const levels[4] = {"l1", "l2", "l3", "dram"};
  const json_t *res = json_object_get(bw, "results");
  for (int l = 0; l < 4; l++)
    for (int t = 1; t <= 1024; t++) {
      double c = kg_best_bw(res, "copy", levels[l], t), s = kg_best_bw(res, "scale", levels[l], t),
             a = kg_best_bw(res, "add", levels[l], t), tr = kg_best_bw(res, "triad", levels[l], t);
      if (isnan(c) && isnan(s) && isnan(a) && isnan(tr)) continue;
      double bytes = 0;
      json_array_foreach(res, i, x) if (!strcmp(json_string_value(json_object_get(x, "level")), levels[l]) &&
                                        !strcmp(json_string_value(json_object_get(x, "op")), "copy")) bytes =
          json_number_value(json_object_get(x, "bytes"));
      fprintf(f, "%-6s %8.3gMB %8d %9.1f %9.1f %9.1f %9.1f\n", levels[l], bytes / (1 << 20), t, c, s, a, tr);
    }
  /* figures whose best no second round came near: the machine was too noisy to settle them */
  int unconfirmed = 0;
  static const char *const precs[2] = {"fp32", "fp64"};
  for (int k = 0; k < 2; k++)
    json_array_foreach(json_object_get(peak, precs[k]), i, x) if (json_is_false(json_object_get(x, "confirmed")))
        fprintf(f, "%s peak %s %d thread(s)", unconfirmed++ ? "," : "\nnot confirmed:", precs[k],
                (int)json_integer_value(json_object_get(x, "threads")));
  json_array_foreach(res, i, x) if (json_is_false(json_object_get(x, "confirmed")))
      fprintf(f, "%s %s %s %d thread(s)%s",
              unconfirmed++ ? "," : "\nnot confirmed:", json_string_value(json_object_get(x, "op")),
              json_string_value(json_object_get(x, "level")), (int)json_integer_value(json_object_get(x, "threads")),
              json_integer_value(json_object_get(x, "nt")) ? " nt" : "");
  if (unconfirmed)
    fprintf(f,
            "\n  (%d figure%s: after %d rounds no second round came within %.0f%% of the best; the machine was "
            "too noisy to settle %s)\n",
            unconfirmed, unconfirmed == 1 ? "" : "s", (int)json_integer_value(json_object_get(bw, "rounds")),
            KG_CALIBRATE_AGREE * 100, unconfirmed == 1 ? "it" : "them");
  fprintf(f, "\nOpenBLAS cblas_sgemm GFLOP/s\n%-10s %-10s %8s %6s %10s\n", "coretype", "corename", "threads", "n",
          "GF/s");
  json_array_foreach(json_object_get(sg, "results"), i, x) {
    if (json_object_get(x, "error")) {
      fprintf(f, "%-10s error: %s\n", json_string_value(json_object_get(x, "coretype")),
              json_string_value(json_object_get(x, "error")));
      continue;
    }
    fprintf(f, "%-10s %-10s %8d %6d %10.1f\n", json_string_value(json_object_get(x, "coretype")),
            json_string_value(json_object_get(x, "corename")), (int)json_integer_value(json_object_get(x, "threads")),
            (int)json_integer_value(json_object_get(x, "n")), json_number_value(json_object_get(x, "gflops")));
  }
  kg_calibrate_print_roofline(json_object_get(p, "roofline"), f);
  const json_t *bal = json_object_get(p, "balance");
  fprintf(f, "\nmachine balance: %.2f fp32 flops/byte, %.2f fp64 flops/byte (%s)\n",
          json_number_value(json_object_get(bal, "fp32_flops_per_byte")),
          json_number_value(json_object_get(bal, "fp64_flops_per_byte")),
          json_string_value(json_object_get(bal, "basis")));
}
