/* kg_spec_roofline.c - the fields that say what bounds each problem and how it is measured:
 * `bound` (the roofline reference of its efficiency, runtime/kg_roofline.h) and `cold` (stream
 * the inputs from memory: caches flushed before every call).  See kg_spec.h. */
#include <string.h>

#include "kg_spec_internal.h"

/* The field `name` of the def table, evaluated for problem pr: a constant, or a function of the
 * dimensions called with pr's dimensions.  Leaves the value on the stack (the caller pops it);
 * *line gets the function's line (else the kernel's). */
static kg_status kg_field_for_problem(kg_spec_loader *ld, int f, const char *name, const kg_spec_problem *pr,
                                      int *line) {
  lua_State *L = ld->kl.L;
  *line = ld->kline;
  if (lua_type(L, f) != LUA_TFUNCTION) {
    lua_pushvalue(L, f);
    return KG_OK;
  }
  lua_Debug ar;
  lua_pushvalue(L, f);
  lua_getinfo(L, ">S", &ar);
  *line = ar.linedefined;
  return kg_spec_call_dims(ld, f, pr, name, *line);
}

kg_status kg_spec_read_roofline(kg_spec_loader *ld, int def) {
  lua_State *L = ld->kl.L;
  kg_spec *s = ld->spec;
  char d[128];
  kg_status st = KG_OK;
  /* bound = "memory" | "fp32_fma" | "int8_dot" | "bf16_dot", or function(d) returning one (or nil: none) */
  lua_getfield(L, def, "bound");
  int f = lua_gettop(L);
  if (!lua_isnil(L, f) && lua_type(L, f) != LUA_TSTRING && lua_type(L, f) != LUA_TFUNCTION)
    st = kg_spec_fail(ld, ld->kline, KG_ESPEC,
                      "bound: expected \"memory\", \"fp32_fma\", \"int8_dot\", \"bf16_dot\" or a function of the "
                      "dimensions returning one, got %s",
                      kg_spec_describe(L, f, d, sizeof d));
  for (int i = 0; i < s->nproblems && !st && !lua_isnil(L, f); i++) {
    kg_spec_problem *pr = &s->problems[i];
    int line;
    if ((st = kg_field_for_problem(ld, f, "bound", pr, &line))) break;
    if (lua_isnil(L, -1)) { /* this problem declares no bound */
      lua_pop(L, 1);
      continue;
    }
    kg_ctx bctx = {0};
    kg_roofline_bound b;
    if (lua_type(L, -1) != LUA_TSTRING || kg_roofline_parse(lua_tostring(L, -1), &b, &bctx)) {
      st = kg_spec_fail(ld, line, KG_ESPEC, "bound for problem '%s': %s", pr->name,
                        lua_type(L, -1) == LUA_TSTRING ? kg_ctx_message(&bctx)
                                                       : "expected a string (memory, fp32_fma, int8_dot, bf16_dot)");
      break;
    }
    lua_pop(L, 1);
    if (b == KG_BOUND_MEMORY && !(pr->bytes > 0))
      st = kg_spec_fail(ld, line, KG_ESPEC,
                        "bound for problem '%s' is memory, but metrics.bytes is missing or 0 (the reference reads "
                        "the problem's bytes)",
                        pr->name);
    else if (b != KG_BOUND_MEMORY && !(pr->flops > 0))
      st = kg_spec_fail(ld, line, KG_ESPEC,
                        "bound for problem '%s' is %s, but metrics.flops is missing or 0 (the efficiency is the "
                        "problem's operations per second over the peak's)",
                        pr->name, kg_roofline_name(b));
    pr->bound = (int)b;
  }
  lua_pop(L, 1);
  if (st) return st;
  /* cold = true | false, or function(d) returning one */
  lua_getfield(L, def, "cold");
  f = lua_gettop(L);
  if (!lua_isnil(L, f) && lua_type(L, f) != LUA_TBOOLEAN && lua_type(L, f) != LUA_TFUNCTION)
    st = kg_spec_fail(ld, ld->kline, KG_ESPEC, "cold: expected true, false or a function of the dimensions, got %s",
                      kg_spec_describe(L, f, d, sizeof d));
  for (int i = 0; i < s->nproblems && !st && !lua_isnil(L, f); i++) {
    kg_spec_problem *pr = &s->problems[i];
    int line;
    if ((st = kg_field_for_problem(ld, f, "cold", pr, &line))) break;
    if (!lua_isnil(L, -1) && lua_type(L, -1) != LUA_TBOOLEAN) {
      st = kg_spec_fail(ld, line, KG_ESPEC, "cold for problem '%s': expected true or false, got %s", pr->name,
                        kg_spec_describe(L, -1, d, sizeof d));
      break;
    }
    pr->cold = lua_toboolean(L, -1);
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  return st;
}
