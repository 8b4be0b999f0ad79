/* kg_cli_emit.c - `kgen emit SPEC --set ...`: one variant's C source; kg_emit_variant, which
 * `kgen compile` shares. */
#include <errno.h>
#include <string.h>

#include "kg_cli.h"
#include "kg_template.h"

/* Load SPEC, parse --set, emit the source.  On success returns 0 with *src, *spec set. */
int kg_emit_variant(const char *path, const char *set, kg_spec **spec, int32_t **point, char **src, size_t *len) {
  int rc = kg_load(path, spec);
  if (rc) return rc;
  kg_ctx ctx = {0};
  *point = calloc((size_t)(*spec)->nparams + 1, sizeof **point);
  kg_status st = *point ? kg_spec_parse_set(*spec, set, *point, &ctx) : KG_ENOMEM;
  if (!st) st = kg_template_emit(*spec, *point, src, len, &ctx);
  if (st) {
    if (st == KG_EINVAL) {
      fprintf(stderr, "kgen: %s\n", kg_ctx_message(&ctx));
      return EXIT_USAGE;
    }
    return kg_fail(&ctx, st);
  }
  return 0;
}

int kg_cli_emit(int argc, char **argv) {
  static const struct option longs[] = {{"set", required_argument, 0, 's'},
                                        {"output", required_argument, 0, 'o'},
                                        {"help", no_argument, 0, 'h'},
                                        {0, 0, 0, 0}};
  const char *set = NULL, *out = NULL;
  int c;
  while ((c = kg_getopt(argc, argv, "s:o:h", longs)) != -1) {
    if (c == -2) return EXIT_USAGE;
    if (c == 's') set = optarg;
    else if (c == 'o') out = optarg;
    else if (c == 'h') {
      printf("usage: kgen emit SPEC [--set a=1,b=2] [-o FILE]\n  the C source of one variant\n");
      return 0;
    }
  }
  if (optind >= argc) return kg_usage_error("emit: %s", "missing SPEC");
  kg_spec *s = NULL;
  int32_t *point = NULL;
  char *src = NULL;
  size_t len = 0;
  int rc = kg_emit_variant(argv[optind], set, &s, &point, &src, &len);
  if (!rc) {
    FILE *f = out ? fopen(out, "w") : stdout;
    if (!f || fwrite(src, 1, len, f) != len || (out && fclose(f) != 0)) {
      fprintf(stderr, "kgen: %s: %s\n", out ? out : "stdout", strerror(errno));
      rc = EXIT_WORK;
    }
  }
  free(src);
  free(point);
  kg_spec_free(s);
  return rc;
}
