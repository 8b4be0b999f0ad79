/* fuzz_spec.c - libFuzzer target: the spec loader (kg_spec_load) on arbitrary spec text.  A
 * template file sits beside it, so specs that name "t.c" get as far as their space. */
#include <stddef.h>
#include <stdint.h>

#include "fuzz_common.h"
#include "kg_spec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static int ready;
  char path[256];
  if (!ready) {
    fuzz_limits();
    static const char tmpl[] = "int f(void) { return A + B; }\n";
    fuzz_write("t.c", tmpl, sizeof tmpl - 1, path, sizeof path);
    ready = 1;
  }
  fuzz_write("spec.lua", data, size, path, sizeof path);
  kg_spec *spec = NULL;
  kg_ctx ctx = {0};
  if (kg_spec_load(path, &spec, &ctx) == KG_OK) kg_spec_free(spec);
  return 0;
}
