/* kg_ship_site.c - `kgen ship`: what kgen-site-tune needs at install time (issue 12; see
 * kg_ship_write_site in kg_ship_internal.h and site/kg_site_tune.c). */
#include "kg_ship_internal.h"

static int site_write(const ship *s, const char *rel, const char *data, size_t len) {
  char path[8192], dir[8192];
  snprintf(path, sizeof path, "%s/%s", s->out, rel);
  snprintf(dir, sizeof dir, "%s", path);
  char *slash = strrchr(dir, '/');
  kg_ctx ctx = {0};
  if (slash) *slash = 0;
  if ((slash && kg_file_mkdirs(dir, &ctx)) || kg_file_write_atomic(path, data, len, &ctx)) {
    fprintf(stderr, "kgen ship: %s\n", kg_ctx_message(&ctx));
    return -1;
  }
  return 0;
}

/* The params object of variant v of kernel k. */
static json_t *site_params(const ship_kernel *k, const ship_variant *v) {
  json_t *params = json_object();
  for (int p = 0; p < v->spec->nparams; p++) {
    const kg_param *kp = &v->spec->params[p];
    json_object_set_new(params, kp->name,
                        kp->kind == KG_PARAM_INT ? json_integer(kp->ivalues[v->point[p]])
                                                 : json_string(kp->svalues[v->point[p]]));
  }
  return params;
}

/* problems[name].candidates += {machine, variant, rank, p50_ns} for each shipped variant among
 * the winner, ties and top of each problem of the tuned report doc (machine mi). */
static void site_candidates(const ship *s, const ship_kernel *k, const json_t *doc, int mi, json_t *problems,
                            int32_t *pt) {
  const kg_spec *ms = kg_ship_spec_for(k, s->m[mi].id);
  size_t i;
  const json_t *pr;
  json_array_foreach(json_object_get(doc, "problems"), i, pr) {
    json_t *jp = json_object_get(problems, json_string_value(json_object_get(pr, "name")) ?: "");
    if (!jp) continue;
    json_t *cands = json_object_get(jp, "candidates");
    int rank = 0;
    const json_t *lists[3] = {json_object_get(pr, "winner"), json_object_get(pr, "ties"), json_object_get(pr, "top")};
    for (int l = 0; l < 3; l++) {
      size_t j, n = l == 0 ? 1 : json_array_size(lists[l]);
      for (j = 0; j < n; j++) {
        const json_t *t = l == 0 ? lists[0] : json_array_get(lists[l], j);
        if (!json_is_object(t) || kg_ship_point_of(ms, json_object_get(t, "params"), pt)) continue;
        int vi = kg_ship_variant_find(k, ms, pt, s->m[mi].isa);
        if (vi < 0) continue; /* not shipped: the library could not dispatch to it */
        bool seen = false;
        size_t c;
        const json_t *x;
        json_array_foreach(cands, c, x) seen |= json_integer_value(json_object_get(x, "machine")) == mi &&
                                                json_integer_value(json_object_get(x, "variant")) == vi;
        if (!seen)
          json_array_append_new(cands, json_pack("{s:i, s:i, s:i, s:f}", "machine", mi, "variant", vi, "rank", rank++,
                                                 "p50_ns", json_number_value(json_object_get(t, "p50_ns"))));
      }
    }
  }
}

int kg_ship_write_site(ship *s, const char *build_hash, sbuf *cm) {
  kg_ship_sbprintf(cm,
                   "\n# Site tuning (kgen-site-tune, issue 12): one harness module per variant, the manifests.\n"
                   "option(KGEN_SITE_MODULES \"Build the harness modules kgen-site-tune measures\" ON)\n"
                   "install(DIRECTORY DESTINATION ${CMAKE_INSTALL_DATADIR}/kgen/site)\n"
                   "file(WRITE ${CMAKE_CURRENT_BINARY_DIR}/install.json \"{\\\"libdir\\\": "
                   "\\\"${CMAKE_INSTALL_LIBDIR}\\\", \\\"build_hash\\\": \\\"%s\\\"}\\n\")\n"
                   "install(FILES ${CMAKE_CURRENT_BINARY_DIR}/install.json",
                   build_hash);
  for (int ki = 0; ki < s->nk; ki++) kg_ship_sbprintf(cm, " site/%s.json", s->k[ki].spec->name);
  kg_ship_sbprintf(cm, "\n        DESTINATION ${CMAKE_INSTALL_DATADIR}/kgen/manifest)\nif(KGEN_SITE_MODULES)\n");
  for (int ki = 0; ki < s->nk; ki++) {
    ship_kernel *k = &s->k[ki];
    const char *name = k->spec->name;
    const int np = k->np_max;
    int32_t *pt = malloc(sizeof(int32_t) * (size_t)(np ? np : 1));
    json_t *man = json_object(), *machines = json_array(), *variants = json_array(), *problems = json_object();
    if (!pt || !man || !machines || !variants || !problems) return -1;
    for (int i = 0; i < s->nm; i++) {
      const ship_machine *m = &s->m[i];
      json_array_append_new(machines, json_pack("{s:s, s:s, s:s, s:i, s:i, s:i, s:i, s:I, s:I, s:I}", "id", m->id,
                                                "vendor", m->vendor, "microarch", m->microarch, "family", m->family,
                                                "model", m->model, "isa", (int)m->isa, "cores", m->cores, "l1d",
                                                (json_int_t)m->l1d, "l2", (json_int_t)m->l2, "l3", (json_int_t)m->l3));
    }
    for (int i = 0; i < k->nv; i++) {
      char label[4096], rel[512];
      kg_spec_format_point(k->v[i].spec, k->v[i].point, label, sizeof label);
      snprintf(rel, sizeof rel, "%s_%03d", name, i);
      char prefix[600];
      snprintf(prefix, sizeof prefix, "kgv_%s_%d_", name, i); /* as kgen_tables.c names it */
      json_array_append_new(variants, json_pack("{s:i, s:s, s:s, s:o, s:i, s:s+}", "index", i, "prefix", prefix,
                                                "params_label", label, "params", site_params(k, &k->v[i]), "isa",
                                                (int)k->v[i].isa, "module", rel, ".so"));
      /* The harness module: the full template (kg_create, kg_run, kg_verify, ...) of this variant. */
      char *src = NULL;
      size_t len = 0;
      kg_ctx ctx = {0};
      if (kg_template_emit(k->v[i].spec, k->v[i].point, &src, &len, &ctx)) {
        fprintf(stderr, "kgen ship: %s\n", kg_ctx_message(&ctx));
        return -1;
      }
      sbuf b = {0};
      kg_ship_sbprintf(&b, "/* kgen ship: harness module of variant kgv_%s_%d_ (kgen-site-tune measures it) */\n", name,
                       i);
      kg_ship_sbprintf(&b, "#define KG_NAME(x) kgh_%s_%d_##x\n%.*s", name, i, (int)len, src);
      free(src);
      char path[600];
      snprintf(path, sizeof path, "site/h_%s.c", rel);
      if (b.oom || site_write(s, path, b.p, b.n)) return -1;
      free(b.p);
      kg_ship_sbprintf(cm,
                       "  add_library(kgen_site_%s MODULE %s)\n"
                       "  set_target_properties(kgen_site_%s PROPERTIES PREFIX \"\" OUTPUT_NAME %s)\n"
                       "  target_compile_options(kgen_site_%s PRIVATE -O3 -fno-strict-aliasing -w",
                       rel, path, rel, rel, rel);
      for (int f = 0; f < SHIP_NISA; f++)
        if (k->v[i].isa & (1u << f)) kg_ship_sbprintf(cm, " %s", kg_ship_isa[f].flag);
      kg_ship_sbprintf(cm,
                       ")\n  target_link_libraries(kgen_site_%s PRIVATE Threads::Threads m ${CMAKE_DL_LIBS})\n"
                       "  if(OpenMP_C_FOUND)\n    target_link_libraries(kgen_site_%s PRIVATE OpenMP::OpenMP_C)\n"
                       "  endif()\n  install(TARGETS kgen_site_%s LIBRARY DESTINATION "
                       "${CMAKE_INSTALL_LIBDIR}/kgen/site-modules)\n",
                       rel, rel, rel);
    }
    for (int p = 0; p < k->spec->nproblems; p++) {
      const kg_spec_problem *sp = &k->spec->problems[p];
      json_t *dims = json_object();
      for (int d = 0; d < sp->ndims; d++) json_object_set_new(dims, sp->dim_names[d], json_integer(sp->dims[d]));
      json_object_set_new(problems, sp->name,
                          json_pack("{s:s, s:o, s:b, s:[]}", "name", sp->name, "dims", dims, "cold", (int)sp->cold,
                                    "candidates"));
    }
    /* Candidates, machine by machine, from tuned/ (re-read: the collected entries keep winners only). */
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/%s", s->tuned, name);
    DIR *d = opendir(dir);
    for (struct dirent *e; d && (e = readdir(d));) {
      size_t l = strlen(e->d_name);
      if (l < 6 || strcmp(e->d_name + l - 5, ".json")) continue;
      char path[8192];
      snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
      json_error_t err;
      json_t *doc = json_load_file(path, 0, &err);
      const char *id = json_string_value(json_object_get(json_object_get(doc, "machine"), "id"));
      for (int mi = 0; id && mi < s->nm; mi++)
        if (!strcmp(s->m[mi].id, id)) site_candidates(s, k, doc, mi, problems, pt);
      json_decref(doc);
    }
    if (d) closedir(d);
    /* Problems no machine tuned are left out; the array keeps the spec's order. */
    json_t *plist = json_array();
    for (int p = 0; p < k->spec->nproblems; p++) {
      json_t *jp = json_object_get(problems, k->spec->problems[p].name);
      if (json_array_size(json_object_get(jp, "candidates"))) json_array_append(plist, jp);
    }
    json_decref(problems);
    json_object_set_new(man, "schema", json_integer(1));
    json_object_set_new(man, "kernel", json_string(name));
    json_object_set_new(man, "build_hash", json_string(build_hash));
    json_object_set_new(man, "seed", json_integer((json_int_t)k->spec->seed));
    json_object_set_new(man, "rtol", json_real(k->spec->rtol));
    json_object_set_new(man, "atol", json_real(k->spec->atol));
    /* What the tables choose without a site file when the nearest machine has no entry for a
     * problem: its generalist, else the per-tier fallbacks (kgen_rt.c's kgr_decide). */
    json_t *gen = json_array();
    for (int i = 0; i < s->nm; i++) json_array_append_new(gen, json_integer(k->generalist[i]));
    json_object_set_new(man, "generalist", gen);
    json_object_set_new(man, "fallback_avx2", json_integer(k->fb_avx2));
    json_object_set_new(man, "fallback_portable", json_integer(k->fb_portable));
    json_object_set_new(man, "machines", machines);
    json_object_set_new(man, "variants", variants);
    json_object_set_new(man, "problems", plist);
    char *text = json_dumps(man, JSON_INDENT(1) | JSON_SORT_KEYS);
    json_decref(man);
    free(pt);
    char rel[512];
    snprintf(rel, sizeof rel, "site/%s.json", name);
    if (!text || site_write(s, rel, text, strlen(text))) return free(text), -1;
    free(text);
  }
  kg_ship_sbprintf(cm, "endif()\n");
  return 0;
}
