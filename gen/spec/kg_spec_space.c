/* kg_spec_space.c - the tunable space: parameters and their values, the constraints evaluated
 * over the cartesian product into spec->points (kg_spec.h). */

#include <ctype.h>
#include <inttypes.h>
#include <string.h>

#include "kg_spec_internal.h"

typedef struct pdecl {
  const char *name;
  int line;
  int ref; /* index in a Lua array table kept on the stack */
} pdecl;

static int pdecl_cmp(const void *a, const void *b) {
  const pdecl *x = a, *y = b;
  if (x->line != y->line) return x->line < y->line ? -1 : 1;
  return strcmp(x->name, y->name);
}

/* Convert the value list at the top of the stack (a plain list) into param p. */
static kg_status read_values(kg_spec_loader *ld, kg_param *p, bool strings_only) {
  lua_State *L = ld->kl.L;
  char d[128];
  int t = lua_gettop(L);
  size_t n = lua_rawlen(L, t);
  if (kg_spec_count_keys(L, t) != n)
    return kg_spec_fail(ld, p->line, KG_ESPEC,
                        "params.%s: expected a list of integers or strings, got a table with named keys", p->name);
  if (n == 0) return kg_spec_fail(ld, p->line, KG_ESPEC, "params.%s: empty value list", p->name);
  if (n > KG_SPEC_MAX_VALUES)
    return kg_spec_fail(ld, p->line, KG_ESPEC, "params.%s: more than %d values", p->name, KG_SPEC_MAX_VALUES);
  lua_rawgeti(L, t, 1);
  p->kind = lua_type(L, -1) == LUA_TSTRING ? KG_PARAM_STR : KG_PARAM_INT;
  lua_pop(L, 1);
  if (strings_only && p->kind != KG_PARAM_STR) {
    lua_rawgeti(L, t, 1);
    kg_status st = kg_spec_fail(ld, p->line, KG_ESPEC, "params.%s: enum expects strings, got %s", p->name,
                                kg_spec_describe(L, -1, d, sizeof d));
    lua_pop(L, 1);
    return st;
  }
  if (p->kind == KG_PARAM_INT) p->ivalues = calloc(n, sizeof *p->ivalues);
  else p->svalues = calloc(n, sizeof *p->svalues);
  if (!p->ivalues && !p->svalues) return kg_ctx_set(ld->ctx, KG_ENOMEM, "out of memory");
  for (size_t i = 0; i < n; i++) {
    lua_rawgeti(L, t, (lua_Integer)i + 1);
    int ty = lua_type(L, -1);
    int64_t v = 0;
    kg_status st = KG_OK;
    if (ty != LUA_TSTRING && ty != LUA_TNUMBER)
      st =
          kg_spec_fail(ld, p->line, KG_ESPEC, "params.%s: expected a list of integers or strings, got %s (element %zu)",
                       p->name, kg_spec_describe(L, -1, d, sizeof d), i + 1);
    else if (ty == LUA_TNUMBER && !kg_spec_get_int(L, -1, &v))
      st =
          kg_spec_fail(ld, p->line, KG_ESPEC, "params.%s: expected a list of integers or strings, got %s (element %zu)",
                       p->name, kg_spec_describe(L, -1, d, sizeof d), i + 1);
    else if ((ty == LUA_TSTRING) != (p->kind == KG_PARAM_STR))
      st = kg_spec_fail(ld, p->line, KG_ESPEC, "params.%s: the list mixes integers and strings (element %zu is %s)",
                        p->name, i + 1, kg_spec_describe(L, -1, d, sizeof d));
    else if (ty == LUA_TSTRING && !kg_spec_is_suffix(lua_tostring(L, -1)))
      st = kg_spec_fail(ld, p->line, KG_ESPEC,
                        "params.%s: value '%s' cannot be part of a C macro name (letters, digits and '_' only)",
                        p->name, lua_tostring(L, -1));
    if (st == KG_OK && p->kind == KG_PARAM_INT) {
      for (size_t j = 0; j < i && st == KG_OK; j++)
        if (p->ivalues[j] == v)
          st = kg_spec_fail(ld, p->line, KG_ESPEC, "params.%s: duplicate value %" PRId64, p->name, v);
      p->ivalues[i] = v;
    } else if (st == KG_OK) {
      const char *s = lua_tostring(L, -1);
      for (size_t j = 0; j < i && st == KG_OK; j++)
        if (strcmp(p->svalues[j], s) == 0)
          st = kg_spec_fail(ld, p->line, KG_ESPEC, "params.%s: duplicate value '%s'", p->name, s);
      if (st == KG_OK && !(p->svalues[i] = kg_spec_strdup(s))) st = kg_ctx_set(ld->ctx, KG_ENOMEM, "out of memory");
    }
    lua_pop(L, 1);
    p->nvalues = (int)i + 1;
    if (st) return st;
  }
  return KG_OK;
}

kg_status kg_spec_read_params(kg_spec_loader *ld, int def) {
  lua_State *L = ld->kl.L;
  kg_spec *s = ld->spec;
  char d[128];
  lua_getfield(L, def, "params");
  int t = lua_gettop(L);
  if (lua_isnil(L, t)) { /* no tunables: a space of one point */
    lua_pop(L, 1);
    return KG_OK;
  }
  if (lua_type(L, t) != LUA_TTABLE || kg_spec_is_obj(L, t, MT_VALUES))
    return kg_spec_fail(ld, ld->kline, KG_ESPEC, "params: expected a table of name = values, got %s",
                        kg_spec_is_obj(L, t, MT_VALUES) ? "a value list" : kg_spec_describe(L, t, d, sizeof d));
  size_t n = kg_spec_count_keys(L, t);
  if (n > KG_SPEC_MAX_PARAMS)
    return kg_spec_fail(ld, ld->kline, KG_ESPEC, "params: more than %d parameters", KG_SPEC_MAX_PARAMS);
  pdecl decl[KG_SPEC_MAX_PARAMS];
  int np = 0;
  lua_newtable(L); /* t+1: values, by position in decl */
  lua_pushnil(L);
  while (lua_next(L, t)) {
    if (lua_type(L, -2) != LUA_TSTRING || !kg_spec_is_ident(lua_tostring(L, -2))) {
      kg_spec_describe(L, -2, d, sizeof d);
      return kg_spec_fail(ld, ld->kline, KG_ESPEC, "params: parameter names must be C identifiers, got %s", d);
    }
    decl[np].name = lua_tostring(L, -2); /* the key stays alive in the params table */
    decl[np].line = ld->kline;
    if (kg_spec_is_obj(L, -1, MT_VALUES)) {
      lua_getfield(L, -1, "line");
      decl[np].line = (int)lua_tointeger(L, -1);
      lua_pop(L, 1);
    }
    decl[np].ref = np + 1;
    lua_rawseti(L, t + 1, np + 1);
    np++;
  }
  qsort(decl, (size_t)np, sizeof *decl, pdecl_cmp);
  s->params = calloc((size_t)(np ? np : 1), sizeof *s->params);
  if (!s->params) return kg_ctx_set(ld->ctx, KG_ENOMEM, "out of memory");
  for (int i = 0; i < np; i++) {
    kg_param *p = &s->params[i];
    s->nparams = i + 1;
    p->name = kg_spec_strdup(decl[i].name);
    p->macro = kg_spec_strdup(decl[i].name);
    p->line = decl[i].line;
    if (!p->name || !p->macro) return kg_ctx_set(ld->ctx, KG_ENOMEM, "out of memory");
    for (char *c = p->macro; *c; c++) *c = (char)toupper((unsigned char)*c);
    for (int j = 0; j < i; j++)
      if (strcmp(s->params[j].macro, p->macro) == 0)
        return kg_spec_fail(ld, p->line, KG_ESPEC, "params.%s: its macro %s collides with params.%s", p->name, p->macro,
                            s->params[j].name);
    lua_rawgeti(L, t + 1, decl[i].ref);
    bool strings_only = false;
    if (kg_spec_is_obj(L, -1, MT_VALUES)) {
      lua_getfield(L, -1, "ctor");
      strings_only = strcmp(lua_tostring(L, -1), "enum") == 0;
      lua_pop(L, 1);
      lua_getfield(L, -1, "list");
    } else if (lua_type(L, -1) != LUA_TTABLE || lua_getmetatable(L, -1)) {
      if (lua_type(L, -1) == LUA_TTABLE) lua_pop(L, 1);
      return kg_spec_fail(ld, p->line, KG_ESPEC, "params.%s: expected a list of integers or strings, got %s", p->name,
                          kg_spec_is_obj(L, -1, MT_PROBLEM)  ? "a problem"
                          : kg_spec_is_obj(L, -1, MT_KERNEL) ? "a kernel"
                                                             : kg_spec_describe(L, -1, d, sizeof d));
    } else {
      lua_pushvalue(L, -1);
    }
    kg_status st = read_values(ld, p, strings_only);
    if (st) return st;
    lua_pop(L, 2);
  }
  lua_pop(L, 2);
  return KG_OK;
}

/* ---------- constraints ---------- */

static void format_point_lua(kg_spec_loader *ld, const int32_t *pt, char *buf, size_t cap) {
  kg_spec_format_point(ld->spec, pt, buf, cap);
}

static int l_p_unknown(lua_State *L) {
  kg_spec_loader *ld = lua_touserdata(L, lua_upvalueindex(1));
  char all[1024];
  size_t n = 0;
  all[0] = '\0';
  for (int i = 0; i < ld->spec->nparams && n < sizeof all; i++)
    n += (size_t)snprintf(all + n, sizeof all - n, "%s%s", i ? ", " : "", ld->spec->params[i].name);
  return luaL_error(L, "p.%s: no such parameter (parameters: %s)", luaL_tolstring(L, 2, NULL), all);
}

/* Protected: [1] kg_spec_loader, [2] constraints list.  Walks the cartesian product (last parameter
 * fastest) and keeps the points every constraint accepts. */
static int l_eval_space(lua_State *L) {
  kg_spec_loader *ld = lua_touserdata(L, 1);
  kg_spec *s = ld->spec;
  int np = s->nparams, nc = s->nconstraints;
  lua_newtable(L); /* 3: p */
  lua_newtable(L);
  lua_pushlightuserdata(L, ld);
  lua_pushcclosure(L, l_p_unknown, 1);
  lua_setfield(L, -2, "__index");
  lua_setmetatable(L, 3);
  int32_t *cur = ld->cur;
  memset(cur, 0, sizeof *cur * (size_t)(np ? np : 1));
  for (size_t r = 0; r < s->nraw; r++) {
    for (int i = 0; i < np; i++) {
      const kg_param *p = &s->params[i];
      if (p->kind == KG_PARAM_INT) lua_pushinteger(L, (lua_Integer)p->ivalues[cur[i]]);
      else lua_pushstring(L, p->svalues[cur[i]]);
      lua_setfield(L, 3, p->name);
    }
    bool ok = true;
    for (int c = 0; c < nc && ok; c++) {
      ld->cur_constraint = c;
      lua_rawgeti(L, 2, c + 1);
      lua_pushvalue(L, 3);
      kg_lua_rebudget(&ld->kl);
      lua_call(L, 1, 1);
      if (lua_type(L, -1) != LUA_TBOOLEAN) {
        char pt[1024], d[128];
        lua_Debug ar;
        lua_rawgeti(L, 2, c + 1);
        lua_getinfo(L, ">S", &ar);
        format_point_lua(ld, cur, pt, sizeof pt);
        snprintf(ld->errbuf, sizeof ld->errbuf,
                 "%s:%d: constraint %d returned %s at %s, expected a boolean (missing 'return'?)", ld->path,
                 ar.linedefined, c + 1, kg_spec_describe(L, -1, d, sizeof d), pt);
        lua_pushstring(L, ld->errbuf);
        return lua_error(L);
      }
      ok = lua_toboolean(L, -1);
      lua_pop(L, 1);
    }
    if (ok) {
      if (s->npoints == ld->cap_points) {
        size_t cap = ld->cap_points ? ld->cap_points * 2 : 256;
        int32_t *np2 = realloc(s->points, cap * sizeof *np2 * (size_t)(np ? np : 1));
        if (!np2) {
          snprintf(ld->errbuf, sizeof ld->errbuf, "out of memory");
          lua_pushstring(L, ld->errbuf);
          return lua_error(L);
        }
        s->points = np2;
        ld->cap_points = cap;
      }
      memcpy(s->points + s->npoints * (size_t)np, cur, sizeof *cur * (size_t)np);
      s->npoints++;
    }
    for (int i = np - 1; i >= 0; i--) { /* odometer: last parameter fastest */
      if (++cur[i] < s->params[i].nvalues) break;
      cur[i] = 0;
    }
  }
  return 0;
}

kg_status kg_spec_read_constraints(kg_spec_loader *ld, int def) {
  lua_State *L = ld->kl.L;
  kg_spec *s = ld->spec;
  char d[128];
  lua_getfield(L, def, "constraints");
  int t = lua_gettop(L);
  if (lua_isnil(L, t)) {
    lua_pop(L, 1);
    lua_newtable(L);
    t = lua_gettop(L);
  } else if (lua_type(L, t) != LUA_TTABLE) {
    return kg_spec_fail(ld, ld->kline, KG_ESPEC, "constraints: expected a list of functions, got %s",
                        kg_spec_describe(L, t, d, sizeof d));
  }
  size_t n = lua_rawlen(L, t);
  if (kg_spec_count_keys(L, t) != n)
    return kg_spec_fail(ld, ld->kline, KG_ESPEC,
                        "constraints: expected a list of functions, got a table with named keys");
  for (size_t i = 1; i <= n; i++) {
    lua_rawgeti(L, t, (lua_Integer)i);
    if (lua_type(L, -1) != LUA_TFUNCTION)
      return kg_spec_fail(ld, ld->kline, KG_ESPEC, "constraints[%zu]: expected a function, got %s", i,
                          kg_spec_describe(L, -1, d, sizeof d));
    lua_pop(L, 1);
  }
  s->nconstraints = (int)n;
  /* size of the product */
  size_t raw = 1;
  for (int i = 0; i < s->nparams; i++) {
    if (raw > KG_SPEC_MAX_POINTS / (size_t)s->params[i].nvalues) {
      raw = (size_t)-1;
      break;
    }
    raw *= (size_t)s->params[i].nvalues;
  }
  if (raw > KG_SPEC_MAX_POINTS)
    return kg_spec_fail(ld, ld->kline, KG_ESPEC, "params: the space has more than %d points before constraints",
                        KG_SPEC_MAX_POINTS);
  s->nraw = raw;
  ld->cur = calloc((size_t)(s->nparams ? s->nparams : 1), sizeof *ld->cur);
  if (!ld->cur) return kg_ctx_set(ld->ctx, KG_ENOMEM, "out of memory");
  lua_pushcfunction(L, l_eval_space);
  lua_pushlightuserdata(L, ld);
  lua_pushvalue(L, t);
  ld->errbuf[0] = '\0';
  int st = kg_lua_pcall(&ld->kl, 2, 0);
  if (st != LUA_OK) {
    if (ld->errbuf[0] && !ld->kl.mem_hit) {
      lua_pop(L, 1);
      return kg_ctx_set(ld->ctx, strcmp(ld->errbuf, "out of memory") ? KG_ESPEC : KG_ENOMEM, "%s", ld->errbuf);
    }
    char msg[4096], pt[1024];
    lua_Debug ar;
    lua_rawgeti(L, t, ld->cur_constraint + 1);
    lua_getinfo(L, ">S", &ar);
    format_point_lua(ld, ld->cur, pt, sizeof pt);
    kg_lua_errmsg(&ld->kl, st, msg, sizeof msg);
    return kg_spec_fail(ld, ar.linedefined, KG_ESPEC, "constraint %d failed at %s: %s", ld->cur_constraint + 1, pt,
                        msg);
  }
  if (s->npoints == 0)
    return kg_spec_fail(ld, ld->kline, KG_ESPEC, "constraints reject all %zu points of the space", s->nraw);
  lua_pop(L, 1);
  return KG_OK;
}
