/* kg_cli_list.c - `kgen list [DIR]`: the specs of a folder, their spaces and problems. */
#include <dirent.h>
#include <errno.h>
#include <string.h>

#include "kg_cli.h"

/* ---- list ---------------------------------------------------------------------------------- */

int kg_cli_list(int argc, char **argv) {
  static const struct option longs[] = {{"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
  int c;
  while ((c = kg_getopt(argc, argv, "h", longs)) != -1) {
    if (c == -2) return EXIT_USAGE;
    if (c == 'h') {
      printf("usage: kgen list [DIR]\n  the specs found in DIR (default specs/)\n");
      return 0;
    }
  }
  const char *dir = optind < argc ? argv[optind] : "specs";
  DIR *d = opendir(dir);
  if (!d) {
    fprintf(stderr, "kgen: %s: %s\n", dir, strerror(errno));
    return EXIT_USAGE;
  }
  char **names = NULL;
  size_t n = 0;
  for (struct dirent *e; (e = readdir(d));) {
    if (!kg_ends_with(e->d_name, ".lua")) continue;
    char **grown = realloc(names, sizeof *names * (n + 1));
    if (!grown) break;
    names = grown;
    names[n++] = strdup(e->d_name);
  }
  closedir(d);
  qsort(names, n, sizeof *names, kg_name_cmp);
  int rc = 0;
  printf("%-16s %-10s %-8s %-50s %s\n", "kernel", "space", "problems", "parameters", "spec");
  for (size_t i = 0; i < n; i++) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, names[i]);
    kg_spec *s = NULL;
    kg_ctx ctx = {0};
    if (kg_spec_load(path, &s, &ctx)) {
      fprintf(stderr, "kgen: %s\n", kg_ctx_message(&ctx));
      rc = EXIT_USAGE;
    } else {
      char params[1024] = "";
      for (int p = 0; p < s->nparams; p++)
        snprintf(params + strlen(params), sizeof params - strlen(params), "%s%s(%d)", p ? " " : "", s->params[p].name,
                 s->params[p].nvalues);
      printf("%-16s %-10zu %-8d %-50s %s\n", s->name, s->npoints, s->nproblems, params, path);
    }
    kg_spec_free(s);
    free(names[i]);
  }
  free(names);
  return rc;
}
