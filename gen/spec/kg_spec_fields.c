/* kg_spec_fields.c - the other fields of a kernel: problems, metrics, tolerance, seed,
 * baselines, baseline_threads, roles, and the template's path (kg_spec.h). */

#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "kg_abi.h"
#include <limits.h>
#include <sys/stat.h>
#include <stdlib.h>
#include "kg_spec_internal.h"

/* ---------- problems and metrics ---------- */

typedef struct dimkv {
  const char *name;
  int64_t v;
} dimkv;

static int dimkv_cmp(const void *a, const void *b) {
  return strcmp(((const dimkv *)a)->name, ((const dimkv *)b)->name);
}

/* The problem object at the top of the stack into problems[i]. */
static kg_status read_problem(kg_spec_loader *ld, kg_spec_problem *pr) {
  lua_State *L = ld->kl.L;
  char d[128];
  int o = lua_gettop(L);
  lua_getfield(L, o, "line");
  int line = (int)lua_tointeger(L, -1);
  lua_getfield(L, o, "name");
  const char *name = lua_tostring(L, -1);
  if (!kg_spec_is_name(name))
    return kg_spec_fail(ld, line, KG_ESPEC, "problem '%s': names are letters, digits, '_', '-' and '.'", name);
  for (kg_spec_problem *q = ld->spec->problems; q < pr; q++)
    if (strcmp(q->name, name) == 0) return kg_spec_fail(ld, line, KG_ESPEC, "problem '%s' is defined twice", name);
  if (!(pr->name = kg_spec_strdup(name))) return kg_ctx_set(ld->ctx, KG_ENOMEM, "out of memory");
  lua_getfield(L, o, "def");
  int t = lua_gettop(L);
  dimkv kv[KG_MAX_DIMS];
  int n = 0;
  lua_pushnil(L);
  while (lua_next(L, t)) {
    if (lua_type(L, -2) != LUA_TSTRING || !kg_spec_is_ident(lua_tostring(L, -2)))
      return kg_spec_fail(ld, line, KG_ESPEC, "problem '%s': dimension names must be identifiers, got %s", name,
                          kg_spec_describe(L, -2, d, sizeof d));
    if (n == KG_MAX_DIMS)
      return kg_spec_fail(ld, line, KG_ESPEC, "problem '%s': more than %d dimensions", name, KG_MAX_DIMS);
    kv[n].name = lua_tostring(L, -2);
    if (!kg_spec_get_int(L, -1, &kv[n].v))
      return kg_spec_fail(ld, line, KG_ESPEC, "problem '%s': dimension '%s' must be an integer, got %s", name,
                          kv[n].name, kg_spec_describe(L, -1, d, sizeof d));
    n++;
    lua_pop(L, 1);
  }
  if (n == 0) return kg_spec_fail(ld, line, KG_ESPEC, "problem '%s' has no dimensions", name);
  qsort(kv, (size_t)n, sizeof *kv, dimkv_cmp);
  pr->dim_names = calloc((size_t)n, sizeof *pr->dim_names);
  pr->dims = calloc((size_t)n, sizeof *pr->dims);
  if (!pr->dim_names || !pr->dims) return kg_ctx_set(ld->ctx, KG_ENOMEM, "out of memory");
  pr->ndims = n;
  for (int i = 0; i < n; i++) {
    pr->dims[i] = kv[i].v;
    if (!(pr->dim_names[i] = kg_spec_strdup(kv[i].name))) return kg_ctx_set(ld->ctx, KG_ENOMEM, "out of memory");
  }
  pr->flops = pr->bytes = -1;
  lua_settop(L, o - 1);
  return KG_OK;
}

kg_status kg_spec_read_problems(kg_spec_loader *ld, int def) {
  lua_State *L = ld->kl.L;
  kg_spec *s = ld->spec;
  char d[128];
  lua_getfield(L, def, "problems");
  int t = lua_gettop(L);
  if (lua_isnil(L, t)) return kg_spec_fail(ld, ld->kline, KG_ESPEC, "missing field 'problems' in kernel");
  if (lua_type(L, t) != LUA_TTABLE || lua_getmetatable(L, t))
    return kg_spec_fail(ld, ld->kline, KG_ESPEC, "problems: expected a list of problems, got %s",
                        kg_spec_is_obj(L, t, MT_PROBLEM) ? "one problem (wrap it in { })"
                                                         : kg_spec_describe(L, t, d, sizeof d));
  /* Flatten one level: an element may be a list of problems (what a generator returns). */
  lua_newtable(L);
  int flat = lua_gettop(L), nflat = 0;
  size_t n = lua_rawlen(L, t);
  if (kg_spec_count_keys(L, t) != n)
    return kg_spec_fail(ld, ld->kline, KG_ESPEC, "problems: expected a list of problems, got a table with named keys");
  for (size_t i = 1; i <= n; i++) {
    lua_rawgeti(L, t, (lua_Integer)i);
    if (kg_spec_is_obj(L, -1, MT_PROBLEM)) {
      lua_rawseti(L, flat, ++nflat);
      continue;
    }
    if (lua_type(L, -1) != LUA_TTABLE || lua_getmetatable(L, -1))
      return kg_spec_fail(ld, ld->kline, KG_ESPEC,
                          "problems[%zu]: expected a problem \"name\" { dims } or a list of them, got %s", i,
                          kg_spec_describe(L, -1, d, sizeof d));
    size_t m = lua_rawlen(L, -1);
    for (size_t j = 1; j <= m; j++) {
      lua_rawgeti(L, -1, (lua_Integer)j);
      if (!kg_spec_is_obj(L, -1, MT_PROBLEM))
        return kg_spec_fail(ld, ld->kline, KG_ESPEC, "problems[%zu][%zu]: expected a problem \"name\" { dims }, got %s",
                            i, j, kg_spec_describe(L, -1, d, sizeof d));
      lua_rawseti(L, flat, ++nflat);
    }
    lua_pop(L, 1);
  }
  if (nflat == 0)
    return kg_spec_fail(ld, ld->kline, KG_ESPEC, "problems: empty list (a spec needs at least one problem)");
  s->problems = calloc((size_t)nflat, sizeof *s->problems);
  if (!s->problems) return kg_ctx_set(ld->ctx, KG_ENOMEM, "out of memory");
  for (int i = 0; i < nflat; i++) {
    lua_rawgeti(L, flat, i + 1);
    s->nproblems = i + 1;
    kg_status st = read_problem(ld, &s->problems[i]); /* pops the problem */
    if (st) return st;
  }
  lua_settop(L, t - 1);
  return KG_OK;
}

static const char *const metric_names[] = {"bytes", "flops", NULL};

void kg_spec_push_dims(lua_State *L, const kg_spec_problem *pr, bool as_float) {
  lua_createtable(L, 0, pr->ndims);
  for (int k = 0; k < pr->ndims; k++) {
    if (as_float) lua_pushnumber(L, (lua_Number)pr->dims[k]);
    else lua_pushinteger(L, (lua_Integer)pr->dims[k]);
    lua_setfield(L, -2, pr->dim_names[k]);
  }
}

kg_status kg_spec_call_dims(kg_spec_loader *ld, int f, const kg_spec_problem *pr, const char *what, int line) {
  lua_pushvalue(ld->kl.L, f);
  kg_spec_push_dims(ld->kl.L, pr, false);
  int rc = kg_lua_pcall(&ld->kl, 1, 1);
  if (rc == LUA_OK) return KG_OK;
  char msg[4096];
  kg_lua_errmsg(&ld->kl, rc, msg, sizeof msg);
  return kg_spec_fail(ld, line, KG_ESPEC, "%s failed for problem '%s': %s", what, pr->name, msg);
}

/* The metric function at stack index f evaluated on the problem's dimensions as floats into
 * *out: Lua's integers wrap around silently (12 * 2^62 is 0), floats do not, so the two results
 * differ when the integer one overflowed.  false when that evaluation fails (then nothing is
 * known: the integer result stands). */
static bool metric_in_floats(kg_spec_loader *ld, int f, const kg_spec_problem *pr, double *out) {
  lua_State *L = ld->kl.L;
  lua_pushvalue(L, f);
  kg_spec_push_dims(L, pr, true);
  bool ok = kg_lua_pcall(&ld->kl, 1, 1) == LUA_OK && lua_type(L, -1) == LUA_TNUMBER;
  if (ok) *out = lua_tonumber(L, -1);
  lua_pop(L, 1);
  return ok;
}

kg_status kg_spec_read_metrics(kg_spec_loader *ld, int def) {
  lua_State *L = ld->kl.L;
  kg_spec *s = ld->spec;
  char d[128];
  lua_getfield(L, def, "metrics");
  int t = lua_gettop(L);
  if (lua_isnil(L, t)) {
    lua_pop(L, 1);
    return KG_OK;
  }
  if (lua_type(L, t) != LUA_TTABLE)
    return kg_spec_fail(ld, ld->kline, KG_ESPEC, "metrics: expected a table of functions, got %s",
                        kg_spec_describe(L, t, d, sizeof d));
  kg_status st = kg_spec_check_keys(ld, t, metric_names, "metrics", ld->kline);
  if (st) return st;
  for (int m = 0; metric_names[m]; m++) {
    lua_getfield(L, t, metric_names[m]);
    int f = lua_gettop(L);
    if (lua_isnil(L, f)) {
      lua_pop(L, 1);
      continue;
    }
    if (lua_type(L, f) != LUA_TFUNCTION)
      return kg_spec_fail(ld, ld->kline, KG_ESPEC, "metrics.%s: expected a function of the dimensions, got %s",
                          metric_names[m], kg_spec_describe(L, f, d, sizeof d));
    lua_Debug ar;
    lua_pushvalue(L, f);
    lua_getinfo(L, ">S", &ar);
    for (int i = 0; i < s->nproblems; i++) {
      kg_spec_problem *pr = &s->problems[i];
      char what[64];
      snprintf(what, sizeof what, "metrics.%s", metric_names[m]);
      if ((st = kg_spec_call_dims(ld, f, pr, what, ar.linedefined))) return st;
      if (lua_type(L, -1) != LUA_TNUMBER)
        return kg_spec_fail(ld, ar.linedefined, KG_ESPEC, "metrics.%s returned %s for problem '%s', expected a number",
                            metric_names[m], kg_spec_describe(L, -1, d, sizeof d), pr->name);
      double v = lua_tonumber(L, -1);
      double exact;
      if (lua_isinteger(L, -1) && metric_in_floats(ld, f, pr, &exact) && fabs(exact - v) > 1e-9 * fabs(exact) + 0.5)
        return kg_spec_fail(ld, ar.linedefined, KG_ESPEC,
                            "metrics.%s overflows 64-bit integers for problem '%s': %.17g in integers, %g in "
                            "floating point (are its dimensions that large?)",
                            metric_names[m], pr->name, v, exact);
      if (!(v >= 0) || isinf(v))
        return kg_spec_fail(ld, ar.linedefined, KG_ESPEC,
                            "metrics.%s returned %g for problem '%s', expected a finite number >= 0", metric_names[m],
                            v, pr->name);
      if (m == 0) pr->bytes = v;
      else pr->flops = v;
      lua_pop(L, 1);
    }
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  return KG_OK;
}

/* ---------- the rest of the fields ---------- */

static const char *const tolerance_fields[] = {"atol", "rtol", NULL};

kg_status kg_spec_read_misc(kg_spec_loader *ld, int def) {
  lua_State *L = ld->kl.L;
  kg_spec *s = ld->spec;
  char d[128];
  kg_status st;
  /* tolerance */
  lua_getfield(L, def, "tolerance");
  if (!lua_isnil(L, -1)) {
    int t = lua_gettop(L);
    if (lua_type(L, t) != LUA_TTABLE)
      return kg_spec_fail(ld, ld->kline, KG_ESPEC, "tolerance: expected a table { rtol = x, atol = y }, got %s",
                          kg_spec_describe(L, t, d, sizeof d));
    if ((st = kg_spec_check_keys(ld, t, tolerance_fields, "tolerance", ld->kline))) return st;
    for (int i = 0; tolerance_fields[i]; i++) {
      lua_getfield(L, t, tolerance_fields[i]);
      double v = 0;
      if (!lua_isnil(L, -1)) {
        if (lua_type(L, -1) != LUA_TNUMBER)
          return kg_spec_fail(ld, ld->kline, KG_ESPEC, "tolerance.%s: expected a number >= 0, got %s",
                              tolerance_fields[i], kg_spec_describe(L, -1, d, sizeof d));
        v = lua_tonumber(L, -1);
        if (!(v >= 0) || isinf(v))
          return kg_spec_fail(ld, ld->kline, KG_ESPEC, "tolerance.%s: expected a finite number >= 0, got %g",
                              tolerance_fields[i], v);
      }
      if (i == 0) s->atol = v;
      else s->rtol = v;
      lua_pop(L, 1);
    }
  }
  lua_pop(L, 1);
  /* seed */
  s->seed = 42;
  lua_getfield(L, def, "seed");
  if (!lua_isnil(L, -1)) {
    int64_t v;
    if (!kg_spec_get_int(L, -1, &v) || v < 0)
      return kg_spec_fail(ld, ld->kline, KG_ESPEC, "seed: expected an integer >= 0, got %s",
                          kg_spec_describe(L, -1, d, sizeof d));
    s->seed = (uint64_t)v;
  }
  lua_pop(L, 1);
  /* baselines */
  lua_getfield(L, def, "baselines");
  if (!lua_isnil(L, -1)) {
    int t = lua_gettop(L);
    if (lua_type(L, t) != LUA_TTABLE || kg_spec_count_keys(L, t) != lua_rawlen(L, t))
      return kg_spec_fail(ld, ld->kline, KG_ESPEC, "baselines: expected a list of names, got %s",
                          kg_spec_describe(L, t, d, sizeof d));
    size_t n = lua_rawlen(L, t);
    s->baselines = calloc(n ? n : 1, sizeof *s->baselines);
    if (!s->baselines) return kg_ctx_set(ld->ctx, KG_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
      lua_rawgeti(L, t, (lua_Integer)i + 1);
      if (lua_type(L, -1) != LUA_TSTRING)
        return kg_spec_fail(ld, ld->kline, KG_ESPEC, "baselines[%zu]: expected a name, got %s", i + 1,
                            kg_spec_describe(L, -1, d, sizeof d));
      const char *b = lua_tostring(L, -1);
      if (!kg_spec_is_ident(b))
        return kg_spec_fail(ld, ld->kline, KG_ESPEC,
                            "baselines[%zu]: '%s' is not a C identifier (the template exports kg_baseline_<name>)",
                            i + 1, b);
      for (size_t j = 0; j < i; j++)
        if (strcmp(s->baselines[j], b) == 0)
          return kg_spec_fail(ld, ld->kline, KG_ESPEC, "baselines: '%s' is listed twice", b);
      if (!(s->baselines[i] = kg_spec_strdup(b))) return kg_ctx_set(ld->ctx, KG_ENOMEM, "out of memory");
      s->nbaselines = (int)i + 1;
      lua_pop(L, 1);
    }
  }
  lua_pop(L, 1);
  /* baseline_threads: { name = threads } over the baselines */
  s->baseline_threads = calloc((size_t)(s->nbaselines ? s->nbaselines : 1), sizeof *s->baseline_threads);
  if (!s->baseline_threads) return kg_ctx_set(ld->ctx, KG_ENOMEM, "out of memory");
  lua_getfield(L, def, "baseline_threads");
  if (!lua_isnil(L, -1)) {
    int t = lua_gettop(L);
    if (lua_type(L, t) != LUA_TTABLE)
      return kg_spec_fail(ld, ld->kline, KG_ESPEC, "baseline_threads: expected { name = threads, ... }, got %s",
                          kg_spec_describe(L, t, d, sizeof d));
    lua_pushnil(L);
    while (lua_next(L, t)) {
      int64_t v;
      const char *name = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
      int at = -1;
      for (int i = 0; name && i < s->nbaselines; i++)
        if (!strcmp(s->baselines[i], name)) at = i;
      if (at < 0)
        return kg_spec_fail(ld, ld->kline, KG_ESPEC, "baseline_threads: '%s' is not one of the baselines",
                            name ? name : kg_spec_describe(L, -2, d, sizeof d));
      if (!kg_spec_get_int(L, -1, &v) || v < 1 || v > 4096)
        return kg_spec_fail(ld, ld->kline, KG_ESPEC, "baseline_threads.%s: expected a thread count >= 1, got %s", name,
                            kg_spec_describe(L, -1, d, sizeof d));
      s->baseline_threads[at] = (int)v;
      lua_pop(L, 1);
    }
  }
  lua_pop(L, 1);
  return KG_OK;
}

/* roles = { role = name }: what parameters and dimensions mean to kgen (threads, ...). */
kg_status kg_spec_read_roles(kg_spec_loader *ld, int def) {
  lua_State *L = ld->kl.L;
  kg_spec *s = ld->spec;
  char d[128];
  lua_getfield(L, def, "roles");
  int t = lua_gettop(L);
  if (lua_isnil(L, t)) {
    lua_pop(L, 1);
    return KG_OK;
  }
  if (lua_type(L, t) != LUA_TTABLE)
    return kg_spec_fail(ld, ld->kline, KG_ESPEC, "roles: expected { role = \"parameter or dimension\", ... }, got %s",
                        kg_spec_describe(L, t, d, sizeof d));
  size_t n = kg_spec_count_keys(L, t);
  s->roles = calloc(n ? n : 1, sizeof *s->roles);
  s->role_names = calloc(n ? n : 1, sizeof *s->role_names);
  if (!s->roles || !s->role_names) return kg_ctx_set(ld->ctx, KG_ENOMEM, "out of memory");
  lua_pushnil(L);
  while (lua_next(L, t)) {
    if (lua_type(L, -2) != LUA_TSTRING || !kg_spec_is_ident(lua_tostring(L, -2)))
      return kg_spec_fail(ld, ld->kline, KG_ESPEC, "roles: role names are identifiers, got %s",
                          kg_spec_describe(L, -2, d, sizeof d));
    const char *role = lua_tostring(L, -2);
    if (lua_type(L, -1) != LUA_TSTRING || !kg_spec_is_ident(lua_tostring(L, -1)))
      return kg_spec_fail(ld, ld->kline, KG_ESPEC, "roles.%s: expected the name of a parameter or dimension, got %s",
                          role, kg_spec_describe(L, -1, d, sizeof d));
    const char *target = lua_tostring(L, -1);
    if (strcmp(role, "threads") == 0) {
      int pi = kg_spec_param_index(s, target);
      if (pi < 0 || s->params[pi].kind != KG_PARAM_INT)
        return kg_spec_fail(ld, ld->kline, KG_ESPEC, "roles.threads: '%s' is not an integer parameter", target);
    }
    int i = s->nroles;
    if (!(s->roles[i] = kg_spec_strdup(role)) || !(s->role_names[i] = kg_spec_strdup(target)))
      return kg_ctx_set(ld->ctx, KG_ENOMEM, "out of memory");
    s->nroles = i + 1;
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  return KG_OK;
}

/* Collapse "a/b/../c" and "./" lexically (no symlink resolution): "specs/../templates/x.c"
 * becomes "templates/x.c". */
static void normalize_path(char *p) {
  bool abs = p[0] == '/';
  char *parts[256];
  int n = 0;
  char *save = NULL;
  char tmp[8192];
  size_t plen = strlen(p);
  if (plen >= sizeof tmp) return;
  memcpy(tmp, p, plen + 1);
  for (char *tok = strtok_r(tmp, "/", &save); tok && n < 256; tok = strtok_r(NULL, "/", &save)) {
    if (strcmp(tok, ".") == 0) continue;
    if (strcmp(tok, "..") == 0 && n > 0 && strcmp(parts[n - 1], "..") != 0) {
      n--;
      continue;
    }
    if (strcmp(tok, "..") == 0 && abs && n == 0) continue;
    parts[n++] = tok;
  }
  size_t len = 0;
  char out[8192];
  out[0] = '\0';
  if (abs) out[len++] = '/', out[len] = '\0';
  for (int i = 0; i < n; i++) len += (size_t)snprintf(out + len, sizeof out - len, "%s%s", i ? "/" : "", parts[i]);
  if (len == 0) snprintf(out, sizeof out, ".");
  strcpy(p, out); /* never longer than the input */
}

/* Whether realpath rp lies inside folder root (resolved here; a missing root contains nothing). */
static bool kg_path_under(const char *rp, const char *root) {
  char rr[PATH_MAX];
  if (!realpath(root, rr)) return false;
  size_t n = strlen(rr);
  return strncmp(rp, rr, n) == 0 && (rp[n] == '/' || rp[n] == '\0' || (n == 1 && rr[0] == '/'));
}

bool kg_spec_template_allowed(const char *spec_path, const char *file) {
  char rp[PATH_MAX], dir[4096], root[4200];
  if (!realpath(file, rp)) return false;
  snprintf(dir, sizeof dir, "%s", spec_path);
  char *slash = strrchr(dir, '/');
  if (slash) *slash = '\0';
  else snprintf(dir, sizeof dir, ".");
  if (kg_path_under(rp, dir)) return true;
  snprintf(root, sizeof root, "%s/../templates", dir);
  if (kg_path_under(rp, root)) return true;
  const char *env = getenv("KGEN_ROOT");
  snprintf(root, sizeof root, "%s/templates", env && env[0] ? env : KG_SOURCE_ROOT);
  return kg_path_under(rp, root);
}

kg_status kg_spec_resolve_template(kg_spec_loader *ld, const char *tmpl) {
  char dir[4096], cand[2][8192];
  int ncand = 0;
  snprintf(dir, sizeof dir, "%s", ld->path);
  char *slash = strrchr(dir, '/');
  if (slash) *slash = '\0';
  else snprintf(dir, sizeof dir, ".");
  if (tmpl[0] == '/') {
    snprintf(cand[ncand++], sizeof cand[0], "%s", tmpl);
  } else {
    snprintf(cand[ncand++], sizeof cand[0], "%s/%s", dir, tmpl);
    snprintf(cand[ncand++], sizeof cand[0], "%s/../templates/%s", dir, tmpl);
  }
  for (int i = 0; i < ncand; i++) {
    normalize_path(cand[i]);
    struct stat sb;
    if (stat(cand[i], &sb) != 0) continue;
    /* a folder, a device (/dev/zero reads forever) or a FIFO is no template */
    if (!S_ISREG(sb.st_mode))
      return kg_spec_fail(ld, ld->kline, KG_ESPEC, "template '%s' (%s) is not a regular file", tmpl, cand[i]);
    /* templates stay inside their tree: the spec's folder, its ../templates, kgen's templates */
    if (!kg_spec_template_allowed(ld->path, cand[i]))
      return kg_spec_fail(ld, ld->kline, KG_ESPEC,
                          "template '%s' (%s) lies outside the spec's folder and the templates folders: refused", tmpl,
                          cand[i]);
    if (!(ld->spec->template_path = kg_spec_strdup(cand[i]))) return kg_ctx_set(ld->ctx, KG_ENOMEM, "out of memory");
    return KG_OK;
  }
  return kg_spec_fail(ld, ld->kline, KG_ETEMPLATE, "template '%s' not found (looked for %s%s%s)", tmpl, cand[0],
                      ncand > 1 ? " and " : "", ncand > 1 ? cand[1] : "");
}
