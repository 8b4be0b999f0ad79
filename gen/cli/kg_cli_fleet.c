/* kg_cli_fleet.c - `kgen fleet status [SPEC...] [--tuned DIR]`: per spec, the machine ids with
 * results in DIR/<kernel>/<machine-id>.json (what `kgen ship` takes), how old they are (file
 * age, kgen version) and whether they are stale: tuned under another spec or template hash than
 * the current one.  The spec is hashed as that machine sees it (its `machine` table comes from
 * the result's "machine" object), since a spec may depend on the machine (thread_counts()). */
#include <dirent.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "kg_cli.h"
#include "kg_template.h"

/* "3d 4h", "5h 2m", "12m": the age of a file modified at t. */
static void kg_fleet_age(time_t t, char *buf, size_t cap) {
  long s = (long)difftime(time(NULL), t);
  if (s < 0) s = 0;
  if (s >= 86400) snprintf(buf, cap, "%ldd %ldh", s / 86400, s % 86400 / 3600);
  else if (s >= 3600) snprintf(buf, cap, "%ldh %ldm", s / 3600, s % 3600 / 60);
  else snprintf(buf, cap, "%ldm", s / 60);
}

/* The spec's and its template's hash as the machine described by `machine` (a result's object)
 * sees them.  0 or an error message in why. */
static int kg_fleet_hashes(const char *spec_path, const json_t *machine, uint64_t *spec_hash, uint64_t *tmpl_hash,
                           char *why, size_t cap) {
  kg_ctx ctx = {0};
  kg_spec *s = NULL;
  kg_status st = kg_spec_load_as(spec_path, machine, &s, &ctx);
  if (!st) {
    *spec_hash = s->hash;
    st = kg_template_hash(s, tmpl_hash, &ctx);
  }
  kg_spec_free(s);
  if (st) snprintf(why, cap, "%s", kg_ctx_message(&ctx));
  return st ? 1 : 0;
}

/* One spec's lines; 0, or 1 when the spec cannot be loaded. */
static int kg_fleet_spec(const char *spec_path, const char *tuned) {
  kg_ctx ctx = {0};
  kg_spec *s = NULL;
  if (kg_spec_load(spec_path, &s, &ctx)) {
    fprintf(stderr, "kgen: %s\n", kg_ctx_message(&ctx));
    return 1;
  }
  char dir[4200], kernel[256];
  snprintf(kernel, sizeof kernel, "%s", s->name);
  kg_spec_free(s);
  snprintf(dir, sizeof dir, "%.2048s/%.200s", tuned, kernel);
  DIR *d = opendir(dir);
  struct dirent *e;
  char *names[1024];
  int n = 0;
  while (d && (e = readdir(d)) && n < 1024)
    if (kg_ends_with(e->d_name, ".json") && e->d_name[0] != '.') names[n++] = strdup(e->d_name);
  if (d) closedir(d);
  qsort(names, (size_t)n, sizeof *names, kg_name_cmp);
  if (n == 0) printf("%-16s %-40s (no results in %s)\n", kernel, "-", dir);
  for (int i = 0; i < n; i++) {
    char path[4500], age[32] = "?", state[5000];
    snprintf(path, sizeof path, "%s/%s", dir, names[i]);
    json_error_t jerr;
    json_t *j = json_load_file(path, 0, &jerr);
    struct stat sb;
    if (stat(path, &sb) == 0) kg_fleet_age(sb.st_mtime, age, sizeof age);
    const json_t *machine = json_object_get(j, "machine");
    const char *id = json_string_value(json_object_get(machine, "id"));
    const char *ver = json_string_value(json_object_get(j, "kgen_version"));
    const char *sh = json_string_value(json_object_get(j, "spec_hash"));
    const char *th = json_string_value(json_object_get(j, "template_hash"));
    uint64_t cur_s = 0, cur_t = 0;
    if (!j) snprintf(state, sizeof state, "unreadable: %s:%d: %s", path, jerr.line, jerr.text);
    else if (!id || !sh || !th) snprintf(state, sizeof state, "unreadable: %s lacks machine.id or a hash", path);
    else if (kg_fleet_hashes(spec_path, machine, &cur_s, &cur_t, state, sizeof state)) {
      /* state has the message */
    } else {
      bool spec_ok = strtoull(sh, NULL, 16) == cur_s, tmpl_ok = strtoull(th, NULL, 16) == cur_t;
      if (spec_ok && tmpl_ok) snprintf(state, sizeof state, "current");
      else
        snprintf(state, sizeof state, "STALE: %s%s%s changed (now %016" PRIx64 " / %016" PRIx64 ")",
                 spec_ok ? "" : "spec", !spec_ok && !tmpl_ok ? " and " : "", tmpl_ok ? "" : "template", cur_s, cur_t);
    }
    printf("%-16s %-40s %-8s %-8s %-16s %-16s %s\n", kernel, id ? id : names[i], age, ver ? ver : "?", sh ? sh : "?",
           th ? th : "?", state);
    json_decref(j);
    free(names[i]);
  }
  return 0;
}

int kg_cli_fleet(int argc, char **argv) {
  static const struct option longs[] = {
      {"tuned", required_argument, 0, 't'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
  const char *tuned = "tuned";
  int c, rc = 0;
  while ((c = kg_getopt(argc, argv, "h", longs)) != -1) {
    switch (c) {
    case -2: return EXIT_USAGE;
    case 't': tuned = optarg; break;
    case 'h': fputs(strstr(kg_usage, "  fleet status"), stdout); return 0;
    }
  }
  if (optind >= argc || strcmp(argv[optind], "status"))
    return kg_usage_error("fleet: %s",
                          optind < argc ? "unknown subcommand (expected: fleet status)" : "missing status");
  optind++;
  printf("%-16s %-40s %-8s %-8s %-16s %-16s %s\n", "kernel", "machine id", "age", "kgen", "spec hash", "template hash",
         "state");
  if (optind < argc) {
    for (int i = optind; i < argc; i++) rc |= kg_fleet_spec(argv[i], tuned);
    return rc ? EXIT_USAGE : 0;
  }
  char specs[4096];
  kg_root_path("specs", specs, sizeof specs);
  DIR *d = opendir(specs);
  if (!d) {
    fprintf(stderr, "kgen: %s: cannot open the specs folder\n", specs);
    return EXIT_USAGE;
  }
  struct dirent *e;
  char *names[1024];
  int n = 0;
  while ((e = readdir(d)) && n < 1024)
    if (kg_ends_with(e->d_name, ".lua") && e->d_name[0] != '.') names[n++] = strdup(e->d_name);
  closedir(d);
  qsort(names, (size_t)n, sizeof *names, kg_name_cmp);
  for (int i = 0; i < n; i++) {
    char path[8200];
    snprintf(path, sizeof path, "%s/%s", specs, names[i]);
    rc |= kg_fleet_spec(path, tuned);
    free(names[i]);
  }
  return rc ? EXIT_USAGE : 0;
}
