/* kg_spec_space.c - the tunable space: parameters and their values, the constraints evaluated
 * over the cartesian product into spec->points (kg_spec.h): enumerated, or sampled when too large. */

#define _GNU_SOURCE /* qsort_r */
#include <ctype.h>
#include <inttypes.h>
#include <stdlib.h>
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

/* Evaluate the constraints due at the node of depth d (parameters 0..d-1 bound in ld->cur and in
 * p, stack index 3): those whose next unbound read is now bound.  Returns 0 when one is false (it
 * prunes the subtree), 1 otherwise; one that reads an unbound parameter k waits until depth k + 1.
 * ld->cstate[d][c] is the depth at which constraint c is tried again (INT32_MAX: it holds on this
 * branch).  Lua errors and the limits unwind through lua_error.  Stack: [1] loader,
 * [2] constraints, [3] p, [4] handler. */
static int node_ok(lua_State *L, kg_spec_loader *ld, int d) {
  kg_spec *s = ld->spec;
  int nc = s->nconstraints;
  int32_t *st = ld->cstate + (size_t)d * (size_t)nc;
  if ((++ld->nodes & 1023) == 0 && kg_now_ns() > ld->enum_deadline_ns) {
    snprintf(ld->errbuf, sizeof ld->errbuf,
             "%s:%d: %s the space took more than %g s (%zu valid points so far, %llu constraint calls): "
             "add constraints on the first parameters, or fewer values",
             ld->path, ld->kline, s->sampled ? "sampling" : "enumerating", ld->kl.time_limit_s, s->npoints,
             (unsigned long long)s->nconstraint_calls);
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
    if (!ok) return 0;
    st[c] = INT32_MAX;
  }
  return 1;
}

/* Bind parameter d to value v (ld->cur and p) and hand the constraint state down to depth d + 1. */
static void bind_value(lua_State *L, kg_spec_loader *ld, int d, int v) {
  const kg_param *p = &ld->spec->params[d];
  int nc = ld->spec->nconstraints;
  int32_t *st = ld->cstate + (size_t)d * (size_t)nc;
  ld->cur[d] = v;
  lua_pushstring(L, p->name);
  if (p->kind == KG_PARAM_INT) lua_pushinteger(L, (lua_Integer)p->ivalues[v]);
  else lua_pushstring(L, p->svalues[v]);
  lua_rawset(L, 3);
  memcpy(st + nc, st, sizeof *st * (size_t)nc);
}

static void unbind_value(lua_State *L, kg_spec_loader *ld, int d) {
  ld->cur[d] = 0;
  lua_pushstring(L, ld->spec->params[d].name);
  lua_pushnil(L);
  lua_rawset(L, 3);
}

/* Append ld->cur to spec->points (the limit: KG_SPEC_MAX_POINTS). */
static void add_point(lua_State *L, kg_spec_loader *ld) {
  kg_spec *s = ld->spec;
  int np = s->nparams;
  if (s->npoints == ld->cap_points) {
    if (s->npoints >= KG_SPEC_MAX_POINTS) {
      snprintf(ld->errbuf, sizeof ld->errbuf,
               "%s:%d: the space has more than %d valid points: too large to enumerate (add constraints, fewer "
               "values, or sample = N: tune a sample of N valid points)",
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
}

/* Visit the node of depth d: prune it, or record the point (d == nparams), or visit its children. */
static void visit(lua_State *L, kg_spec_loader *ld, int d) {
  kg_spec *s = ld->spec;
  if (!node_ok(L, ld, d)) return;
  if (d == s->nparams) {
    add_point(L, ld);
    return;
  }
  for (int v = 0; v < s->params[d].nvalues; v++) {
    bind_value(L, ld, d, v);
    visit(L, ld, d + 1);
  }
  unbind_value(L, ld, d);
}

/* ---------- spaces too large to enumerate: estimated, then sampled ---------- */

/* Uniform integer in [0, n) from splitmix64 (Steele, Lea & Flood, OOPSLA 2014; n <= 65536: the
 * modulo bias is below 2^-47). */
static int rand_below(kg_spec_loader *ld, int n) {
  uint64_t z = (ld->rng += UINT64_C(0x9e3779b97f4a7c15));
  z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
  z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
  return (int)((z ^ (z >> 31)) % (uint64_t)n);
}

/* One of Knuth's random probes ("Estimating the efficiency of backtrack programs", Math. Comp. 29,
 * 1975): descend from the root through a uniformly random child that passes its constraints, and
 * return the product of the numbers of such children along the path (0 when it dies).  Its mean
 * over probes is an unbiased estimate of the number of valid points.  Leaves every parameter
 * unbound.  ld->okv: [max nvalues] scratch. */
static double probe(lua_State *L, kg_spec_loader *ld) {
  kg_spec *s = ld->spec;
  double est = node_ok(L, ld, 0) ? 1.0 : 0.0;
  int d = 0;
  for (; d < s->nparams && est > 0; d++) {
    int n = 0;
    for (int v = 0; v < s->params[d].nvalues; v++) {
      bind_value(L, ld, d, v);
      if (node_ok(L, ld, d + 1)) ld->okv[n++] = v;
    }
    est *= n;
    if (n == 0) break;
    bind_value(L, ld, d, ld->okv[rand_below(ld, n)]);
    node_ok(L, ld, d + 1); /* the chosen child's constraint state again */
  }
  for (int k = d < s->nparams ? d : s->nparams - 1; k >= 0; k--) unbind_value(L, ld, k);
  return est;
}

/* A random valid point into ld->cur: a depth-first descent that tries the values of each parameter
 * in a random order and backs out of a subtree without valid points, so each parameter's value is
 * uniform over the values whose subtree holds a valid point (uniform over branches, not over
 * points).  1 when found (parameters 0..d-1 stay bound), 0 when the subtree is empty.
 * ld->perm: [sum of nvalues] scratch, parameter d's part at ld->perm_at[d]. */
static int descend(lua_State *L, kg_spec_loader *ld, int d) {
  kg_spec *s = ld->spec;
  if (!node_ok(L, ld, d)) return 0;
  if (d == s->nparams) return 1;
  int n = s->params[d].nvalues, *perm = ld->perm + ld->perm_at[d];
  for (int i = 0; i < n; i++) perm[i] = i;
  for (int i = n - 1; i > 0; i--) { /* Fisher-Yates */
    int j = rand_below(ld, i + 1), t = perm[i];
    perm[i] = perm[j];
    perm[j] = t;
  }
  for (int i = 0; i < n; i++) {
    bind_value(L, ld, d, perm[i]);
    if (descend(L, ld, d + 1)) return 1;
  }
  unbind_value(L, ld, d);
  return 0;
}

/* qsort_r comparator: lexicographic order of two points of *(size_t *)arg value indices. */
static int point_cmp(const void *a, const void *b, void *arg) {
  const int32_t *x = a, *y = b;
  for (size_t i = 0, n = *(const size_t *)arg; i < n; i++)
    if (x[i] != y[i]) return x[i] < y[i] ? -1 : 1;
  return 0;
}

/* Sort spec->points lexicographically and drop repeats. */
static void sort_unique(kg_spec *s) {
  size_t np = (size_t)s->nparams, n = s->npoints, k = 0;
  qsort_r(s->points, n, sizeof *s->points * np, point_cmp, &np);
  for (size_t i = 0; i < n; i++)
    if (k == 0 || point_cmp(s->points + (k - 1) * np, s->points + i * np, &np) != 0) {
      if (k != i) memcpy(s->points + k * np, s->points + i * np, sizeof *s->points * np);
      k++;
    }
  s->npoints = k;
}

/* Draw target random valid points (rounds of draws until target distinct ones, or a round adds none
 * new: then the space holds fewer). */
static void sample_space(lua_State *L, kg_spec_loader *ld, size_t target) {
  kg_spec *s = ld->spec;
  for (int round = 0; round < 64 && s->npoints < target; round++) {
    size_t before = s->npoints, want = target - s->npoints;
    for (size_t i = 0; i < want; i++) {
      if (!descend(L, ld, 0)) {
        snprintf(ld->errbuf, sizeof ld->errbuf, "%s:%d: constraints reject all %zu points of the space", ld->path,
                 ld->kline, s->nraw);
        raise_msg(L, ld);
      }
      add_point(L, ld);
      for (int d = s->nparams - 1; d >= 0; d--) unbind_value(L, ld, d);
    }
    sort_unique(s);
    if (s->npoints == before) break;
  }
}

/* Protected: [1] kg_spec_loader, [2] constraints list.  Chooses between enumerating and sampling
 * (spec->sample_target > 0: sample; else Knuth's estimate over KG_SPEC_PROBES probes when the
 * product exceeds KG_SPEC_SAMPLE_ABOVE), then enumerates the valid points by backtracking over the
 * parameters in declaration order (values in list order, so the points come out in lexicographic
 * order), each constraint checked as soon as the parameters it reads are bound, or draws a sample
 * of them (sorted the same way). */
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
  size_t sum = 0;
  int maxv = 1;
  for (int d = 0; d < s->nparams; d++) {
    sum += (size_t)s->params[d].nvalues;
    if (s->params[d].nvalues > maxv) maxv = s->params[d].nvalues;
  }
  ld->okv = lua_newuserdatauv(L, sizeof(int) * (size_t)maxv, 0);                                 /* 6 */
  ld->perm = lua_newuserdatauv(L, sizeof(int) * (sum ? sum : 1), 0);                             /* 7 */
  ld->perm_at = lua_newuserdatauv(L, sizeof(size_t) * (size_t)(s->nparams ? s->nparams : 1), 0); /* 8 */
  for (int d = 0, at = 0; d < s->nparams; at += s->params[d++].nvalues) ld->perm_at[d] = (size_t)at;
  memset(ld->cur, 0, sizeof *ld->cur * (size_t)(s->nparams ? s->nparams : 1));
  ld->enum_deadline_ns = kg_now_ns() + (unsigned long long)(ld->kl.time_limit_s * 1e9);
  ld->rng = KG_SPEC_SAMPLE_SEED;
  s->estimate = (double)s->nraw;
  if (s->sample_target == 0 && s->nraw > KG_SPEC_SAMPLE_ABOVE && s->nparams > 0) {
    double sumest = 0;
    for (int i = 0; i < KG_SPEC_PROBES; i++) sumest += probe(L, ld);
    s->estimate = sumest / KG_SPEC_PROBES;
    if (s->estimate > KG_SPEC_SAMPLE_ABOVE) s->sample_target = KG_SPEC_SAMPLE_DEFAULT;
  }
  if (s->sample_target > 0 && s->nparams > 0) {
    s->sampled = true;
    sample_space(L, ld, (size_t)s->sample_target);
  } else {
    visit(L, ld, 0);
  }
  ld->cstate = NULL;
  ld->okv = ld->perm = NULL;
  ld->perm_at = NULL;
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
  /* sample = N: the space is too large to enumerate; tune N valid points drawn at random */
  lua_getfield(L, def, "sample");
  if (!lua_isnil(L, -1)) {
    int64_t v;
    if (!kg_spec_get_int(L, -1, &v) || v < 1 || v > KG_SPEC_MAX_POINTS)
      return kg_spec_fail(ld, ld->kline, KG_ESPEC, "sample: expected a number of points in 1..%d, got %s",
                          KG_SPEC_MAX_POINTS, kg_spec_describe(L, -1, d, sizeof d));
    s->sample_target = (long)v;
  }
  lua_pop(L, 1);
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
