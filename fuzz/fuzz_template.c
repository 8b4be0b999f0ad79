/* fuzz_template.c - libFuzzer target: template expansion (slots, includes, banner) of arbitrary
 * template text, for the default point of a fixed two-parameter spec. */
#include <stddef.h>
#include <stdint.h>

#include "fuzz_common.h"
#include "kg_spec.h"
#include "kg_template.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static kg_spec *spec;
  char path[256];
  fuzz_write("t.c", data, size, path, sizeof path);
  if (!spec) {
    fuzz_limits();
    static const char text[] = "return kernel \"fz\" {\n  template = \"t.c\",\n"
                               "  params = { a = values { 1, 4 }, mode = enum { \"x\", \"y\" } },\n"
                               "  problems = { problem \"p\" { n = 8 } },\n}\n";
    char sp[256];
    fuzz_write("spec.lua", text, sizeof text - 1, sp, sizeof sp);
    kg_ctx ctx = {0};
    if (kg_spec_load(sp, &spec, &ctx) != KG_OK) {
      fprintf(stderr, "fuzz_template: fixed spec: %s\n", ctx.msg);
      abort();
    }
  }
  int32_t point[2] = {1, 0};
  char *src = NULL;
  size_t len = 0;
  kg_ctx ctx = {0};
  if (kg_template_emit(spec, point, &src, &len, &ctx) == KG_OK) free(src);
  uint64_t h;
  (void)kg_template_hash(spec, &h, &ctx);
  return 0;
}
