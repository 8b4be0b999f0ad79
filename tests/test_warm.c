/*
 * test_warm.c - `kgen tune --warm-start` on tests/specs/variants.lua: another machine's results in
 * the output root are measured first (a budget of one variant measures exactly its winner), the
 * report names where the points came from (nearest machine first), --no-warm-start measures the
 * strategy's own first point, and a report lacking a parameter added since seeds with its default.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#define KG_TEST_NAME "warm"
#include "kg_cli_test.h"

/* out/variants/<id>.json: a tune report of variants.lua whose problem "small" was won by params
 * on machine id (this machine's fingerprint with cores_factor x its cores); steals params. */
static void other_machine_params(const char *out, const char *id, json_t *params, int cores_factor) {
  json_t *t = load_report(tmp, "tv/variants");
  assert_non_null(t);
  json_t *m = json_object_get(t, "machine");
  json_object_set_new(m, "id", json_string(id));
  json_object_set_new(m, "cores", json_integer(json_integer_value(json_object_get(m, "cores")) * cores_factor));
  json_t *w = json_object_get(json_array_get(json_object_get(t, "problems"), 0), "winner");
  json_object_set_new(w, "params", params);
  json_object_set_new(json_array_get(json_object_get(t, "problems"), 0), "ties", json_array());
  json_object_set_new(json_array_get(json_object_get(t, "problems"), 0), "top", json_array());
  char path[4096];
  assert_int_equal(run("mkdir -p '%s/%s/variants'", tmp, out), 0);
  snprintf(path, sizeof path, "%s/%s/variants/%s.json", tmp, out, id);
  assert_int_equal(json_dump_file(t, path, JSON_INDENT(2)), 0);
  json_decref(t);
}

/* The same, won by mode=ok, pad=<pad>. */
static void other_machine(const char *out, const char *id, int pad, int cores_factor) {
  other_machine_params(out, id, json_pack("{s:s, s:i}", "mode", "ok", "pad", pad), cores_factor);
}

/* The winner of problem small in out/variants/<this machine>.json (the report just written). */
static json_t *winner(const char *out, const char *skip_id) {
  char cmd[4096], path[4096] = "";
  snprintf(cmd, sizeof cmd, "ls %s/%s/variants/*.json | grep -v '%s' | head -n1", tmp, out, skip_id);
  FILE *f = popen(cmd, "r");
  if (f && fgets(path, sizeof path, f)) path[strcspn(path, "\n")] = 0;
  if (f) pclose(f);
  json_error_t err;
  return json_load_file(path, 0, &err);
}

static void test_warm_start(void **state) {
  (void)state;
  assert_int_equal(run("cd '%s' && '%s' tune '%s/tests/specs/variants.lua' --problem small --out tv "
                       "--min-time 0.01 --timeout 0.5 --quiet > tune.out 2>&1",
                       tmp, bin, root),
                   0);
  /* Without warm start, a budget of 1 measures the strategy's first point: find which. */
  assert_int_equal(run("cd '%s' && '%s' tune '%s/tests/specs/variants.lua' --problem small --out cold --budget 1 "
                       "--min-time 0.01 --timeout 0.5 --quiet > cold.out 2>&1",
                       tmp, bin, root),
                   0);
  json_t *c = winner("cold", "zz-");
  assert_non_null(c);
  json_t *cp = json_object_get(json_object_get(json_array_get(json_object_get(c, "problems"), 0), "winner"), "params");
  const int cold_pad = (int)json_integer_value(json_object_get(cp, "pad"));
  assert_null(json_object_get(c, "warm_start"));
  json_decref(c);
  /* Another machine won with the other pad: warm start measures that one (the budget's only point). */
  other_machine("warm", "zz-other", 1 - cold_pad, 1);
  other_machine("warm", "zz-far", cold_pad, 16); /* farther (16x the cores): its point comes second */
  assert_int_equal(run("cd '%s' && '%s' tune '%s/tests/specs/variants.lua' --problem small --out warm --budget 1 "
                       "--min-time 0.01 --timeout 0.5 --quiet > warm.out 2> warm.err",
                       tmp, bin, root),
                   0);
  assert_int_equal(run("grep -q 'warm start: 2 points of earlier results measured first (nearest first: zz-other)' "
                       "'%s/warm.err'",
                       tmp),
                   0);
  json_t *w = winner("warm", "zz-");
  assert_non_null(w);
  json_t *ww = json_object_get(json_array_get(json_object_get(w, "problems"), 0), "winner");
  assert_int_equal(json_integer_value(json_object_get(json_object_get(ww, "params"), "pad")), 1 - cold_pad);
  assert_string_equal(json_string_value(json_object_get(ww, "warm_from")), "zz-other");
  json_t *ws = json_object_get(w, "warm_start");
  assert_int_equal(json_array_size(ws), 2);
  assert_string_equal(json_string_value(json_object_get(json_array_get(ws, 0), "from")), "zz-other");
  assert_string_equal(json_string_value(json_object_get(json_array_get(ws, 1), "from")), "zz-far");
  json_decref(w);
  /* --no-warm-start: the strategy's own first point again. */
  assert_int_equal(run("cd '%s' && rm -f warm/variants/*.db && '%s' tune '%s/tests/specs/variants.lua' --problem small "
                       "--out warm --budget 1 --no-warm-start --min-time 0.01 --timeout 0.5 --quiet > nw.out 2>&1",
                       tmp, bin, root),
                   0);
  w = winner("warm", "zz-");
  ww = json_object_get(json_array_get(json_object_get(w, "problems"), 0), "winner");
  assert_int_equal(json_integer_value(json_object_get(json_object_get(ww, "params"), "pad")), cold_pad);
  assert_null(json_object_get(w, "warm_start"));
  json_decref(w);
  /* A report from before a parameter was added (no pad): its point seeds with the spec's default
   * for the missing one (pad = 0), where kgen bench would refuse it as a winner. */
  other_machine_params("old", "zz-old", json_pack("{s:s}", "mode", "unrolled"), 1);
  assert_int_equal(run("cd '%s' && '%s' tune '%s/tests/specs/variants.lua' --problem small --out old --budget 1 "
                       "--min-time 0.01 --timeout 0.5 --quiet > old.out 2> old.err",
                       tmp, bin, root),
                   0);
  w = winner("old", "zz-");
  ww = json_object_get(json_array_get(json_object_get(w, "problems"), 0), "winner");
  assert_string_equal(json_string_value(json_object_get(json_object_get(ww, "params"), "mode")), "unrolled");
  assert_int_equal(json_integer_value(json_object_get(json_object_get(ww, "params"), "pad")), 0);
  assert_string_equal(json_string_value(json_object_get(ww, "warm_from")), "zz-old");
  json_decref(w);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_warm_start)};
  return cmocka_run_group_tests(tests, setup, teardown);
}
