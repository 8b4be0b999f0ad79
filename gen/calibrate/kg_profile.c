/* kg_profile.c - load a machine profile; roofline efficiency (see kg_profile.h). */
#include "kg_profile.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

void kg_profile_default_path(const char *root, const char *machine_id, char *buf, size_t cap) {
  snprintf(buf, cap, "%s/machines/%s.json", root && *root ? root : "tuned", machine_id);
}

static double kg_num(const json_t *o, const char *key) {
  const json_t *v = json_object_get(o, key);
  return json_is_number(v) ? json_number_value(v) : NAN;
}

kg_status kg_profile_load(const char *path, kg_profile *out, kg_ctx *ctx) {
  memset(out, 0, sizeof *out);
  if (access(path, F_OK) != 0) return kg_ctx_set(ctx, KG_ENOTFOUND, "%s: %s", path, strerror(errno));
  json_error_t err;
  json_t *root = json_load_file(path, 0, &err);
  if (!root) return kg_ctx_set(ctx, KG_EIO, "%s:%d: %s", path, err.line, err.text);
  kg_status st = KG_OK;
  const json_t *kind = json_object_get(root, "kind");
  const json_t *peak = json_object_get(root, "peak"), *bw = json_object_get(root, "bandwidth");
  if (!json_is_string(kind) || strcmp(json_string_value(kind), "machine-profile") != 0 || !json_is_object(peak) ||
      !json_is_object(bw)) {
    st = kg_ctx_set(ctx, KG_EINVAL, "%s: not a kgen machine profile (kind, peak, bandwidth)", path);
    goto done;
  }
  snprintf(out->path, sizeof out->path, "%s", path);
  const json_t *id = json_object_get(json_object_get(root, "machine"), "id");
  snprintf(out->machine_id, sizeof out->machine_id, "%s", json_is_string(id) ? json_string_value(id) : "");
  const json_t *f32 = json_object_get(peak, "fp32");
  size_t i;
  const json_t *x;
  json_array_foreach(f32, i, x) {
    if (out->npeak == KG_PROFILE_MAX_PEAK) break;
    out->peak[out->npeak].threads = (int)kg_num(x, "threads");
    out->peak[out->npeak].fp32 = kg_num(x, "gflops");
    out->npeak++;
  }
  json_array_foreach(json_object_get(bw, "results"), i, x) {
    if (out->nbw == KG_PROFILE_MAX_BW) break;
    kg_profile_bw *b = &out->bw[out->nbw];
    const json_t *op = json_object_get(x, "op"), *lv = json_object_get(x, "level");
    snprintf(b->op, sizeof b->op, "%s", json_is_string(op) ? json_string_value(op) : "");
    snprintf(b->level, sizeof b->level, "%s", json_is_string(lv) ? json_string_value(lv) : "");
    b->bytes = kg_num(x, "bytes");
    b->threads = (int)kg_num(x, "threads");
    b->gbps = kg_num(x, "gbps");
    if (isfinite(b->bytes) && isfinite(b->gbps) && b->gbps > 0) out->nbw++;
  }
  const json_t *roof = json_object_get(root, "roofline");
  out->int8_dot = kg_num(json_object_get(roof, "int8_dot"), "rate");
  out->bf16_dot = kg_num(json_object_get(roof, "bf16_dot"), "rate");
  if (out->npeak == 0 || out->nbw == 0)
    st = kg_ctx_set(ctx, KG_EINVAL, "%s: the profile has no peak or no bandwidth figures", path);
done:
  json_decref(root);
  return st;
}

/* The peak entry for `threads` (0 or absent: the largest thread count measured). */
static int kg_peak_at(const kg_profile *p, int threads) {
  int best = -1;
  for (int i = 0; i < p->npeak; i++) {
    if (threads > 0 && p->peak[i].threads == threads) return i;
    if (best < 0 || p->peak[i].threads > p->peak[best].threads) best = i;
  }
  return best;
}

/* The bandwidth ceiling of `op` at the size nearest `bytes` (log scale; unknown: the largest):
 * the best figure measured there with at most `threads` threads (0: any number).  At small sizes
 * more threads can be slower (the fork-join costs more than the copy), so the best of 1..threads
 * is what the machine can do. */
static int kg_bw_at(const kg_profile *p, const char *op, int threads, double bytes) {
  int near = -1;
  double dbest = INFINITY;
  for (int i = 0; i < p->nbw; i++) {
    if (strcmp(p->bw[i].op, op)) continue;
    double d = bytes > 0 ? fabs(log(p->bw[i].bytes / bytes)) : -p->bw[i].bytes;
    if (d < dbest) {
      dbest = d;
      near = i;
    }
  }
  int best = -1;
  for (int i = 0; near >= 0 && i < p->nbw; i++)
    if (!strcmp(p->bw[i].op, op) && p->bw[i].bytes == p->bw[near].bytes &&
        (threads <= 0 || p->bw[i].threads <= threads) && (best < 0 || p->bw[i].gbps > p->bw[best].gbps))
      best = i;
  return best >= 0 ? best : near;
}

static void kg_fmt_bytes(double b, char *buf, size_t cap) {
  if (b >= 1 << 20) snprintf(buf, cap, "%.1f MB", b / (1 << 20));
  else snprintf(buf, cap, "%.0f KB", b / 1024);
}

void kg_profile_efficiency(const kg_profile *p, double flops, double bytes, double p50_ns, int threads,
                           kg_roofline_bound bound, kg_efficiency *e) {
  memset(e, 0, sizeof *e);
  e->intensity = e->balance = e->fraction = NAN;
  if (!p) {
    snprintf(e->why, sizeof e->why, "no machine profile (run kgen calibrate)");
    return;
  }
  if (!(p50_ns > 0) || (flops <= 0 && bytes <= 0)) {
    snprintf(e->why, sizeof e->why, "the spec has no flops or bytes metric");
    return;
  }
  const bool dot = bound == KG_BOUND_INT8_DOT || bound == KG_BOUND_BF16_DOT;
  const char *peak_name = dot ? kg_roofline_name(bound) : "fp32";
  int pk = kg_peak_at(p, dot ? 0 : threads); /* the dot-product peaks are all-cores figures */
  int bw = kg_bw_at(p, "copy", threads, bytes);
  if (bw < 0) bw = kg_bw_at(p, "triad", threads, bytes);
  double peak = dot ? (bound == KG_BOUND_INT8_DOT ? p->int8_dot : p->bf16_dot) : pk >= 0 ? p->peak[pk].fp32 : NAN;
  if (dot && !(peak > 0)) { /* no fallback to the memory roof for a problem bound by dot products */
    snprintf(e->why, sizeof e->why, "the profile lacks the %s figure", peak_name);
    return;
  }
  double band = bw >= 0 ? p->bw[bw].gbps : NAN;
  e->balance = peak / band;
  e->intensity = bytes > 0 && flops >= 0 ? flops / bytes : NAN;
  bool memory = bytes > 0 && (flops <= 0 || !isfinite(e->balance) || e->intensity < e->balance);
  if (memory && isfinite(band)) {
    snprintf(e->bound, sizeof e->bound, "memory");
    e->achieved = bytes / p50_ns;
    e->ceiling = band;
    e->threads = p->bw[bw].threads;
    char sz[32];
    kg_fmt_bytes(p->bw[bw].bytes, sz, sizeof sz);
    snprintf(e->reference, sizeof e->reference, "%s %s (%s), %d thread%s", p->bw[bw].op, sz, p->bw[bw].level,
             e->threads, e->threads == 1 ? "" : "s");
  } else if (flops > 0 && isfinite(peak) && peak > 0) {
    snprintf(e->bound, sizeof e->bound, "compute");
    e->achieved = flops / p50_ns;
    e->ceiling = peak;
    e->threads = p->peak[pk].threads;
    snprintf(e->reference, sizeof e->reference, "%s peak, %d thread%s", peak_name, e->threads,
             e->threads == 1 ? "" : "s");
  } else {
    snprintf(e->why, sizeof e->why, "the profile lacks the %s figure", memory ? "bandwidth" : peak_name);
    return;
  }
  e->fraction = e->achieved / e->ceiling;
  e->known = true;
}
