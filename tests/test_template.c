/* test_template.c - template expansion: stability, banner, defines, slots, includes, errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <ctype.h>

#include <cmocka.h>

#include "kg_spec.h"
#include "kg_template.h"

static char g_path[4096];

static const char *path_of(const char *rel) {
  const char *root = getenv("KGEN_ROOT");
  snprintf(g_path, sizeof g_path, "%s/%s", root ? root : ".", rel);
  return g_path;
}

static kg_spec *load_ok(const char *rel) {
  kg_ctx ctx = {0};
  kg_spec *s = NULL;
  if (kg_spec_load(path_of(rel), &s, &ctx) != KG_OK) fail_msg("%s: %s", rel, ctx.msg);
  return s;
}

static char *emit_ok(const kg_spec *s, const char *set, size_t *len) {
  kg_ctx ctx = {0};
  int32_t pt[64];
  char *src = NULL;
  if (kg_spec_parse_set(s, set, pt, &ctx) != KG_OK) fail_msg("%s: %s", set, ctx.msg);
  if (kg_template_emit(s, pt, &src, len, &ctx) != KG_OK) fail_msg("emit %s: %s", set, ctx.msg);
  return src;
}

static int count(const char *hay, const char *needle) {
  int n = 0;
  for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle)) n++;
  return n;
}

static void test_stable(void **state) {
  kg_spec *s = load_ok("specs/stream.lua");
  size_t l1, l2, l3;
  char *a = emit_ok(s, "vec=8,unroll=4,nt=1,threads=2", &l1);
  char *b = emit_ok(s, "vec=8,unroll=4,nt=1,threads=2", &l2);
  char *c = emit_ok(s, "vec=8,unroll=2,nt=1,threads=2", &l3);
  assert_int_equal(l1, l2);
  assert_int_equal(strlen(a), l1);
  assert_memory_equal(a, b, l1);
  assert_true(l1 != l3 || memcmp(a, c, l1) != 0);
  /* a second load of the same spec gives the same bytes too */
  kg_spec *s2 = load_ok("specs/stream.lua");
  size_t l4;
  char *d = emit_ok(s2, "vec=8,unroll=4,nt=1,threads=2", &l4);
  assert_int_equal(l1, l4);
  assert_memory_equal(a, d, l1);
  free(a), free(b), free(c), free(d);
  kg_spec_free(s);
  kg_spec_free(s2);
}

static void test_banner_defines_slots(void **state) {
  kg_spec *s = load_ok("specs/stream.lua");
  char *src = emit_ok(s, "vec=8,unroll=4,nt=1,threads=2", NULL);
  uint64_t th = 0;
  kg_ctx ctx = {0};
  assert_int_equal(kg_template_hash(s, &th, &ctx), KG_OK);
  char want[256];
  assert_true(strncmp(src, "/*\n", 3) == 0);
  assert_non_null(strstr(src, " * kernel:   stream\n"));
  snprintf(want, sizeof want, " * spec:     stream.lua (xxh64 %016llx)\n", (unsigned long long)s->hash);
  assert_non_null(strstr(src, want));
  snprintf(want, sizeof want, " * template: stream.c (xxh64 %016llx", (unsigned long long)th);
  assert_non_null(strstr(src, want));
  assert_non_null(strstr(src, " * params:   vec=8,unroll=4,nt=1,threads=2\n"));
  /* no dates: the banner has no "date"/"time" and nothing shaped like a year-month */
  const char *end = strstr(src, " */\n");
  assert_non_null(end);
  for (const char *c = src; c < end; c++) {
    assert_false(strncasecmp(c, "date", 4) == 0 || strncasecmp(c, "time", 4) == 0);
    assert_false(c[0] == '2' && c[1] == '0' && isdigit((unsigned char)c[2]) && isdigit((unsigned char)c[3]) &&
                 c[4] == '-');
  }
  assert_non_null(strstr(src, "\n#define VEC 8\n#define UNROLL 4\n#define NT 1\n#define THREADS 2\n"));
  /* the defines come before the template's #ifndef defaults */
  assert_non_null(strstr(src, "#ifndef VEC"));
  assert_true(strstr(src, "#define VEC 8") < strstr(src, "#ifndef VEC"));
  /* unrolled slots: 4 loads and 4 stores per op, default bodies and markers gone */
  assert_non_null(strstr(src, "      vf t3 = VLOAD(a + i + 24);\n"));
  assert_non_null(strstr(src, "      vstore(a + i + 24, t3);\n"));
  assert_int_equal(count(src, "vf t3 ="), 4);
  assert_int_equal(count(src, "vf t4 ="), 0);
  assert_null(strstr(src, "/*$slot"));
  assert_null(strstr(src, "/*$end*/"));
  assert_null(strstr(src, "for (int u = 0; u < UNROLL; u++)"));
  /* quoted includes inlined, system includes untouched */
  assert_null(strstr(src, "#include \"kg_util.h\""));
  assert_null(strstr(src, "#include \"kg_abi.h\""));
  assert_non_null(strstr(src, "static inline uint64_t kg_rand_next"));
  assert_non_null(strstr(src, "#define KG_ABI_VERSION 1"));
  assert_non_null(strstr(src, "#include <string.h>"));
  free(src);
  /* the hash is that of the template's files, independent of the point */
  uint64_t th2 = 0;
  assert_int_equal(kg_template_hash(s, &th2, &ctx), KG_OK);
  assert_true(th == th2 && th != 0);
  kg_spec_free(s);
}

static void test_small_template(void **state) {
  kg_spec *s = load_ok("tests/specs/small.lua");
  char *src = emit_ok(s, "a=2,mode=safe", NULL);
  assert_non_null(
      strstr(src, "#define B 1\n#define A 2\n#define MODE_fast 0\n#define MODE_safe 1\n#define MODE MODE_safe\n"));
  /* slot: globals under macro and spec names, indentation of the slot kept */
  assert_non_null(strstr(
      src, "  int acc = 0;\n  acc += x[0] * 1; /* mode safe */\n  acc += x[1] * 1; /* mode safe */\n  return acc;\n"));
  /* includes inlined recursively, once each */
  assert_int_equal(count(src, "static const int small_inc_marker = 1;"), 1);
  assert_int_equal(count(src, "static const int small_inc2_marker = 2;"), 1);
  assert_null(strstr(src, "#include \"small_inc"));
  assert_non_null(strstr(src, "#include <stdio.h>"));
  free(src);
  src = emit_ok(s, "b=3,mode=fast", NULL);
  assert_non_null(strstr(src, "#define MODE MODE_fast\n"));
  assert_int_equal(count(src, "acc += x["), 1);
  assert_non_null(strstr(src, "acc += x[0] * 3; /* mode fast */"));
  free(src);
  kg_spec_free(s);
}

/* A slot in an included file is expanded with the variant's parameters, and sees the Lua globals
 * an earlier slot of the including file set (one Lua state per expansion). */
static void test_include_slot(void **state) {
  kg_spec *s = load_ok("tests/specs/include_slot.lua");
  char *src = emit_ok(s, "w=3,flag=1", NULL);
  assert_int_equal(count(src, "static const int include_slot_w"), 3);
  assert_non_null(strstr(src, "static const int include_slot_w2 = 2;"));
  assert_int_equal(count(src, "static const int include_slot_extra = 1;"), 1);
  assert_null(strstr(src, "include_slot_default"));
  assert_null(strstr(src, "$slot"));
  free(src);
  src = emit_ok(s, "w=2,flag=0", NULL);
  assert_int_equal(count(src, "static const int include_slot_w"), 2);
  assert_null(strstr(src, "include_slot_extra"));
  free(src);
  kg_spec_free(s);
}

static void expect_emit_error(const char *rel, const char *sub1, const char *sub2) {
  kg_spec *s = load_ok(rel);
  kg_ctx ctx = {0};
  int32_t pt[1] = {1};
  char *src = (char *)1;
  assert_int_equal(kg_template_emit(s, pt, &src, NULL, &ctx), KG_ETEMPLATE);
  assert_null(src);
  if (!strstr(ctx.msg, sub1)) fail_msg("message lacks \"%s\":\n%s", sub1, ctx.msg);
  if (sub2 && !strstr(ctx.msg, sub2)) fail_msg("message lacks \"%s\":\n%s", sub2, ctx.msg);
  kg_spec_free(s);
}

static void test_errors(void **state) {
  expect_emit_error("tests/specs/slot_error.lua", "slot_error.c:6: attempt to index a nil value", "slot 'broken'");
  expect_emit_error("tests/specs/unterminated.lua", "unterminated.c:4: slot 'body' is not terminated", NULL);
  /* the spec's hash walk sees the same structure error */
  kg_spec *s = load_ok("tests/specs/unterminated.lua");
  kg_ctx ctx = {0};
  uint64_t h;
  assert_int_equal(kg_template_hash(s, &h, &ctx), KG_ETEMPLATE);
  kg_spec_free(s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_stable),         cmocka_unit_test(test_banner_defines_slots),
      cmocka_unit_test(test_small_template), cmocka_unit_test(test_include_slot),
      cmocka_unit_test(test_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
