/* test_spec.c - the spec loader: stream.lua, every error case, the sandbox, limits, --set. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kg_machine.h"
#include "kg_spec.h"

static char g_path[4096];

/* KGEN_ROOT/rel */
static const char *path_of(const char *rel) {
  const char *root = getenv("KGEN_ROOT");
  snprintf(g_path, sizeof g_path, "%s/%s", root ? root : ".", rel);
  return g_path;
}

/* Load tests/specs/<name>.lua expecting status `want` and every NULL-terminated substring. */
static void expect_error(const char *name, kg_status want, ...) {
  char rel[256];
  snprintf(rel, sizeof rel, "tests/specs/%s.lua", name);
  kg_ctx ctx = {0};
  kg_spec *s = (kg_spec *)1;
  kg_status st = kg_spec_load(path_of(rel), &s, &ctx);
  if (st != want) fail_msg("%s: status %d (%s), want %d; message: %s", name, st, kg_strerror(st), want, ctx.msg);
  assert_null(s);
  va_list ap;
  va_start(ap, want);
  for (const char *sub; (sub = va_arg(ap, const char *));)
    if (!strstr(ctx.msg, sub)) fail_msg("%s: message lacks \"%s\":\n%s", name, sub, ctx.msg);
  va_end(ap);
}

static kg_spec *load_ok(const char *rel) {
  kg_ctx ctx = {0};
  kg_spec *s = NULL;
  kg_status st = kg_spec_load(path_of(rel), &s, &ctx);
  if (st != KG_OK) fail_msg("%s: %s", rel, ctx.msg);
  return s;
}

/* tests/machines/<name>.json as a machine description. */
static kg_machine machine_of(const char *name) {
  char rel[256];
  snprintf(rel, sizeof rel, "tests/machines/%s.json", name);
  kg_machine m;
  kg_ctx ctx = {0};
  if (kg_machine_load(path_of(rel), &m, &ctx) != KG_OK) fail_msg("%s: %s", rel, ctx.msg);
  return m;
}

/* Load rel as seen by machine m. */
static kg_spec *load_on(const char *rel, const kg_machine *m) {
  kg_ctx ctx = {0};
  kg_spec *s = NULL;
  kg_spec_load_opts o = {.machine = m};
  kg_status st = kg_spec_load_ex(path_of(rel), &o, &s, &ctx);
  if (st != KG_OK) fail_msg("%s: %s", rel, ctx.msg);
  return s;
}

static void test_stream(void **state) {
  kg_machine m = machine_of("avx512_2c");
  kg_spec *s = load_on("specs/stream.lua", &m);
  assert_string_equal(s->name, "stream");
  assert_non_null(strstr(s->template_path, "templates/stream.c"));
  assert_null(strstr(s->template_path, ".."));
  assert_int_equal(s->nparams, 4);
  const char *names[] = {"vec", "unroll", "nt", "threads"};
  const char *macros[] = {"VEC", "UNROLL", "NT", "THREADS"};
  const int nvals[] = {3, 4, 2, 2};
  for (int i = 0; i < 4; i++) {
    assert_string_equal(s->params[i].name, names[i]);
    assert_string_equal(s->params[i].macro, macros[i]);
    assert_int_equal(s->params[i].kind, KG_PARAM_INT);
    assert_int_equal(s->params[i].nvalues, nvals[i]);
  }
  assert_int_equal(s->params[1].ivalues[3], 8);
  assert_int_equal(s->nraw, 48);
  assert_int_equal(s->npoints, 40); /* nt=1 needs vec >= 8: 48 - 4 unrolls * 2 thread counts */
  assert_int_equal(s->nconstraints, 1);
  assert_int_equal(s->nproblems, 16);
  int cl1 = kg_spec_problem_index(s, "copy_l1"), tl1 = kg_spec_problem_index(s, "triad_l1"),
      td = kg_spec_problem_index(s, "triad_dram");
  assert_true(cl1 >= 0 && tl1 >= 0 && td >= 0);
  assert_int_equal(kg_spec_problem_index(s, "nope"), -1);
  kg_spec_problem *p = &s->problems[cl1];
  assert_int_equal(p->ndims, 2);
  assert_string_equal(p->dim_names[0], "n");
  assert_string_equal(p->dim_names[1], "op");
  assert_int_equal(p->dims[0], 2048);
  assert_int_equal(p->dims[1], 0);
  assert_true(p->bytes == 16384.0 && p->flops == 0.0);
  p = &s->problems[tl1];
  assert_int_equal(p->dims[0], 1280);
  assert_true(p->bytes == 12.0 * 1280 && p->flops == 2.0 * 1280);
  p = &s->problems[td];
  assert_int_equal(p->dims[0], 11184768);
  assert_true(p->bytes == 12.0 * 11184768);
  assert_int_equal(s->nbaselines, 1);
  assert_string_equal(s->baselines[0], "memcpy");
  assert_int_equal(s->baseline_threads[0], 1);
  assert_true(s->rtol == 1e-6 && s->atol == 1e-6);
  assert_int_equal(s->seed, 42);
  assert_true(s->hash != 0);
  /* points: lexicographic, first parameter slowest, all satisfy the constraint */
  for (size_t i = 0; i < s->npoints; i++) {
    const int32_t *pt = s->points + i * 4;
    assert_true(s->params[2].ivalues[pt[2]] == 0 || s->params[0].ivalues[pt[0]] >= 8);
    assert_int_equal(kg_spec_point_index(s, pt), (long)i);
  }
  kg_spec_free(s);
}

static void test_small_space(void **state) {
  kg_spec *s = load_ok("tests/specs/small.lua");
  assert_int_equal(s->nparams, 3); /* declaration order: b, a, mode */
  assert_string_equal(s->params[0].name, "b");
  assert_string_equal(s->params[1].name, "a");
  assert_string_equal(s->params[2].name, "mode");
  assert_int_equal(s->params[2].kind, KG_PARAM_STR);
  assert_string_equal(s->params[2].svalues[1], "safe");
  assert_int_equal(s->nraw, 18);
  assert_int_equal(s->npoints, 11);  /* a*b <= 4: 6 pairs, x2 modes, minus a=4 with fast */
  assert_int_equal(s->nproblems, 2); /* nested list flattened */
  assert_string_equal(s->problems[1].name, "big");
  assert_true(s->problems[1].bytes == 4.0 * 1024 * 8);
  assert_true(s->problems[1].flops == -1);
  assert_int_equal(s->seed, 7);
  assert_true(s->rtol == 0 && s->atol == 0);
  const int32_t first[3] = {0, 0, 0}, bad[3] = {2, 1, 0}, fast4[3] = {0, 2, 0}, safe4[3] = {0, 2, 1};
  assert_int_equal(kg_spec_point_index(s, first), 0);
  assert_int_equal(kg_spec_point_index(s, bad), -1);
  assert_int_equal(kg_spec_point_index(s, fast4), -1);
  assert_int_equal(kg_spec_point_index(s, safe4), 4);
  kg_spec_free(s);
}

static void test_parse_set(void **state) {
  kg_spec *s = load_ok("tests/specs/small.lua");
  kg_ctx ctx = {0};
  int32_t pt[3];
  char buf[256];
  assert_int_equal(kg_spec_parse_set(s, NULL, pt, &ctx), KG_OK);
  assert_true(pt[0] == 0 && pt[1] == 0 && pt[2] == 0);
  assert_int_equal(kg_spec_parse_set(s, "a=2, mode=safe", pt, &ctx), KG_OK);
  assert_true(pt[0] == 0 && pt[1] == 1 && pt[2] == 1);
  kg_spec_format_point(s, pt, buf, sizeof buf);
  assert_string_equal(buf, "b=1,a=2,mode=safe");
  int32_t back[3];
  assert_int_equal(kg_spec_parse_set(s, buf, back, &ctx), KG_OK);
  assert_memory_equal(back, pt, sizeof pt);
  /* every point round-trips */
  for (size_t i = 0; i < s->npoints; i++) {
    kg_spec_format_point(s, s->points + 3 * i, buf, sizeof buf);
    assert_int_equal(kg_spec_parse_set(s, buf, back, &ctx), KG_OK);
    assert_memory_equal(back, s->points + 3 * i, sizeof back);
  }
  /* snprintf-like length */
  char tiny[4];
  int need = kg_spec_format_point(s, pt, tiny, sizeof tiny);
  assert_int_equal(need, (int)strlen("b=1,a=2,mode=safe"));
  assert_string_equal(tiny, "b=1");

  assert_int_equal(kg_spec_parse_set(s, "c=1", pt, &ctx), KG_EINVAL);
  assert_non_null(strstr(ctx.msg, "unknown parameter 'c'"));
  assert_non_null(strstr(ctx.msg, "b, a, mode"));
  assert_int_equal(kg_spec_parse_set(s, "a=3", pt, &ctx), KG_EINVAL);
  assert_non_null(strstr(ctx.msg, "a=3"));
  assert_non_null(strstr(ctx.msg, "1, 2, 4"));
  assert_int_equal(kg_spec_parse_set(s, "mode=turbo", pt, &ctx), KG_EINVAL);
  assert_non_null(strstr(ctx.msg, "fast, safe"));
  assert_int_equal(kg_spec_parse_set(s, "b=3,a=2", pt, &ctx), KG_EINVAL);
  assert_non_null(strstr(ctx.msg, "violates the constraints"));
  assert_int_equal(kg_spec_parse_set(s, "a=4", pt, &ctx), KG_EINVAL); /* mode defaults to fast */
  assert_non_null(strstr(ctx.msg, "b=1,a=4,mode=fast"));
  assert_int_equal(kg_spec_parse_set(s, "a", pt, &ctx), KG_EINVAL);
  assert_int_equal(kg_spec_parse_set(s, "a=1,a=2", pt, &ctx), KG_EINVAL);
  kg_spec_free(s);
}

static void test_errors(void **state) {
  expect_error("syntax", KG_ESPEC, "syntax.lua:3:", NULL);
  expect_error("no_return", KG_ESPEC, "no_return.lua:", "must return a kernel", "got nil", NULL);
  expect_error("unknown_field", KG_ESPEC,
               "unknown_field.lua:1:", "unknown field 'paramz' in kernel (did you mean 'params'?)", NULL);
  expect_error("bad_type", KG_ESPEC,
               "bad_type.lua:1:", "params.grain: expected a list of integers or strings, got boolean", NULL);
  expect_error("empty_values", KG_ESPEC, "empty_values.lua:4:", "params.grain: empty value list", NULL);
  expect_error("mixed", KG_ESPEC, "mixed.lua:4:", "params.grain", "mixes integers and strings", NULL);
  expect_error("duplicate", KG_ESPEC, "duplicate.lua:4:", "params.grain: duplicate value 16", NULL);
  expect_error("constraint_not_fn", KG_ESPEC,
               "constraint_not_fn.lua:1:", "constraints[1]: expected a function, got string", NULL);
  expect_error("constraint_error", KG_ESPEC, "constraint_error.lua:5:", "constraint 1 failed at a=1",
               "p.b: no such parameter (parameters: a)", NULL);
  expect_error("constraint_reject", KG_ESPEC, "constraint_reject.lua:1:", "constraints reject all 4 points", NULL);
  expect_error("constraint_nil", KG_ESPEC, "constraint_nil.lua:5:", "constraint 1 returned nil", NULL);
  expect_error("problem_dims", KG_ESPEC,
               "problem_dims.lua:5:", "problem 'half': dimension 'n' must be an integer, got number 1.5", NULL);
  expect_error("problems_empty", KG_ESPEC, "problems_empty.lua:1:", "problems: empty list", NULL);
  expect_error("metric_not_fn", KG_ESPEC, "metric_not_fn.lua:1:", "metrics.bytes: expected a function", NULL);
  expect_error("metric_nonnumber", KG_ESPEC,
               "metric_nonnumber.lua:6:", "metrics.flops returned string 'many' for problem 'p', expected a number",
               NULL);
  expect_error("template_missing", KG_ETEMPLATE, "template_missing.lua:1:", "template 'nope.c' not found", NULL);
  expect_error("tolerance", KG_ESPEC, "tolerance.lua:1:", "tolerance.rtol: expected a number", NULL);
  expect_error("baselines", KG_ESPEC, "baselines.lua:1:", "baselines[1]: 'mem-cpy' is not a C identifier", NULL);
  expect_error("baseline_threads", KG_ESPEC,
               "baseline_threads.lua:1:", "baseline_threads: 'memcopy' is not one of the baselines", NULL);

  kg_ctx ctx = {0};
  kg_spec *s = NULL;
  assert_int_equal(kg_spec_load(path_of("tests/specs/does_not_exist.lua"), &s, &ctx), KG_EIO);
  assert_non_null(strstr(ctx.msg, "does_not_exist.lua"));
  assert_null(s);
}

static void test_sandbox(void **state) {
  const char *names[] = {"io", "os", "require", "dofile", "loadfile", "load", "debug"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    char file[64], want[256];
    snprintf(file, sizeof file, "sandbox_%s", names[i]);
    snprintf(want, sizeof want,
             "%s.lua:2: '%s' is not available in a spec (sandbox: base, string, table and math only)", file, names[i]);
    expect_error(file, KG_ESPEC, want, NULL);
  }
}

/* Dimension `name` of problem pr, or -1. */
static int64_t dim_of(const kg_spec_problem *pr, const char *name) {
  for (int i = 0; i < pr->ndims; i++)
    if (strcmp(pr->dim_names[i], name) == 0) return pr->dims[i];
  return -1;
}

static void expect_shape(const kg_spec *s, const char *name, int64_t m, int64_t k, int64_t n) {
  int i = kg_spec_problem_index(s, name);
  if (i < 0) fail_msg("problem %s missing", name);
  assert_int_equal(dim_of(&s->problems[i], "m"), m);
  assert_int_equal(dim_of(&s->problems[i], "k"), k);
  assert_int_equal(dim_of(&s->problems[i], "n"), n);
}

static void test_shapes(void **state) {
  kg_spec *s = load_ok("tests/specs/shapes.lua");
  /* custom 2 + llama 4 + llama 4 + pow2 3 + pow2_extended 5 (64 96 128 192 256) + sweep 8 */
  assert_int_equal(s->nproblems, 2 + 4 + 4 + 3 + 5 + 8);
  expect_shape(s, "m1_k2_n3", 1, 2, 3);
  expect_shape(s, "m4_k5_n6", 4, 5, 6);
  expect_shape(s, "m1_k8192_n1280", 1, 8192, 1280);
  expect_shape(s, "m1_k1024_n8192", 1, 1024, 8192);
  expect_shape(s, "m1_k8192_n7168", 1, 8192, 7168);
  expect_shape(s, "m1_k3584_n8192", 1, 3584, 8192);
  expect_shape(s, "q_m16_k8192_n7168", 16, 8192, 7168);
  int q = kg_spec_problem_index(s, "q_m16_k8192_n7168");
  assert_int_equal(dim_of(&s->problems[q], "recipe"), 2);
  assert_int_equal(s->problems[q].ndims, 4); /* M and prefix are options, not dimensions */
  expect_shape(s, "m64_k64_n64", 64, 64, 64);
  expect_shape(s, "m256_k256_n256", 256, 256, 256);
  assert_int_equal(kg_spec_problem_index(s, "m512_k512_n512"), -1);
  expect_shape(s, "x_m96_k96_n96", 96, 96, 96);
  expect_shape(s, "x_m192_k192_n192", 192, 192, 192);
  assert_int_equal(kg_spec_problem_index(s, "x_m384_k384_n384"), -1);
  expect_shape(s, "s_m1_k2_n1", 1, 2, 1);
  expect_shape(s, "s_m2_k2_n2", 2, 2, 2);
  int b = kg_spec_problem_index(s, "s_m2_k1_n2");
  assert_int_equal(dim_of(&s->problems[b], "beta"), 1);
  kg_spec_free(s);
  expect_error("shapes_bad", KG_ESPEC, "shapes_bad.lua:4: shapes.pow2", "powers of two", NULL);
  expect_error("shapes_dup", KG_ESPEC, "shapes_dup.lua:6: problem 'm64_k64_n64' is defined twice", NULL);
}

/* Integer values of parameter `name` as "1 2 4". */
static const char *values_of(const kg_spec *s, const char *name) {
  static char buf[512];
  int p = kg_spec_param_index(s, name);
  assert_true(p >= 0);
  size_t n = 0;
  buf[0] = '\0';
  for (int i = 0; i < s->params[p].nvalues; i++)
    n += (size_t)snprintf(buf + n, sizeof buf - n, "%s%lld", i ? " " : "", (long long)s->params[p].ivalues[i]);
  return buf;
}

/* gemm.lua on a 16-core AVX2 machine: AVX2 tiles only (NR a multiple of 8, at most 14 ymm
 * accumulators, never a zmm-only tile), threads up to 16, no SkylakeX baseline; on the AVX-512
 * machine: AVX-512 tiles and threads up to 2. */
static void test_gemm_machine(void **state) {
  kg_machine avx2 = machine_of("avx2_16c"), avx512 = machine_of("avx512_2c");
  kg_spec *s = load_on("specs/gemm.lua", &avx2);
  assert_string_equal(values_of(s, "threads"), "1 2 4 8 16");
  assert_int_equal(kg_spec_role_param(s, "threads"), kg_spec_param_index(s, "threads"));
  int mr = kg_spec_param_index(s, "mr"), nr = kg_spec_param_index(s, "nr");
  bool nr_not16 = false;
  for (size_t i = 0; i < s->npoints; i++) {
    int64_t r = s->params[mr].ivalues[s->points[i * (size_t)s->nparams + (size_t)mr]];
    int64_t c = s->params[nr].ivalues[s->points[i * (size_t)s->nparams + (size_t)nr]];
    assert_int_equal(c % 8, 0);
    assert_true(r * c / 8 <= 14);
    nr_not16 |= c % 16 != 0;
  }
  assert_true(nr_not16); /* 24- or 8-wide tiles: the ymm microkernel */
  for (int b = 0; b < s->nbaselines; b++) assert_null(strstr(s->baselines[b], "skx"));
  kg_spec_free(s);
  s = load_on("specs/gemm.lua", &avx512);
  assert_string_equal(values_of(s, "threads"), "1 2");
  assert_string_equal(values_of(s, "nr"), "64 32 48");
  assert_int_equal(s->nbaselines, 7); /* OpenBLAS default and SkylakeX, BLIS; 1 and 2 threads each; LIBXSMM */
  kg_spec_free(s);
}

/* The other shipped specs follow the machine too: qmatmul's VNNI path, paired_cache's AVX-512
 * copies, stream's vector widths; KGEN_MACHINE_OVERRIDE is read when no machine is given. */
static void test_specs_machine(void **state) {
  kg_machine avx2 = machine_of("avx2_16c");
  kg_spec *s = load_on("specs/qmatmul.lua", &avx2);
  int path = kg_spec_param_index(s, "path");
  assert_int_equal(s->params[path].nvalues, 2); /* no VNNI: the AVX2 integer dot products, fp32 FMA */
  assert_string_equal(s->params[path].svalues[0], "maddubs");
  assert_string_equal(s->params[path].svalues[1], "fma");
  kg_spec_free(s);
  s = load_on("specs/paired_cache.lua", &avx2);
  assert_int_equal(s->params[kg_spec_param_index(s, "copy")].nvalues, 1);
  assert_string_equal(values_of(s, "threads"), "1 2 4 8 16");
  kg_spec_free(s);
  s = load_on("specs/stream.lua", &avx2);
  assert_string_equal(values_of(s, "vec"), "1 8");
  kg_spec_free(s);
  char env[4096];
  snprintf(env, sizeof env, "%s", path_of("tests/machines/avx2_16c.json"));
  setenv("KGEN_MACHINE_OVERRIDE", env, 1);
  s = load_ok("specs/stream.lua");
  unsetenv("KGEN_MACHINE_OVERRIDE");
  assert_string_equal(values_of(s, "threads"), "1 2 4 8 16");
  kg_spec_free(s);
  kg_machine six = avx2;
  six.cores = 6;
  s = load_on("specs/stream.lua", &six);
  assert_string_equal(values_of(s, "threads"), "1 2 4 6");
  kg_spec_free(s);
}

/* `machine` is read-only; roles are checked. */
static void test_machine_roles(void **state) {
  expect_error("machine_write", KG_ESPEC, "machine_write.lua:2:", "'machine' is read-only", NULL);
  expect_error("machine_replace", KG_ESPEC, "machine_replace.lua:2:", "'machine' is read-only", NULL);
  expect_error("roles_bad", KG_ESPEC, "roles_bad.lua:", "roles.threads: 'a' is not an integer parameter", NULL);
  kg_spec *s = load_ok("tests/specs/roles.lua");
  assert_string_equal(kg_spec_role(s, "threads"), "t");
  assert_int_equal(kg_spec_role_param(s, "threads"), 1);
  assert_string_equal(kg_spec_role(s, "size"), "n");
  assert_int_equal(kg_spec_role_param(s, "size"), -1); /* a dimension, not a parameter */
  assert_null(kg_spec_role(s, "vector"));
  kg_spec_free(s);
}

static void test_limits(void **state) {
  expect_error("runaway", KG_ESPEC, "runaway.lua:", "instruction limit exceeded (runaway spec?)", NULL);
  expect_error("memory", KG_ESPEC, "memory.lua:", "memory limit exceeded", NULL);
}

/* ---- the `fusion` field (issue 15) ---- */

static char g_fdir[64];

/* A spec in g_fdir with `fusion = <fusion>` (the template t.c beside it); loads it into *out. */
static kg_status load_fusion(const char *fusion, kg_spec **out, kg_ctx *ctx) {
  char path[256];
  snprintf(path, sizeof path, "%s/t.c", g_fdir);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs("int t;\n", f);
  fclose(f);
  snprintf(path, sizeof path, "%s/f.lua", g_fdir);
  f = fopen(path, "w");
  assert_non_null(f);
  fprintf(f,
          "return kernel \"f\" {\n"
          "  template = \"t.c\",\n"
          "  params = { v = values { 1 } },\n"
          "  problems = { problem \"a\" { m = 2, act = 1 }, problem \"b\" { m = 4, act = 1 },\n"
          "               problem \"c\" { m = 8, act = 2 } },\n"
          "  metrics = { bytes = function(d) return 8 * d.m end },\n"
          "  baselines = { \"plain\", \"unfused\" },\n"
          "  fusion = %s,\n"
          "}\n",
          fusion);
  fclose(f);
  *out = NULL;
  return kg_spec_load(path, out, ctx);
}

static void expect_fusion_error(const char *fusion, const char *sub) {
  kg_ctx ctx = {0};
  kg_spec *s;
  kg_status st = load_fusion(fusion, &s, &ctx);
  if (st != KG_ESPEC) fail_msg("fusion = %s: status %d, want KG_ESPEC (%s)", fusion, st, ctx.msg);
  assert_null(s);
  if (!strstr(ctx.msg, sub)) fail_msg("fusion = %s: message lacks \"%s\":\n%s", fusion, sub, ctx.msg);
  if (!strstr(ctx.msg, "f.lua:1:")) fail_msg("fusion = %s: message lacks the spec's file:line:\n%s", fusion, ctx.msg);
}

static void test_fusion(void **state) {
  snprintf(g_fdir, sizeof g_fdir, "/tmp/kgen-test-fusion-XXXXXX");
  assert_non_null(mkdtemp(g_fdir));
  kg_ctx ctx = {0};
  kg_spec *s;
  /* a pattern per problem from a function, bytes_unfused per problem, an explicit quick list */
  assert_int_equal(
      load_fusion("{ pattern = function(d) return d.act == 1 and 'linear_relu' or 'linear_gelu' end, "
                  "unfused = 'unfused', bytes_unfused = function(d) return 12 * d.m end, quick = { 'b' } }",
                  &s, &ctx),
      KG_OK);
  assert_true(s->fusion);
  assert_string_equal(s->fusion_unfused, "unfused");
  assert_string_equal(s->problems[0].pattern, "linear_relu");
  assert_string_equal(s->problems[2].pattern, "linear_gelu");
  assert_true(s->problems[1].bytes_unfused == 48.0 && s->problems[1].bytes == 32.0);
  assert_true(!s->problems[0].fusion_quick && s->problems[1].fusion_quick && !s->problems[2].fusion_quick);
  kg_spec_free(s);
  /* a fixed pattern; quick defaults to the first problem of each pattern */
  assert_int_equal(
      load_fusion("{ pattern = 'p', unfused = 'plain', bytes_unfused = function(d) return 0 end }", &s, &ctx), KG_OK);
  assert_string_equal(s->problems[1].pattern, "p");
  assert_true(s->problems[0].fusion_quick && !s->problems[1].fusion_quick && !s->problems[2].fusion_quick);
  kg_spec_free(s);
  assert_int_equal(load_fusion("{ pattern = function(d) return 'p' .. d.act end, unfused = 'plain', "
                               "bytes_unfused = function(d) return 1 end }",
                               &s, &ctx),
                   KG_OK);
  assert_true(s->problems[0].fusion_quick && !s->problems[1].fusion_quick && s->problems[2].fusion_quick);
  kg_spec_free(s);
  /* without the field: no patterns */
  assert_int_equal(load_fusion("nil", &s, &ctx), KG_OK);
  assert_false(s->fusion);
  assert_null(s->fusion_unfused);
  assert_null(s->problems[0].pattern);
  assert_true(s->problems[0].bytes_unfused == -1.0);
  kg_spec_free(s);
  /* bad tables */
  expect_fusion_error("3", "fusion: expected { pattern");
  expect_fusion_error("{ patern = 'p', unfused = 'plain', bytes_unfused = function(d) return 1 end }",
                      "unknown field 'patern' in fusion (did you mean 'pattern'?)");
  expect_fusion_error("{ pattern = 'p', bytes_unfused = function(d) return 1 end }",
                      "fusion.unfused: expected the name of the baseline");
  expect_fusion_error("{ pattern = 'p', unfused = 'fused', bytes_unfused = function(d) return 1 end }",
                      "fusion.unfused: 'fused' is not one of the baselines");
  expect_fusion_error("{ unfused = 'plain', bytes_unfused = function(d) return 1 end }",
                      "fusion.pattern: expected a pattern name or a function");
  expect_fusion_error(
      "{ pattern = function(d) return d.m end, unfused = 'plain', bytes_unfused = function(d) return 1 end }",
      "fusion.pattern: expected a pattern name (letters, digits, '_', '-', '.') for problem 'a', got integer 2");
  expect_fusion_error("{ pattern = 'a b', unfused = 'plain', bytes_unfused = function(d) return 1 end }",
                      "got string 'a b'");
  expect_fusion_error("{ pattern = function(d) error('no pattern') end, unfused = 'plain', "
                      "bytes_unfused = function(d) return 1 end }",
                      "fusion.pattern failed for problem 'a'");
  expect_fusion_error("{ pattern = 'p', unfused = 'plain', bytes_unfused = 100 }",
                      "fusion.bytes_unfused: expected a function of the dimensions");
  expect_fusion_error("{ pattern = 'p', unfused = 'plain', bytes_unfused = function(d) return -d.m end }",
                      "fusion.bytes_unfused returned -2 for problem 'a', expected a finite number >= 0");
  expect_fusion_error("{ pattern = 'p', unfused = 'plain', bytes_unfused = function(d) return 'x' end }",
                      "fusion.bytes_unfused returned string 'x' for problem 'a', expected a number");
  expect_fusion_error("{ pattern = 'p', unfused = 'plain', bytes_unfused = function(d) return 1 end, quick = { 'z' } }",
                      "fusion.quick[1]: string 'z' is not one of the problems");
  expect_fusion_error("{ pattern = 'p', unfused = 'plain', bytes_unfused = function(d) return 1 end, quick = {} }",
                      "fusion.quick: expected a non-empty list of problem names");
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_fdir);
  assert_int_equal(system(cmd), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_stream),        cmocka_unit_test(test_small_space),  cmocka_unit_test(test_parse_set),
      cmocka_unit_test(test_errors),        cmocka_unit_test(test_sandbox),      cmocka_unit_test(test_limits),
      cmocka_unit_test(test_shapes),        cmocka_unit_test(test_gemm_machine), cmocka_unit_test(test_specs_machine),
      cmocka_unit_test(test_machine_roles), cmocka_unit_test(test_fusion),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
