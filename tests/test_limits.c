/* test_limits.c - the Lua sandbox's limits cannot be caught or sidestepped, in a spec and in a
 * template slot: pcall/xpcall around runaway loops, out-of-memory inside pcall, __gc finalizers,
 * backtracking patterns, and code that spends wall-clock time in few instructions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kg_spec.h"
#include "kg_template.h"
#include "kg_timer.h"

static const char *path_of(const char *rel, char *buf, size_t cap) {
  const char *root = getenv("KGEN_ROOT");
  snprintf(buf, cap, "%s/%s", root ? root : ".", rel);
  return buf;
}

/* Load tests/specs/<name>.lua expecting KG_ESPEC and each NULL-terminated substring; returns the
 * seconds it took. */
static double expect_spec_error(const char *name, ...) {
  char rel[256], path[4096];
  snprintf(rel, sizeof rel, "tests/specs/%s.lua", name);
  kg_ctx ctx = {0};
  kg_spec *s = (kg_spec *)1;
  uint64_t t0 = kg_now_ns();
  kg_status st = kg_spec_load(path_of(rel, path, sizeof path), &s, &ctx);
  double secs = (double)(kg_now_ns() - t0) * 1e-9;
  if (st != KG_ESPEC) fail_msg("%s: status %d (%s), want KG_ESPEC; message: %s", name, st, kg_strerror(st), ctx.msg);
  assert_null(s);
  va_list ap;
  va_start(ap, name);
  for (const char *sub; (sub = va_arg(ap, const char *));)
    if (!strstr(ctx.msg, sub)) fail_msg("%s: message lacks \"%s\":\n%s", name, sub, ctx.msg);
  va_end(ap);
  return secs;
}

static void test_pcall_cannot_catch_limits(void **state) {
  (void)state;
  /* The limits under test are the instruction budget and memory: the wall-clock deadline (10 s by
   * default) is pushed back so that a loaded machine (or ASan) does not reach it first. */
  setenv("KGEN_LUA_TIME_LIMIT", "600", 1);
  expect_spec_error("runaway_pcall", "runaway_pcall.lua:3:", "instruction limit exceeded", NULL);
  expect_spec_error("runaway_xpcall", "runaway_xpcall.lua:3:", "instruction limit exceeded", NULL);
  expect_spec_error("runaway_memory_pcall", "runaway_memory_pcall.lua:", "memory limit exceeded", NULL);
  unsetenv("KGEN_LUA_TIME_LIMIT");
}

static void test_gc_and_patterns_refused(void **state) {
  (void)state;
  expect_spec_error("runaway_gc", "runaway_gc.lua:2:", "__gc finalizers are not available", NULL);
  expect_spec_error("runaway_pattern", "runaway_pattern.lua:3:", "too costly on a 5000-byte subject", NULL);
}

/* The wall-clock limit is independent of the instruction count: a loop of few instructions that
 * each cost a millisecond stops at the deadline (1 s here), far below the instruction limit. */
static void test_time_limit(void **state) {
  (void)state;
  setenv("KGEN_LUA_TIME_LIMIT", "1", 1);
  expect_spec_error("runaway_time", "runaway_time.lua:", "time limit exceeded (1 s", NULL);
  unsetenv("KGEN_LUA_TIME_LIMIT");
}

/* What the guards replace still behaves like Lua's own. */
static void test_guarded_functions_work(void **state) {
  (void)state;
  char path[4096];
  kg_ctx ctx = {0};
  kg_spec *s = NULL;
  kg_status st = kg_spec_load(path_of("tests/specs/sandbox_ok.lua", path, sizeof path), &s, &ctx);
  if (st != KG_OK) fail_msg("sandbox_ok: %s", ctx.msg);
  kg_spec_free(s);
}

/* A template slot runs in the same sandbox: the emit fails with the template's file:line. */
static void test_slot_runaway(void **state) {
  (void)state;
  char path[4096];
  kg_ctx ctx = {0};
  kg_spec *s = NULL;
  kg_status st = kg_spec_load(path_of("tests/specs/slot_runaway.lua", path, sizeof path), &s, &ctx);
  if (st != KG_OK) fail_msg("slot_runaway: %s", ctx.msg);
  int32_t pt[1] = {0};
  char *src = (char *)1;
  assert_int_equal(kg_template_emit(s, pt, &src, NULL, &ctx), KG_ETEMPLATE);
  assert_null(src);
  if (!strstr(ctx.msg, "slot_runaway.c:4:") || !strstr(ctx.msg, "instruction limit exceeded"))
    fail_msg("message lacks slot_runaway.c:4: instruction limit exceeded:\n%s", ctx.msg);
  kg_spec_free(s);
}

/* Templates stay inside their tree, and are regular files. */
static void test_template_paths(void **state) {
  (void)state;
  expect_spec_error("template_dir", "template_dir.lua:2:", "is not a regular file", NULL);
  expect_spec_error("template_escape", "template_escape.lua:2:", "lies outside the spec's folder", NULL);
  char path[4096];
  kg_ctx ctx = {0};
  kg_spec *s = NULL;
  kg_status st = kg_spec_load(path_of("tests/specs/include_escape.lua", path, sizeof path), &s, &ctx);
  if (st != KG_OK) fail_msg("include_escape: %s", ctx.msg);
  int32_t pt[1] = {0};
  char *src = (char *)1;
  assert_int_equal(kg_template_emit(s, pt, &src, NULL, &ctx), KG_ETEMPLATE);
  assert_null(src);
  if (!strstr(ctx.msg, "include_escape.c:2:") || !strstr(ctx.msg, "lies outside"))
    fail_msg("message lacks include_escape.c:2: ... lies outside:\n%s", ctx.msg);
  kg_spec_free(s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_pcall_cannot_catch_limits),
      cmocka_unit_test(test_gc_and_patterns_refused),
      cmocka_unit_test(test_time_limit),
      cmocka_unit_test(test_guarded_functions_work),
      cmocka_unit_test(test_slot_runaway),
      cmocka_unit_test(test_template_paths),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
