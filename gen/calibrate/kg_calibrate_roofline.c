/* kg_calibrate_roofline.c - the roofline references of runtime/kg_roofline.h in the profile:
 * read-only bandwidth (a read pass, the reference of memory-bound problems) at a size in each
 * cache level and in DRAM (cold: caches flushed before every call), and the fp32 FMA, int8 dot
 * product (AVX-512 VNNI) and bf16 dot product (AVX-512 BF16) peaks on all cores.  For context:
 * `kgen bench` and `kgen tune` measure the reference they need in the same run. */
#include <math.h>

#include "kg_calibrate_internal.h"
#include "kg_measure.h"
#include "kg_roofline.h"

/* One reference: {"rate", "unit", "p50_ns", ...}, or {"error"} when it cannot run here. */
static json_t *kg_roofline_entry(const kg_calibrate_opts *o, kg_roofline_bound b, double bytes, bool cold) {
  char why[256];
  if (!kg_roofline_supported(b, why, sizeof why)) return json_pack("{s:s}", "error", why);
  kg_measure_opts mo;
  kg_measure_opts_default(&mo);
  mo.min_time_s = o->quick ? 0.05 : 0.2;
  mo.cold = cold;
  const char *names[3];
  int64_t dims[3];
  kg_problem p;
  kg_roofline_problem(b, bytes, 0, names, dims, &p);
  kg_entry e = {kg_roofline_create, kg_roofline_run, NULL, kg_roofline_destroy};
  kg_measurement m;
  kg_ctx ctx = {0};
  if (kg_measure(&p, &e, &mo, &m, &ctx) != KG_OK || m.status != KG_OK || !(m.stats.p50 > 0))
    return json_pack("{s:s}", "error", m.reason[0] ? m.reason : kg_ctx_message(&ctx));
  double rate = kg_roofline_work_of(b, bytes, 0) / m.stats.p50;
  json_t *x = json_pack("{s:s, s:f, s:s, s:f, s:s, s:b}", "bound", kg_roofline_name(b), "rate", rate, "unit",
                        kg_roofline_unit(b), "p50_ns", m.stats.p50, "isa", kg_roofline_isa(b), "noisy", m.noisy);
  if (b == KG_BOUND_MEMORY) {
    json_object_set_new(x, "bytes", json_real(bytes));
    json_object_set_new(x, "cold", json_boolean(cold));
  }
  return x;
}

json_t *kg_calibrate_roofline(const kg_calibrate_opts *o, const kg_machine *m) {
  json_t *r = json_object(), *reads = json_array();
  const double l2 = m->l2 ? (double)m->l2 : 1 << 20, l3 = m->l3 ? (double)m->l3 : 32 << 20;
  struct {
    const char *level;
    double bytes;
    bool cold;
  } sizes[] = {{"l2", l2 / 2, false}, {"l3", l3 / 4, false}, {"dram", fmin(l3 / 4, 256.0 * (1 << 20)), true}};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    if (o->quick && i == 1) continue; /* quick: the ends only */
    kg_calibrate_progress(o, "roofline: read bandwidth, %s (%.3g MB%s)\n", sizes[i].level, sizes[i].bytes / 1e6,
                          sizes[i].cold ? ", cold" : "");
    json_t *x = kg_roofline_entry(o, KG_BOUND_MEMORY, sizes[i].bytes, sizes[i].cold);
    json_object_set_new(x, "level", json_string(sizes[i].level));
    json_array_append_new(reads, x);
  }
  json_object_set_new(r, "read_bandwidth", reads);
  const kg_roofline_bound peaks[] = {KG_BOUND_FP32_FMA, KG_BOUND_INT8_DOT, KG_BOUND_BF16_DOT};
  for (size_t i = 0; i < 3; i++) {
    kg_calibrate_progress(o, "roofline: %s peak, all cores\n", kg_roofline_name(peaks[i]));
    json_object_set_new(r, kg_roofline_name(peaks[i]), kg_roofline_entry(o, peaks[i], 0, false));
  }
  json_object_set_new(r, "basis",
                      json_string("runtime/kg_roofline.h references on all usable cores (the DRAM read after a "
                                  "cache flush); kgen bench measures the one a problem needs in the same run"));
  return r;
}
