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

/* The error value a constraint raises when it reads a parameter not bound yet (its address is
 * the value: a light userdata no spec can forge). */
static char blocked_key;

/* p's __index: p.<name> of a parameter not bound yet records it and raises blocked_key; any other
 * name is a mistake in the spec. */
static int l_p_index(lua_State *L) {
  kg_spec_loader *ld = lua_touserdata(L, lua_upvalueindex(1));
  if (lua_type(L, 2) == LUA_TSTRING) {
    const char *k = lua_tostring(L, 2);
    for (int i = 0; i < ld->spec->nparams; i++)
      if (strcmp(ld->spec->params[i].name, k) == 0) {
        if (ld->blocked < 0) ld->blocked = i;
        lua_pushlightuserdata(L, &blocked_key);
        return lua_error(L);
      }
  }
  char all[1024];
  size_t n = 0;
  all[0] = '\0';
  for (int i = 0; i < ld->spec->nparams && n < sizeof all; i++)
    n += (size_t)snprintf(all + n, sizeof all - n, "%s%s", i ? ", " : "", ld->spec->params[i].name);
  return luaL_error(L, "p.%s: no such parameter (parameters: %s)", luaL_tolstring(L, 2, NULL), all);
}

/* Message handler of a constraint call: blocked_key passes through, anything else gets the
 * sandbox's traceback. */
static int l_constraint_msgh(lua_State *L) {
  if (lua_touserdata(L, 1) == &blocked_key) return 1;
  return kg_lua_msgh(L);
}

/* "a=1,b=2" for the first `bound` parameters of ld->cur (the ones a constraint could read). */
static void format_partial(kg_spec_loader *ld, int bound, char *buf, size_t cap) {
  const kg_spec *s = ld->spec;
  size_t n = 0;
  buf[0] = '\0';
  for (int i = 0; i < bound && n < cap; i++) {
    const kg_param *p = &s->params[i];
    if (p->kind == KG_PARAM_INT)
      n += (size_t)snprintf(buf + n, cap - n, "%s%s=%" PRId64, i ? "," : "", p->name, p->ivalues[ld->cur[i]]);
    else n += (size_t)snprintf(buf + n, cap - n, "%s%s=%s", i ? "," : "", p->name, p->svalues[ld->cur[i]]);
  }
  if (bound == 0) snprintf(buf, cap, "(no parameter bound)");
}

static int raise_msg(lua_State *L, kg_spec_loader *ld) {
  lua_pushstring(L, ld->errbuf);
  return lua_error(L);
}

/* Visit the node of depth d (parameters 0..d-1 bound in ld->cur and in p, stack index 3):
 * evaluate the constraints whose next unbound read is now bound; a false one prunes the subtree,
 * one that reads an unbound parameter k waits until depth k + 1.  ld->cstate[d][c] is the depth
 * at which constraint c is tried again (INT32_MAX: it holds on this branch).  Lua errors and the
 * limits unwind through lua_error.  Stack: [1] loader, [2] constraints, [3] p, [4] handler. */
static void visit(lua_State *L, kg_spec_loader *ld, int d) {
  kg_spec *s = ld->spec;
  int np = s->nparams, nc = s->nconstraints;
  int32_t *st = ld->cstate + (size_t)d * (size_t)nc;
  if ((++ld->nodes & 1023) == 0 && kg_now_ns() > ld->enum_deadline_ns) {
    snprintf(ld->errbuf, sizeof ld->errbuf,
             "%s:%d: enumerating the space took more than %g s (%zu valid points so far, %llu constraint calls): "
             "add constraints on the first parameters, or fewer values",
             ld->path, ld->kline, ld->kl.time_limit_s, s->npoints, (unsigned long long)s->nconstraint_calls);
    raise_msg(L, ld);
  }
  for (int c = 0; c < nc; c++) {
    if (st[c] > d) continue;
    ld->cur_constraint = c;
    ld->bound = d;
    ld->blocked = -1;
    lua_rawgeti(L, 2, c + 1);
    lua_pushvalue(L, 3);
    kg_lua_rebudget(&ld->kl);
    s->nconstraint_calls++;
    int r = lua_pcall(L, 1, 1, 4);
    if (ld->blocked >= 0 && !ld->kl.tripped && !ld->kl.mem_hit) { /* even if the constraint caught it */
      lua_pop(L, 1);
      st[c] = ld->blocked + 1;
      continue;
    }
    if (r != LUA_OK) lua_error(L); /* the constraint's own error, or a limit */
    if (lua_type(L, -1) != LUA_TBOOLEAN) {
      char pt[1024], dsc[128];
      lua_Debug ar;
      lua_rawgeti(L, 2, c + 1);
      lua_getinfo(L, ">S", &ar);
      format_partial(ld, d, pt, sizeof pt);
      snprintf(ld->errbuf, sizeof ld->errbuf,
               "%s:%d: constraint %d returned %s at %s, expected a boolean (missing 'return'?)", ld->path,
               ar.linedefined, c + 1, kg_spec_describe(L, -1, dsc, sizeof dsc), pt);
      raise_msg(L, ld);
    }
    int ok = lua_toboolean(L, -1);
    lua_pop(L, 1);
    if (!ok) return;
    st[c] = INT32_MAX;
  }
  if (d == np) {
    if (s->npoints == ld->cap_points) {
      if (s->npoints >= KG_SPEC_MAX_POINTS) {
        snprintf(ld->errbuf, sizeof ld->errbuf,
                 "%s:%d: the space has more than %d valid points: too large to enumerate (add constraints or "
                 "fewer values)",
                 ld->path, ld->kline, KG_SPEC_MAX_POINTS);
        raise_msg(L, ld);
      }
      size_t cap = ld->cap_points ? ld->cap_points * 2 : 256;
      int32_t *np2 = realloc(s->points, cap * sizeof *np2 * (size_t)(np ? np : 1));
      if (!np2) {
        snprintf(ld->errbuf, sizeof ld->errbuf, "out of memory");
        raise_msg(L, ld);
      }
      s->points = np2;
      ld->cap_points = cap;
    }
    memcpy(s->points + s->npoints * (size_t)np, ld->cur, sizeof *ld->cur * (size_t)np);
    s->npoints++;
    return;
  }
  const kg_param *p = &s->params[d];
  for (int v = 0; v < p->nvalues; v++) {
    ld->cur[d] = v;
    lua_pushstring(L, p->name);
    if (p->kind == KG_PARAM_INT) lua_pushinteger(L, (lua_Integer)p->ivalues[v]);
    else lua_pushstring(L, p->svalues[v]);
    lua_rawset(L, 3);
    memcpy(st + nc, st, sizeof *st * (size_t)nc);
    visit(L, ld, d + 1);
  }
  ld->cur[d] = 0;
  lua_pushstring(L, p->name);
  lua_pushnil(L);
  lua_rawset(L, 3);
}

/* Protected: [1] kg_spec_loader, [2] constraints list.  Enumerates the valid points by
 * backtracking over the parameters in declaration order (values in list order, so the points come
 * out in lexicographic order), each constraint checked as soon as the parameters it reads are
 * bound. */
static int l_eval_space(lua_State *L) {
  kg_spec_loader *ld = lua_touserdata(L, 1);
  kg_spec *s = ld->spec;
  lua_settop(L, 2);
  lua_newtable(L); /* 3: p */
  lua_newtable(L);
  lua_pushlightuserdata(L, ld);
  lua_pushcclosure(L, l_p_index, 1);
  lua_setfield(L, -2, "__index");
  lua_setmetatable(L, 3);
  lua_pushcfunction(L, l_constraint_msgh); /* 4 */
  size_t nst = (size_t)(s->nparams + 1) * (size_t)(s->nconstraints ? s->nconstraints : 1);
  ld->cstate = lua_newuserdatauv(L, nst * sizeof *ld->cstate, 0); /* 5: freed by Lua's collector */
  memset(ld->cstate, 0, nst * sizeof *ld->cstate);
  memset(ld->cur, 0, sizeof *ld->cur * (size_t)(s->nparams ? s->nparams : 1));
  ld->enum_deadline_ns = kg_now_ns() + (unsigned long long)(ld->kl.time_limit_s * 1e9);
  visit(L, ld, 0);
  ld->cstate = NULL;
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
  /* size of the product (the search's mixed-radix codes need it below 2^62) */
  size_t raw = 1;
  for (int i = 0; i < s->nparams; i++) {
    if (raw > ((size_t)1 << 62) / (size_t)s->params[i].nvalues)
      return kg_spec_fail(ld, ld->kline, KG_ESPEC, "params: the cartesian product has more than 2^62 points");
    raw *= (size_t)s->params[i].nvalues;
  }
  s->nraw = raw;
  ld->cur = calloc((size_t)(s->nparams ? s->nparams : 1), sizeof *ld->cur);
  if (!ld->cur) return kg_ctx_set(ld->ctx, KG_ENOMEM, "out of memory");
  lua_pushcfunction(L, l_eval_space);
  lua_pushlightuserdata(L, ld);
  lua_pushvalue(L, t);
  ld->errbuf[0] = '\0';
  unsigned long long t0 = kg_now_ns();
  int st = kg_lua_pcall(&ld->kl, 2, 0);
  s->space_seconds = (double)(kg_now_ns() - t0) * 1e-9;
  if (st != LUA_OK) {
    if (ld->errbuf[0] && !ld->kl.mem_hit) {
      lua_pop(L, 1);
      return kg_ctx_set(ld->ctx, strcmp(ld->errbuf, "out of memory") ? KG_ESPEC : KG_ENOMEM, "%s", ld->errbuf);
    }
    char msg[4096], pt[1024];
    lua_Debug ar;
    lua_rawgeti(L, t, ld->cur_constraint + 1);
    lua_getinfo(L, ">S", &ar);
    format_partial(ld, ld->bound, pt, sizeof pt);
    kg_lua_errmsg(&ld->kl, st, msg, sizeof msg);
    return kg_spec_fail(ld, ar.linedefined, KG_ESPEC, "constraint %d failed at %s: %s", ld->cur_constraint + 1, pt,
                        msg);
  }
  if (s->npoints == 0)
    return kg_spec_fail(ld, ld->kline, KG_ESPEC, "constraints reject all %zu points of the space", s->nraw);
  lua_pop(L, 1);
  return KG_OK;
}
