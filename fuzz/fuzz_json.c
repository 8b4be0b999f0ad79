/* fuzz_json.c - libFuzzer target: the readers of kgen's reports on arbitrary JSON: `kgen compare`
 * (kg_bench_compare, the document against itself and against a valid report, both ways) and
 * `kgen bench --tuned` (kg_bench_points against tests/specs/variants.lua). */
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "fuzz_common.h"
#include "kg_bench.h"
#include "kg_spec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static kg_spec *spec;
  static json_t *valid;
  static FILE *sink;
  if (!spec) {
    fuzz_limits();
    const char *root = getenv("KGEN_ROOT");
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/specs/variants.lua", root ? root : ".");
    kg_ctx ctx = {0};
    if (kg_spec_load(path, &spec, &ctx) != KG_OK) {
      fprintf(stderr, "fuzz_json: %s (set KGEN_ROOT to the repository)\n", ctx.msg);
      abort();
    }
    valid = json_loads("{\"problems\": [{\"name\": \"small\", \"winner\": {\"params\": {\"mode\": \"ok\", \"pad\": 0},"
                       " \"p50_ns\": 100, \"ci95_ns\": [90, 110]}}]}",
                       0, NULL);
    sink = fopen("/dev/null", "w");
    if (!valid || !sink) abort();
  }
  json_error_t err;
  json_t *doc = json_loadb((const char *)data, size, 0, &err);
  if (!doc) return 0;
  kg_ctx ctx = {0};
  int reg = 0;
  (void)kg_bench_compare(doc, doc, 5, sink, &reg, &ctx);
  (void)kg_bench_compare(valid, doc, 5, sink, &reg, &ctx);
  (void)kg_bench_compare(doc, valid, 5, sink, &reg, &ctx);
  const char *names[64];
  long problem_points[64], points[64], npoints = 0;
  int nsel = 0;
  (void)kg_bench_points(spec, doc, 0, NULL, names, problem_points, &nsel, points, &npoints, &ctx);
  json_decref(doc);
  return 0;
}
