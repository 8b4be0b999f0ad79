/* kg_spec_fusion.c - the `fusion` field of a kernel (kg_spec.h): the pattern of each problem,
 * the baseline that runs the unfused sequence, the bytes that sequence moves, and the quick
 * subset `kgen calibrate --fusion` runs. */

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "kg_spec_internal.h"

static const char *const fusion_fields[] = {"pattern", "unfused", "bytes_unfused", "quick", NULL};

/* pattern: a string, or a function of the dimensions returning one; into pr->pattern. */
static kg_status read_pattern(kg_spec_loader *ld, int pat, kg_spec_problem *pr) {
  lua_State *L = ld->kl.L;
  char d[128];
  if (lua_type(L, pat) == LUA_TFUNCTION) {
    kg_status st = kg_spec_call_dims(ld, pat, pr, "fusion.pattern", ld->kline);
    if (st) return st;
  } else {
    lua_pushvalue(L, pat);
  }
  if (lua_type(L, -1) != LUA_TSTRING || !kg_spec_is_name(lua_tostring(L, -1)))
    return kg_spec_fail(ld, ld->kline, KG_ESPEC,
                        "fusion.pattern: expected a pattern name (letters, digits, '_', '-', '.') for problem '%s', "
                        "got %s",
                        pr->name, kg_spec_describe(L, -1, d, sizeof d));
  if (!(pr->pattern = kg_spec_strdup(lua_tostring(L, -1)))) return kg_ctx_set(ld->ctx, KG_ENOMEM, "out of memory");
  lua_pop(L, 1);
  return KG_OK;
}

/* bytes_unfused: a function of the dimensions returning a finite number >= 0. */
static kg_status read_bytes_unfused(kg_spec_loader *ld, int f, kg_spec_problem *pr) {
  lua_State *L = ld->kl.L;
  char d[128];
  kg_status st = kg_spec_call_dims(ld, f, pr, "fusion.bytes_unfused", ld->kline);
  if (st) return st;
  if (lua_type(L, -1) != LUA_TNUMBER)
    return kg_spec_fail(ld, ld->kline, KG_ESPEC, "fusion.bytes_unfused returned %s for problem '%s', expected a number",
                        kg_spec_describe(L, -1, d, sizeof d), pr->name);
  double v = lua_tonumber(L, -1);
  if (!(v >= 0) || isinf(v))
    return kg_spec_fail(ld, ld->kline, KG_ESPEC,
                        "fusion.bytes_unfused returned %g for problem '%s', expected a finite number >= 0", v,
                        pr->name);
  pr->bytes_unfused = v;
  lua_pop(L, 1);
  return KG_OK;
}

kg_status kg_spec_read_fusion(kg_spec_loader *ld, int def) {
  lua_State *L = ld->kl.L;
  kg_spec *s = ld->spec;
  char d[128];
  kg_status st;
  for (int i = 0; i < s->nproblems; i++) s->problems[i].bytes_unfused = -1;
  lua_getfield(L, def, "fusion");
  int t = lua_gettop(L);
  if (lua_isnil(L, t)) {
    lua_pop(L, 1);
    return KG_OK;
  }
  if (lua_type(L, t) != LUA_TTABLE)
    return kg_spec_fail(ld, ld->kline, KG_ESPEC,
                        "fusion: expected { pattern = ..., unfused = \"baseline\", bytes_unfused = function(d) ... "
                        "end }, got %s",
                        kg_spec_describe(L, t, d, sizeof d));
  if ((st = kg_spec_check_keys(ld, t, fusion_fields, "fusion", ld->kline))) return st;
  /* unfused: one of the baselines */
  lua_getfield(L, t, "unfused");
  if (lua_type(L, -1) != LUA_TSTRING)
    return kg_spec_fail(ld, ld->kline, KG_ESPEC,
                        "fusion.unfused: expected the name of the baseline that runs the unfused sequence, got %s",
                        kg_spec_describe(L, -1, d, sizeof d));
  const char *unf = lua_tostring(L, -1);
  bool listed = false;
  for (int i = 0; i < s->nbaselines && !listed; i++) listed = strcmp(s->baselines[i], unf) == 0;
  if (!listed) return kg_spec_fail(ld, ld->kline, KG_ESPEC, "fusion.unfused: '%s' is not one of the baselines", unf);
  if (!(s->fusion_unfused = kg_spec_strdup(unf))) return kg_ctx_set(ld->ctx, KG_ENOMEM, "out of memory");
  lua_pop(L, 1);
  /* pattern, bytes_unfused: per problem */
  lua_getfield(L, t, "pattern");
  int pat = lua_gettop(L);
  if (lua_type(L, pat) != LUA_TSTRING && lua_type(L, pat) != LUA_TFUNCTION)
    return kg_spec_fail(ld, ld->kline, KG_ESPEC,
                        "fusion.pattern: expected a pattern name or a function of the dimensions returning one, got %s",
                        kg_spec_describe(L, pat, d, sizeof d));
  lua_getfield(L, t, "bytes_unfused");
  int bu = lua_gettop(L);
  if (lua_type(L, bu) != LUA_TFUNCTION)
    return kg_spec_fail(ld, ld->kline, KG_ESPEC,
                        "fusion.bytes_unfused: expected a function of the dimensions (bytes the unfused sequence "
                        "moves), got %s",
                        kg_spec_describe(L, bu, d, sizeof d));
  for (int i = 0; i < s->nproblems; i++) {
    if ((st = read_pattern(ld, pat, &s->problems[i]))) return st;
    if ((st = read_bytes_unfused(ld, bu, &s->problems[i]))) return st;
  }
  lua_settop(L, t);
  /* quick: problem names (optional) */
  lua_getfield(L, t, "quick");
  int q = lua_gettop(L);
  if (!lua_isnil(L, q)) {
    if (lua_type(L, q) != LUA_TTABLE || kg_spec_count_keys(L, q) != lua_rawlen(L, q) || lua_rawlen(L, q) == 0)
      return kg_spec_fail(ld, ld->kline, KG_ESPEC, "fusion.quick: expected a non-empty list of problem names, got %s",
                          kg_spec_describe(L, q, d, sizeof d));
    for (lua_Integer j = 1; j <= (lua_Integer)lua_rawlen(L, q); j++) {
      lua_rawgeti(L, q, j);
      int pi = lua_type(L, -1) == LUA_TSTRING ? kg_spec_problem_index(s, lua_tostring(L, -1)) : -1;
      if (pi < 0)
        return kg_spec_fail(ld, ld->kline, KG_ESPEC, "fusion.quick[%lld]: %s is not one of the problems", (long long)j,
                            kg_spec_describe(L, -1, d, sizeof d));
      s->problems[pi].fusion_quick = true;
      lua_pop(L, 1);
    }
  } else {
    /* default: the first problem of each pattern */
    for (int i = 0; i < s->nproblems; i++) {
      bool first = true;
      for (int j = 0; j < i && first; j++) first = strcmp(s->problems[j].pattern, s->problems[i].pattern) != 0;
      s->problems[i].fusion_quick = first;
    }
  }
  s->fusion = true;
  lua_settop(L, t - 1);
  return KG_OK;
}
