/* kg_cli_show.c - `kgen show SPEC`: the space as this machine sees it, problems, baselines. */
#include <inttypes.h>

#include "kg_cli.h"

/* ---- show ---------------------------------------------------------------------------------- */

int kg_cli_show(int argc, char **argv) {
  static const struct option longs[] = {{"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
  int c;
  while ((c = kg_getopt(argc, argv, "h", longs)) != -1) {
    if (c == -2) return EXIT_USAGE;
    if (c == 'h') {
      printf("usage: kgen show SPEC\n  tunable space, constraints, problems, reference and baselines\n");
      return 0;
    }
  }
  if (optind >= argc) return kg_usage_error("show: %s", "missing SPEC");
  kg_spec *s = NULL;
  int rc = kg_load(argv[optind], &s);
  if (rc) return rc;
  printf("kernel      %s\n", s->name);
  if (s->description[0]) printf("            %s\n", s->description);
  printf("spec        %s (xxh64 %016" PRIx64 ")\n", s->path, s->hash);
  kg_machine m;
  kg_ctx mctx = {0};
  if (kg_spec_machine(NULL, &m, &mctx) == KG_OK) { /* what the spec's `machine` table showed it */
    printf("machine     %s: %d cores, isa", m.id, m.cores);
    for (int i = 0; i < m.nisa; i++) printf(" %s", m.isa[i]);
    printf("%s\n",
           getenv("KGEN_MACHINE_OVERRIDE") && getenv("KGEN_MACHINE_OVERRIDE")[0] ? " (KGEN_MACHINE_OVERRIDE)" : "");
  }
  printf("template    %s\n", s->template_path);
  printf("reference   %s\n", s->reference[0] ? s->reference : "-");
  printf("baselines  ");
  for (int i = 0; i < s->nbaselines; i++) {
    printf(" %s", s->baselines[i]);
    if (s->baseline_threads[i])
      printf(" (%d thread%s)", s->baseline_threads[i], s->baseline_threads[i] == 1 ? "" : "s");
  }
  printf("%s\n", s->nbaselines ? "" : " -");
  printf("tolerance   rtol %g, atol %g%s\n", s->rtol, s->atol, s->rtol == 0 && s->atol == 0 ? " (exact)" : "");
  if (s->sampled) /* too large to enumerate: a sample (kg_spec.h) */
    printf("space       %zu points, about %.3g valid (estimated), a sample of %zu drawn uniformly over branches "
           "(%d constraint(s); %.3f s, %llu constraint calls)\n",
           s->nraw, s->estimate, s->npoints, s->nconstraints, s->space_seconds, s->nconstraint_calls);
  else
    printf("space       %zu points, %zu after %d constraint(s) (enumerated in %.3f s, %llu constraint calls)\n",
           s->nraw, s->npoints, s->nconstraints, s->space_seconds, s->nconstraint_calls);
  printf("parameters  (the first value is the default)\n");
  for (int i = 0; i < s->nparams; i++) {
    const kg_param *p = &s->params[i];
    printf("  %-12s %-12s", p->name, p->macro);
    for (int v = 0; v < p->nvalues; v++) {
      if (p->kind == KG_PARAM_INT) printf(" %" PRId64, p->ivalues[v]);
      else printf(" %s", p->svalues[v]);
    }
    printf("\n");
  }
  printf("problems\n");
  for (int i = 0; i < s->nproblems; i++) {
    const kg_spec_problem *p = &s->problems[i];
    printf("  %-12s", p->name);
    for (int d = 0; d < p->ndims; d++) printf(" %s=%" PRId64, p->dim_names[d], p->dims[d]);
    if (p->bytes >= 0) printf("  bytes=%.4g", p->bytes);
    if (p->flops >= 0) printf("  flops=%.4g", p->flops);
    if (p->bound) printf("  bound=%s", kg_roofline_name((kg_roofline_bound)p->bound));
    if (p->cold) printf("  cold");
    printf("\n");
  }
  kg_spec_free(s);
  return 0;
}
