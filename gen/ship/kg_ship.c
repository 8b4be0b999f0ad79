/* kg_ship.c - `kgen ship` (kg_ship.h): the library generator's command. */
#include "kg_ship.h"

#include "kg_ship_internal.h"

/* ---- the command ------------------------------------------------------------------------------ */

static const char ship_usage[] =
    "usage: kgen ship [SPEC...] [--tuned DIR] --out DIR\n"
    "  write the tuned kernels as a self-contained CMake project (C library, kgen/kgen.h,\n"
    "  dispatch by machine and shape, find_package(kgen) -> kgen::kgen, kgen.pc); SPECs default\n"
    "  to every spec under specs/ whose template has a public front (<template>.front.c)\n"
    "  --tuned DIR   tuned results (default tuned)\n"
    "  --out DIR     the project to write (required)\n";

static void ship_free(ship *s) {
  for (int i = 0; i < s->nm; i++) free(s->m[i].id), free(s->m[i].vendor), free(s->m[i].microarch), free(s->m[i].cpu);
  for (int ki = 0; ki < s->nk; ki++) {
    ship_kernel *k = &s->k[ki];
    for (int i = 0; i < k->nv; i++) free(k->v[i].point);
    for (int i = 0; i < k->ne; i++) free(k->e[i].problem), free(k->e[i].dims);
    for (int i = 0; i < k->ndims; i++) free(k->dims[i]);
    free(k->e), free(k->generalist), free(k->stem);
    for (int i = 0; i < k->nmspec; i++) kg_spec_free(k->mspec[i]), free(k->mspec_id[i]);
    kg_spec_free(k->spec);
  }
}

/* Load spec path into s if its template has a front; 1 when skipped, -1 on error. */
static int ship_add_spec(ship *s, const char *path, int explicit_) {
  kg_ctx ctx = {0};
  kg_spec *spec = NULL;
  if (kg_spec_load(path, &spec, &ctx)) {
    fprintf(stderr, "kgen ship: %s\n", kg_ctx_message(&ctx));
    return explicit_ ? -1 : 1;
  }
  char stem[4096], front[4200], api[4200];
  snprintf(stem, sizeof stem, "%s", spec->template_path);
  size_t l = strlen(stem);
  if (l > 2 && !strcmp(stem + l - 2, ".c")) stem[l - 2] = 0;
  snprintf(front, sizeof front, "%s.front.c", stem);
  snprintf(api, sizeof api, "%s.api.h", stem);
  if (access(front, R_OK) || access(api, R_OK) || s->nk == 32) {
    if (explicit_) fprintf(stderr, "kgen ship: %s: its template has no public front (%s)\n", path, front);
    kg_spec_free(spec);
    return explicit_ ? -1 : 1;
  }
  for (int i = 0; i < s->nk; i++)
    if (!strcmp(s->k[i].spec->name, spec->name)) {
      kg_spec_free(spec);
      return 1;
    }
  ship_kernel *k = &s->k[s->nk++];
  memset(k, 0, sizeof *k);
  k->spec = spec;
  k->stem = strdup(stem);
  return 0;
}

static int cmp_kernel(const void *a, const void *b) {
  return strcmp(((const ship_kernel *)a)->spec->name, ((const ship_kernel *)b)->spec->name);
}

int kg_cli_ship(int argc, char **argv) {
  static const struct option longs[] = {{"tuned", required_argument, 0, 't'},
                                        {"out", required_argument, 0, 'o'},
                                        {"help", no_argument, 0, 'h'},
                                        {0, 0, 0, 0}};
  ship *s = calloc(1, sizeof *s);
  if (!s) return 1;
  s->tuned = "tuned";
  int c, rc = 2;
  opterr = 0;
  while ((c = getopt_long(argc, argv, "o:h", longs, NULL)) != -1) {
    if (c == 't') s->tuned = optarg;
    else if (c == 'o') s->out = optarg;
    else if (c == 'h') {
      fputs(ship_usage, stdout);
      free(s);
      return 0;
    } else {
      fprintf(stderr, "kgen ship: unknown option or missing value '%s'\n\n%s", argv[optind - 1], ship_usage);
      free(s);
      return 2;
    }
  }
  if (!s->out) {
    fprintf(stderr, "kgen ship: --out DIR is required\n\n%s", ship_usage);
    free(s);
    return 2;
  }
  if (optind < argc) {
    for (int i = optind; i < argc; i++)
      if (ship_add_spec(s, argv[i], 1) < 0) goto done;
  } else {
    char dir[4096];
    const char *root = getenv("KGEN_ROOT");
    if (root && *root) snprintf(dir, sizeof dir, "%s/specs", root);
    else if (access("specs", R_OK) == 0) snprintf(dir, sizeof dir, "specs");
    else snprintf(dir, sizeof dir, "%s/specs", KG_SOURCE_ROOT);
    DIR *d = opendir(dir);
    if (!d) {
      fprintf(stderr, "kgen ship: %s: %s\n", dir, strerror(errno));
      goto done;
    }
    char *names[256];
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) && n < 256;) {
      size_t l = strlen(e->d_name);
      if (l > 4 && !strcmp(e->d_name + l - 4, ".lua")) names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof names[0], kg_ship_cmp_str);
    for (int i = 0; i < n; i++) {
      char path[8192];
      snprintf(path, sizeof path, "%s/%s", dir, names[i]);
      ship_add_spec(s, path, 0);
      free(names[i]);
    }
  }
  if (!s->nk) {
    fprintf(stderr, "kgen ship: no spec with a public front\n");
    goto done;
  }
  qsort(s->k, (size_t)s->nk, sizeof s->k[0], cmp_kernel);
  rc = 1;
  for (int ki = 0; ki < s->nk; ki++)
    if (kg_ship_collect_kernel(s, &s->k[ki])) {
      fprintf(stderr, "kgen ship: %s: out of memory or too many variants\n", s->k[ki].spec->name);
      goto done;
    }
  if (kg_ship_write(s)) goto done;
  int nv = 0;
  for (int ki = 0; ki < s->nk; ki++) nv += s->k[ki].nv;
  fprintf(stderr, "kgen ship: %d kernels, %d variants, %d machines -> %s\n", s->nk, nv, s->nm, s->out);
  rc = 0;
done:
  ship_free(s);
  free(s);
  return rc;
}
