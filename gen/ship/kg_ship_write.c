/* kg_ship_write.c - `kgen ship`: the library's CMake project, written (kg_ship_internal.h). */
#include "kg_ship_internal.h"

#include <xxhash.h>

/* ---- writing --------------------------------------------------------------------------------- */

static int write_file(const ship *s, const char *rel, const sbuf *b) {
  char path[8192];
  snprintf(path, sizeof path, "%s/%s", s->out, rel);
  char dir[8192];
  snprintf(dir, sizeof dir, "%s", path);
  char *slash = strrchr(dir, '/');
  kg_ctx ctx = {0};
  if (slash) {
    *slash = 0;
    if (kg_file_mkdirs(dir, &ctx)) {
      fprintf(stderr, "kgen ship: %s\n", kg_ctx_message(&ctx));
      return -1;
    }
  }
  if (b->oom || kg_file_write_atomic(path, b->p ? b->p : "", b->n, &ctx)) {
    fprintf(stderr, "kgen ship: %s: %s\n", path, b->oom ? "out of memory" : kg_ctx_message(&ctx));
    return -1;
  }
  return 0;
}

static int read_into(const char *path, sbuf *b) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "kgen ship: %s: %s\n", path, strerror(errno));
    return -1;
  }
  char buf[65536];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) kg_ship_sbprintf(b, "%.*s", (int)n, buf);
  fclose(f);
  return 0;
}

static void c_string(sbuf *b, const char *s) {
  kg_ship_sbprintf(b, "\"");
  for (; *s; s++) {
    if (*s == '"' || *s == '\\') kg_ship_sbprintf(b, "\\%c", *s);
    else if ((unsigned char)*s < 32) kg_ship_sbprintf(b, "\\%03o", (unsigned char)*s);
    else kg_ship_sbprintf(b, "%c", *s);
  }
  kg_ship_sbprintf(b, "\"");
}

static void isa_flags(unsigned isa, sbuf *b, const char *sep) {
  int first = 1;
  for (int i = 0; i < SHIP_NISA; i++)
    if (isa & (1u << i)) kg_ship_sbprintf(b, "%s%s", first ? "" : sep, kg_ship_isa[i].flag), first = 0;
}

/* Sort the variants of k by (isa, parameter values) and remap the entries, generalists and
 * fallbacks.  Values, not points: variants of two machines' views of the spec are compared. */
static int cmp_variant(const void *a, const void *b) {
  const ship_variant *x = a, *y = b;
  if (x->isa != y->isa) return x->isa < y->isa ? -1 : 1;
  char px[4096], py[4096];
  kg_spec_format_point(x->spec, x->point, px, sizeof px);
  kg_spec_format_point(y->spec, y->point, py, sizeof py);
  return strcmp(px, py);
}

static void sort_variants(ship *s, ship_kernel *k) {
  for (int i = 0; i < k->nv; i++) k->v[i].index = i;
  qsort(k->v, (size_t)k->nv, sizeof k->v[0], cmp_variant);
  int map[SHIP_MAX];
  for (int i = 0; i < k->nv; i++) map[k->v[i].index] = i;
  for (int i = 0; i < k->ne; i++) k->e[i].variant = map[k->e[i].variant];
  for (int i = 0; i < s->nm; i++)
    if (k->generalist[i] >= 0) k->generalist[i] = map[k->generalist[i]];
  k->fb_avx2 = map[k->fb_avx2], k->fb_portable = map[k->fb_portable];
}

static int write_kernel(ship *s, ship_kernel *k, sbuf *cmake_src, sbuf *cmake_props) {
  const char *name = k->spec->name;
  for (int i = 0; i < k->nv; i++) {
    char *src = NULL;
    size_t len = 0;
    kg_ctx ctx = {0};
    if (kg_template_emit(k->v[i].spec, k->v[i].point, &src, &len, &ctx)) {
      fprintf(stderr, "kgen ship: %s\n", kg_ctx_message(&ctx));
      return -1;
    }
    sbuf b = {0};
    kg_ship_sbprintf(&b, "/* kgen ship: variant kgv_%s_%d_ of %s; build with: -O3 -fopenmp", name, i, name);
    if (k->v[i].isa) kg_ship_sbprintf(&b, " "), isa_flags(k->v[i].isa, &b, " ");
    kg_ship_sbprintf(&b, " */\n#define KG_PUBLIC_ONLY 1\n#define KG_SHARED_TEAM 1\n#define KG_NAME(x) kgv_%s_%d_##x\n", name,
                     i);
    kg_ship_sbprintf(&b, "%.*s", (int)len, src);
    free(src);
    char rel[512];
    snprintf(rel, sizeof rel, "src/v_%s_%03d.c", name, i);
    int rc = write_file(s, rel, &b);
    free(b.p);
    if (rc) return -1;
    kg_ship_sbprintf(cmake_src, "  %s\n", rel);
    if (k->v[i].isa) {
      kg_ship_sbprintf(cmake_props, "set_source_files_properties(%s PROPERTIES COMPILE_OPTIONS \"", rel);
      isa_flags(k->v[i].isa, cmake_props, ";");
      kg_ship_sbprintf(cmake_props, "\")\n");
    }
  }
  /* The front: the generated variant list, then templates/<name>.front.c. */
  sbuf f = {0};
  kg_ship_sbprintf(&f, "/* kgen ship: the public entry points of %s (from %s.front.c) */\n#define KGV_LIST(X)", name,
                   strrchr(k->stem, '/') ? strrchr(k->stem, '/') + 1 : k->stem);
  for (int i = 0; i < k->nv; i++) kg_ship_sbprintf(&f, " X(%d, kgv_%s_%d_)", i, name, i);
  kg_ship_sbprintf(&f,
                   "\n#define KGV_TABLE kgr_table_%s\n#include \"kgen_rt.h\"\nextern const kgr_table kgr_table_%s;\n\n",
                   name, name);
  char path[4096];
  snprintf(path, sizeof path, "%s.front.c", k->stem);
  if (read_into(path, &f)) return -1;
  char rel[512];
  snprintf(rel, sizeof rel, "src/%s_front.c", name);
  int rc = write_file(s, rel, &f);
  free(f.p);
  if (rc) return -1;
  kg_ship_sbprintf(cmake_src, "  %s\n", rel);
  /* The header fragment. */
  sbuf h = {0};
  kg_ship_sbprintf(
      &h,
      "/* kgen ship: part of kgen/kgen.h (from %s.api.h) */\n#ifndef KGEN_%s_H\n#define KGEN_%s_H\n\n#include "
      "<stddef.h>\n#include <stdint.h>\n\n",
      strrchr(k->stem, '/') ? strrchr(k->stem, '/') + 1 : k->stem, name, name);
  snprintf(path, sizeof path, "%s.api.h", k->stem);
  if (read_into(path, &h)) return -1;
  kg_ship_sbprintf(&h, "\n#endif\n");
  snprintf(rel, sizeof rel, "include/kgen/kgen_%s.h", name);
  rc = write_file(s, rel, &h);
  free(h.p);
  return rc;
}

static void write_tables(ship *s, sbuf *b) {
  kg_ship_sbprintf(
      b,
      "/* kgen ship: dispatch tables (generated from the tuned results; do not edit) */\n#include \"kgen_rt.h\"\n\n");
  kg_ship_sbprintf(b, "const kgr_machine kgr_machines[%d] = {\n", s->nm ? s->nm : 1);
  for (int i = 0; i < s->nm; i++) {
    const ship_machine *m = &s->m[i];
    kg_ship_sbprintf(b, "  {"), c_string(b, m->id), kg_ship_sbprintf(b, ", "), c_string(b, m->vendor),
        kg_ship_sbprintf(b, ", ");
    c_string(b, m->microarch), kg_ship_sbprintf(b, ", "), c_string(b, m->cpu);
    kg_ship_sbprintf(b, ", %d, %d, 0x%x, %d, %lld, %lld, %lld},\n", m->family, m->model, m->isa, m->cores, m->l1d,
                     m->l2, m->l3);
  }
  if (!s->nm) kg_ship_sbprintf(b, "  {0},\n");
  kg_ship_sbprintf(b, "};\nconst int kgr_nmachines = %d;\n", s->nm);
  for (int ki = 0; ki < s->nk; ki++) {
    ship_kernel *k = &s->k[ki];
    const char *n = k->spec->name;
    kg_ship_sbprintf(b, "\n/* ---- %s ---- */\n", n);
    for (int i = 0; i < k->nv; i++) kg_ship_sbprintf(b, "void kgv_%s_%d_kg_set_thread_cap(int);\n", n, i);
    kg_ship_sbprintf(b, "static const kgr_variant %s_variants[] = {\n", n);
    for (int i = 0; i < k->nv; i++) {
      char pt[4096];
      const kg_spec *vs = k->v[i].spec;
      kg_spec_format_point(vs, k->v[i].point, pt, sizeof pt);
      long pi = kg_spec_point_index(vs, k->v[i].point);
      kg_ship_sbprintf(b, "  {\"kgv_%s_%d_\", ", n, i), c_string(b, pt);
      kg_ship_sbprintf(b, ", 0x%x, %d, kgv_%s_%d_kg_set_thread_cap},\n", k->v[i].isa,
                       pi >= 0 ? kg_tune_point_threads(vs, pi) : 0, n, i);
    }
    kg_ship_sbprintf(b, "};\nstatic const char *const %s_dims[%d] = {", n, k->ndims ? k->ndims : 1);
    for (int i = 0; i < k->ndims; i++) kg_ship_sbprintf(b, "%s", i ? ", " : ""), c_string(b, k->dims[i]);
    if (!k->ndims) kg_ship_sbprintf(b, "\"\"");
    kg_ship_sbprintf(b, "};\n");
    for (int e = 0; e < k->ne; e++) {
      kg_ship_sbprintf(b, "static const int64_t %s_e%d[] = {", n, e);
      for (int d = 0; d < k->ndims; d++) kg_ship_sbprintf(b, "%s%" PRId64, d ? ", " : "", k->e[e].dims[d]);
      kg_ship_sbprintf(b, "};\n");
    }
    kg_ship_sbprintf(b, "static const kgr_entry %s_entries[%d] = {\n", n, k->ne ? k->ne : 1);
    for (int e = 0; e < k->ne; e++) {
      kg_ship_sbprintf(b, "  {%d, %d, ", k->e[e].machine, k->e[e].variant), c_string(b, k->e[e].problem);
      kg_ship_sbprintf(b, ", %s_e%d},\n", n, e);
    }
    if (!k->ne) kg_ship_sbprintf(b, "  {0},\n");
    kg_ship_sbprintf(b, "};\nstatic const int %s_generalist[%d] = {", n, s->nm ? s->nm : 1);
    for (int i = 0; i < s->nm; i++) kg_ship_sbprintf(b, "%s%d", i ? ", " : "", k->generalist[i]);
    if (!s->nm) kg_ship_sbprintf(b, "-1");
    kg_ship_sbprintf(b,
                     "};\nconst kgr_table kgr_table_%s = {\"%s\", %d, %s_variants, %d, %s_dims, %d, %s_entries, "
                     "%s_generalist, %d, %d};\n",
                     n, n, k->nv, n, k->ndims, n, k->ne, n, n, k->fb_avx2, k->fb_portable);
  }
  kg_ship_sbprintf(b, "\nconst kgr_table *const kgr_tables[%d] = {", s->nk);
  for (int ki = 0; ki < s->nk; ki++) kg_ship_sbprintf(b, "%s&kgr_table_%s", ki ? ", " : "", s->k[ki].spec->name);
  kg_ship_sbprintf(b, "};\nconst int kgr_ntables = %d;\n", s->nk);
}

static const char ship_cmake_head[] =
    "# Generated by `kgen ship` (do not edit): kgen's tuned kernels as a C library.\n"
    "#   cmake -S . -B build && cmake --build build && cmake --install build --prefix PREFIX\n"
    "# Users: find_package(kgen) -> target kgen::kgen, or pkg-config --cflags --libs kgen.\n"
    "cmake_minimum_required(VERSION 3.16)\n"
    "project(kgen_kernels VERSION %s LANGUAGES C)\n"
    "include(GNUInstallDirs)\n"
    "include(CMakePackageConfigHelpers)\n"
    "option(BUILD_SHARED_LIBS \"Build libkgen as a shared library\" ON)\n"
    "if(NOT CMAKE_BUILD_TYPE AND NOT CMAKE_CONFIGURATION_TYPES)\n"
    "  set(CMAKE_BUILD_TYPE Release)\n"
    "endif()\n"
    "set(CMAKE_C_STANDARD 11)\n"
    "set(CMAKE_C_EXTENSIONS ON)\n"
    "set(CMAKE_POSITION_INDEPENDENT_CODE ON)\n"
    "find_package(Threads REQUIRED)\n"
    "find_package(OpenMP COMPONENTS C)\n"
    "add_library(kgen\n";

static const char ship_cmake_tail[] =
    ")\n"
    "add_library(kgen::kgen ALIAS kgen)\n"
    "set_target_properties(kgen PROPERTIES VERSION ${PROJECT_VERSION} SOVERSION ${PROJECT_VERSION_MAJOR} EXPORT_NAME "
    "kgen)\n"
    "# Variants need the ISA flags of the machine they won on; the dispatch stays at baseline x86-64.\n"
    "target_compile_options(kgen PRIVATE -O3 -fno-strict-aliasing -w)\n"
    "target_include_directories(kgen PUBLIC $<BUILD_INTERFACE:${CMAKE_CURRENT_SOURCE_DIR}/include>\n"
    "                                $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>\n"
    "                         PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/src)\n"
    "target_link_libraries(kgen PRIVATE Threads::Threads m)\n"
    "set(KGEN_PC_PRIVATE \"-lpthread -lm\")\n"
    "if(OpenMP_C_FOUND)\n"
    "  target_link_libraries(kgen PRIVATE OpenMP::OpenMP_C)\n"
    "  set(KGEN_PC_PRIVATE \"${KGEN_PC_PRIVATE} ${OpenMP_C_FLAGS}\")\n"
    "endif()\n"
    "install(TARGETS kgen EXPORT kgenTargets\n"
    "        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}\n"
    "        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})\n"
    "install(DIRECTORY include/kgen DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})\n"
    "install(EXPORT kgenTargets NAMESPACE kgen:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/kgen)\n"
    "configure_package_config_file(cmake/kgenConfig.cmake.in ${CMAKE_CURRENT_BINARY_DIR}/kgenConfig.cmake\n"
    "                              INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/kgen)\n"
    "write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/kgenConfigVersion.cmake COMPATIBILITY "
    "SameMajorVersion)\n"
    "install(FILES ${CMAKE_CURRENT_BINARY_DIR}/kgenConfig.cmake ${CMAKE_CURRENT_BINARY_DIR}/kgenConfigVersion.cmake\n"
    "        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/kgen)\n"
    "file(RELATIVE_PATH KGEN_PC_REL \"/${CMAKE_INSTALL_LIBDIR}/pkgconfig\" \"/\") # relocatable: --prefix at install "
    "time\n"
    "configure_file(kgen.pc.in ${CMAKE_CURRENT_BINARY_DIR}/kgen.pc @ONLY)\n"
    "install(FILES ${CMAKE_CURRENT_BINARY_DIR}/kgen.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)\n";

/* Site files (kgen_site.c): read with jansson when the build finds it; where they live is
 * relative to the library (libdir -> datadir/kgen/site), so the install stays relocatable. */
static const char ship_cmake_site[] =
    "find_package(PkgConfig QUIET)\n"
    "if(PkgConfig_FOUND)\n"
    "  pkg_check_modules(KGEN_JANSSON QUIET IMPORTED_TARGET jansson)\n"
    "endif()\n"
    "if(KGEN_JANSSON_FOUND)\n"
    "  target_compile_definitions(kgen PRIVATE KGEN_SITE_JSON=1)\n"
    "  target_link_libraries(kgen PRIVATE PkgConfig::KGEN_JANSSON)\n"
    "  set(KGEN_PC_PRIVATE \"${KGEN_PC_PRIVATE} -ljansson\")\n"
    "endif()\n"
    "file(RELATIVE_PATH KGEN_SITE_REL \"/${CMAKE_INSTALL_LIBDIR}\" \"/${CMAKE_INSTALL_DATADIR}/kgen/site\")\n"
    "target_compile_definitions(kgen PRIVATE \"KGEN_SITE_REL=\\\"${KGEN_SITE_REL}\\\"\"\n"
    "                                        \"KGEN_SITE_ABS=\\\"${CMAKE_INSTALL_FULL_DATADIR}/kgen/site\\\"\")\n"
    "target_link_libraries(kgen PRIVATE ${CMAKE_DL_LIBS})\n"
    "configure_file(kgen.pc.in ${CMAKE_CURRENT_BINARY_DIR}/kgen.pc @ONLY)\n";

static const char ship_config[] = "# kgen's shipped kernels: target kgen::kgen\n"
                                  "@PACKAGE_INIT@\n"
                                  "include(CMakeFindDependencyMacro)\n"
                                  "if(NOT @BUILD_SHARED_LIBS@)\n"
                                  "  find_dependency(Threads)\n"
                                  "  find_dependency(OpenMP COMPONENTS C)\n"
                                  "endif()\n"
                                  "include(${CMAKE_CURRENT_LIST_DIR}/kgenTargets.cmake)\n"
                                  "check_required_components(kgen)\n";

static const char ship_pc[] =
    "prefix=${pcfiledir}/@KGEN_PC_REL@\n"
    "libdir=${prefix}/@CMAKE_INSTALL_LIBDIR@\n"
    "includedir=${prefix}/@CMAKE_INSTALL_INCLUDEDIR@\n"
    "\n"
    "Name: kgen\n"
    "Description: kgen's tuned CPU kernels (the shipped specs' public APIs, dispatched by machine and shape)\n"
    "Version: @PROJECT_VERSION@\n"
    "Libs: -L${libdir} -lkgen\n"
    "Libs.private: @KGEN_PC_PRIVATE@\n"
    "Cflags: -I${includedir}\n";

/* The folder sub (gen/ship/runtime: the dispatch runtime's sources; templates: kg_team.h) of
 * kgen's sources: under KGEN_ROOT, else the current directory, else the build's source root. */
static void kgen_dir(const char *sub, char *buf, size_t cap) {
  const char *root = getenv("KGEN_ROOT");
  if (root && *root) snprintf(buf, cap, "%s/%s", root, sub);
  else if (access("gen/ship/runtime/kgen_rt.c", R_OK) == 0) snprintf(buf, cap, "%s", sub);
  else snprintf(buf, cap, "%s/%s", KG_SOURCE_ROOT, sub);
}

static int cmp_machine(const void *a, const void *b) {
  return strcmp(((const ship_machine *)a)->id, ((const ship_machine *)b)->id);
}

/* Sort machines by id and remap the kernels' entries and generalists. */
static void sort_machines(ship *s) {
  char *old[256];
  for (int i = 0; i < s->nm; i++) old[i] = s->m[i].id;
  qsort(s->m, (size_t)s->nm, sizeof s->m[0], cmp_machine);
  int map[256];
  for (int i = 0; i < s->nm; i++)
    for (int j = 0; j < s->nm; j++)
      if (s->m[j].id == old[i]) map[i] = j;
  for (int ki = 0; ki < s->nk; ki++) {
    ship_kernel *k = &s->k[ki];
    for (int e = 0; e < k->ne; e++) k->e[e].machine = map[k->e[e].machine];
    int g[256];
    for (int i = 0; i < s->nm; i++) g[map[i]] = k->generalist[i];
    memcpy(k->generalist, g, sizeof(int) * (size_t)s->nm);
  }
}

static int cmp_entry(const void *a, const void *b) {
  const ship_entry *x = a, *y = b;
  if (x->machine != y->machine) return x->machine < y->machine ? -1 : 1;
  return strcmp(x->problem, y->problem);
}

int kg_ship_write(ship *s) {
  sort_machines(s);
  sbuf src = {0}, props = {0};
  for (int ki = 0; ki < s->nk; ki++) {
    ship_kernel *k = &s->k[ki];
    sort_variants(s, k);
    qsort(k->e, (size_t)k->ne, sizeof k->e[0], cmp_entry);
    if (write_kernel(s, k, &src, &props)) return -1;
  }
  sbuf t = {0};
  write_tables(s, &t);
  /* The build hash: of the tables (variants, their parameters and ISA, entries, machines); a
   * site file tuned for another build is ignored by the library (kgen_site.c). */
  char build_hash[17];
  snprintf(build_hash, sizeof build_hash, "%016llx", (unsigned long long)XXH64(t.p ? t.p : "", t.n, 0));
  kg_ship_sbprintf(&t,
                   "\nconst char kgr_build_hash[] = \"%s\";\n/* Pulls kgen_site.c out of a static libkgen.a (its "
                   "kgr_site_choice overrides kgen_rt.c's weak one). */\nextern const int kgr_site_linked;\n"
                   "const int *const kgr_site_anchor = &kgr_site_linked;\n",
                   build_hash);
  if (write_file(s, "src/kgen_tables.c", &t)) return -1;
  free(t.p);
  char rt[4096], tp[4096], path[8400];
  kgen_dir("gen/ship/runtime", rt, sizeof rt);
  kgen_dir("templates", tp, sizeof tp);
  /* The runtime: dispatch, the shared helper team (kgen_pool.c over templates/kg_team.h), the
   * machine distance, the site files. */
  const char *copies[] = {"kgen_rt.h", "kgen_rt.c", "kgen_pool.c", "kgen_mdist.h", "kgen_site.c", "kg_team.h"};
  for (int i = 0; i < (int)(sizeof copies / sizeof copies[0]); i++) {
    sbuf b = {0};
    snprintf(path, sizeof path, "%s/%s", strcmp(copies[i], "kg_team.h") ? rt : tp, copies[i]);
    char rel[256];
    snprintf(rel, sizeof rel, "src/%s", copies[i]);
    if (read_into(path, &b) || write_file(s, rel, &b)) return -1;
    free(b.p);
  }
  sbuf h = {0};
  snprintf(path, sizeof path, "%s/kgen_base.h", rt);
  if (read_into(path, &h)) return -1;
  for (int ki = 0; ki < s->nk; ki++) kg_ship_sbprintf(&h, "#include <kgen/kgen_%s.h>\n", s->k[ki].spec->name);
  kg_ship_sbprintf(&h, "\n#endif\n");
  if (write_file(s, "include/kgen/kgen.h", &h)) return -1;
  free(h.p);
  sbuf c = {0};
  kg_ship_sbprintf(&c, ship_cmake_head, KG_VERSION);
  kg_ship_sbprintf(&c, "  src/kgen_rt.c\n  src/kgen_pool.c\n  src/kgen_site.c\n  src/kgen_tables.c\n%s", src.p ? src.p : "");
  kg_ship_sbprintf(&c, "%s%s%s", ship_cmake_tail, ship_cmake_site, props.p ? props.p : "");
  free(src.p), free(props.p);
  sbuf site = {0};
  if (kg_ship_write_site(s, build_hash, &site) || site.oom) return -1;
  kg_ship_sbprintf(&c, "%s", site.p ? site.p : "");
  free(site.p);
  if (write_file(s, "CMakeLists.txt", &c)) return -1;
  free(c.p);
  sbuf cfg = {0}, pc = {0};
  kg_ship_sbprintf(&cfg, "%s", ship_config);
  kg_ship_sbprintf(&pc, "%s", ship_pc);
  if (write_file(s, "cmake/kgenConfig.cmake.in", &cfg) || write_file(s, "kgen.pc.in", &pc)) return -1;
  free(cfg.p), free(pc.p);
  return 0;
}
