/* kg_cli_compile.c - `kgen compile SPEC --set ...`: compile one variant (JIT or cc backend). */

#include "kg_cli.h"
#include "kg_timer.h"

int kg_cli_compile(int argc, char **argv) {
  static const struct option longs[] = {{"set", required_argument, 0, 's'},
                                        {"backend", required_argument, 0, 'b'},
                                        {"help", no_argument, 0, 'h'},
                                        {0, 0, 0, 0}};
  const char *set = NULL;
  kg_compile_opts co = {0};
  kg_ctx ctx = {0};
  int c;
  while ((c = kg_getopt(argc, argv, "s:b:h", longs)) != -1) {
    if (c == -2) return EXIT_USAGE;
    if (c == 's') set = optarg;
    else if (c == 'b') {
      if (kg_backend_parse(optarg, &co.backend, &ctx)) return kg_usage_error("%s", kg_ctx_message(&ctx));
    } else if (c == 'h') {
      printf("usage: kgen compile SPEC [--set a=1,b=2] [--backend jit|cc]\n"
             "  compile one variant; print the compile time and the diagnostics\n");
      return 0;
    }
  }
  if (optind >= argc) return kg_usage_error("compile: %s", "missing SPEC");
  kg_spec *s = NULL;
  int32_t *point = NULL;
  char *src = NULL, *diag = NULL;
  kg_compiler *cc = NULL;
  kg_module *m = NULL;
  int rc = kg_emit_variant(argv[optind], set, &s, &point, &src, NULL);
  if (rc) goto done;
  double t0 = (double)kg_now_ns();
  kg_status st = kg_compiler_new(&co, &cc, &ctx);
  double t1 = (double)kg_now_ns();
  if (st) {
    rc = kg_fail(&ctx, st);
    goto done;
  }
  char name[1024];
  kg_spec_format_point(s, point, name, sizeof name);
  st = kg_compiler_compile(cc, name, src, &m, &diag, &ctx);
  double t2 = (double)kg_now_ns();
  if (diag && *diag) fprintf(stderr, "%s", diag);
  printf("%s[%s]: %s, %s backend (%s), compile %.1f ms (compiler set-up %.1f ms)\n", s->name, name,
         st ? "failed" : "ok", kg_backend_name(co.backend), kg_compiler_describe(cc), (t2 - t1) / 1e6, (t1 - t0) / 1e6);
  if (st) rc = kg_fail(&ctx, st);
done:
  kg_module_free(m);
  kg_compiler_free(cc);
  free(diag);
  free(src);
  free(point);
  kg_spec_free(s);
  return rc;
}
