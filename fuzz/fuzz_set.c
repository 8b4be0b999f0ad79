/* fuzz_set.c - libFuzzer target: `--set a=1,b=x` parsing (kg_spec_parse_set) against
 * tests/specs/small.lua (int, pow2 and enum parameters, constraints). */
#include <stddef.h>
#include <stdint.h>

#include "fuzz_common.h"
#include "kg_spec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static kg_spec *spec;
  if (!spec) {
    fuzz_limits();
    const char *root = getenv("KGEN_ROOT");
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/specs/small.lua", root ? root : ".");
    kg_ctx ctx = {0};
    if (kg_spec_load(path, &spec, &ctx) != KG_OK) {
      fprintf(stderr, "fuzz_set: %s (set KGEN_ROOT to the repository)\n", ctx.msg);
      abort();
    }
  }
  char *set = malloc(size + 1);
  if (!set) return 0;
  memcpy(set, data, size);
  set[size] = '\0';
  int32_t *point = calloc((size_t)spec->nparams + 1, sizeof *point);
  kg_ctx ctx = {0};
  if (point && kg_spec_parse_set(spec, set, point, &ctx) == KG_OK) (void)kg_spec_point_index(spec, point);
  free(point);
  free(set);
  return 0;
}
