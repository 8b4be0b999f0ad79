/* kg_spec.c - load a Lua kernel spec in the sandbox, validate it, copy it into C structs. */
#include "kg_spec.h"

#include <ctype.h>
#include <string.h>
#include <xxhash.h>

#include "kg_file.h"
#include "kg_spec_internal.h"

/* ---------- small helpers ---------- */

char *kg_spec_strdup(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d) memcpy(d, s, n);
  return d;
}

kg_status kg_spec_fail(kg_spec_loader *ld, int line, kg_status st, const char *fmt, ...) {
  char msg[4096];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (line > 0) return kg_ctx_set(ld->ctx, st, "%s:%d: %s", ld->path, line, msg);
  return kg_ctx_set(ld->ctx, st, "%s: %s", ld->path, msg);
}

kg_status kg_spec_fail_lua(kg_spec_loader *ld, int st) {
  char msg[4096];
  kg_lua_errmsg(&ld->kl, st, msg, sizeof msg);
  return kg_ctx_set(ld->ctx, KG_ESPEC, "%s", msg);
}

bool kg_spec_is_ident(const char *s) {
  if (!s || !(isalpha((unsigned char)*s) || *s == '_')) return false;
  for (s++; *s; s++)
    if (!(isalnum((unsigned char)*s) || *s == '_')) return false;
  return true;
}

/* String values become macro suffixes (COPY_nt): letters, digits and '_'. */
bool kg_spec_is_suffix(const char *s) {
  if (!*s) return false;
  for (; *s; s++)
    if (!(isalnum((unsigned char)*s) || *s == '_')) return false;
  return true;
}

/* Problem names become file names: letters, digits, '_', '-', '.' (not leading). */
bool kg_spec_is_name(const char *s) {
  if (!s || !(isalnum((unsigned char)*s) || *s == '_')) return false;
  for (; *s; s++)
    if (!(isalnum((unsigned char)*s) || *s == '_' || *s == '-' || *s == '.')) return false;
  return true;
}

static size_t levenshtein(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  if (la > 63 || lb > 63) return 64;
  size_t d[64][64];
  for (size_t i = 0; i <= la; i++) d[i][0] = i;
  for (size_t j = 0; j <= lb; j++) d[0][j] = j;
  for (size_t i = 1; i <= la; i++)
    for (size_t j = 1; j <= lb; j++) {
      size_t c = d[i - 1][j - 1] + (tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]));
      if (d[i - 1][j] + 1 < c) c = d[i - 1][j] + 1;
      if (d[i][j - 1] + 1 < c) c = d[i][j - 1] + 1;
      d[i][j] = c;
    }
  return d[la][lb];
}

/* " (did you mean 'params'?)" when a known name is close, else "" (known: NULL-terminated). */
const char *kg_spec_suggest(const char *name, const char *const *known, char *buf, size_t cap) {
  size_t best = (size_t)-1;
  const char *pick = NULL;
  for (int i = 0; known[i]; i++) {
    size_t d = levenshtein(name, known[i]);
    if (d < best) best = d, pick = known[i];
  }
  size_t allowed = strlen(name) / 3 + 1;
  if (allowed < 2) allowed = 2;
  if (pick && best <= allowed) snprintf(buf, cap, " (did you mean '%s'?)", pick);
  else buf[0] = '\0';
  return buf;
}

/* "name1, name2, ..." of a NULL-terminated list */
const char *kg_spec_join(const char *const *known, char *buf, size_t cap) {
  size_t n = 0;
  buf[0] = '\0';
  for (int i = 0; known[i] && n < cap; i++) n += (size_t)snprintf(buf + n, cap - n, "%s%s", i ? ", " : "", known[i]);
  return buf;
}

/* Is the value at idx a table with the metatable registered as tname? */
bool kg_spec_is_obj(lua_State *L, int idx, const char *tname) {
  if (lua_type(L, idx) != LUA_TTABLE || !lua_getmetatable(L, idx)) return false;
  luaL_getmetatable(L, tname);
  bool eq = lua_rawequal(L, -1, -2);
  lua_pop(L, 2);
  return eq;
}

/* A description of the value at idx for type errors: "boolean", "number 1.5", "string 'x'". */
const char *kg_spec_describe(lua_State *L, int idx, char *buf, size_t cap) {
  switch (lua_type(L, idx)) {
  case LUA_TNUMBER:
    if (lua_isinteger(L, idx)) snprintf(buf, cap, "integer %lld", (long long)lua_tointeger(L, idx));
    else snprintf(buf, cap, "number %.17g", lua_tonumber(L, idx));
    break;
  case LUA_TSTRING: snprintf(buf, cap, "string '%s'", lua_tostring(L, idx)); break;
  default: snprintf(buf, cap, "%s", luaL_typename(L, idx)); break;
  }
  return buf;
}

/* An integer, or a float with an integral value. */
bool kg_spec_get_int(lua_State *L, int idx, int64_t *v) {
  if (lua_type(L, idx) != LUA_TNUMBER) return false;
  int ok = 0;
  lua_Integer i = lua_tointegerx(L, idx, &ok);
  if (!ok) return false;
  *v = (int64_t)i;
  return true;
}

/* Number of keys of the table at idx (to detect non-sequence keys). */
size_t kg_spec_count_keys(lua_State *L, int idx) {
  size_t n = 0;
  idx = lua_absindex(L, idx);
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    n++;
    lua_pop(L, 1);
  }
  return n;
}

/* ---------- field checks (the kernel's def table is at index `def`) ---------- */

static const char *const kernel_fields[] = {
    "description", "template",  "params", "constraints",      "problems", "metrics", "tolerance",
    "reference",   "baselines", "seed",   "baseline_threads", "roles",    "verify",  "verify_reason",
    "fusion",      "bound",     "cold",   "sample",           NULL};

/* Report the unknown string key (the smallest, for a deterministic message) of table t. */
kg_status kg_spec_check_keys(kg_spec_loader *ld, int t, const char *const *known, const char *where, int line) {
  lua_State *L = ld->kl.L;
  char bad[256] = "", d[128];
  bool nonstring = false;
  t = lua_absindex(L, t);
  lua_pushnil(L);
  while (lua_next(L, t)) {
    lua_pop(L, 1);
    if (lua_type(L, -1) != LUA_TSTRING) {
      nonstring = true;
      kg_spec_describe(L, -1, d, sizeof d);
      continue;
    }
    const char *k = lua_tostring(L, -1);
    bool ok = false;
    for (int i = 0; known[i] && !ok; i++) ok = strcmp(k, known[i]) == 0;
    if (!ok && (!bad[0] || strcmp(k, bad) < 0)) snprintf(bad, sizeof bad, "%s", k);
  }
  char sug[128], all[512];
  if (bad[0])
    return kg_spec_fail(ld, line, KG_ESPEC, "unknown field '%s' in %s%s (known fields: %s)", bad, where,
                        kg_spec_suggest(bad, known, sug, sizeof sug), kg_spec_join(known, all, sizeof all));
  if (nonstring)
    return kg_spec_fail(ld, line, KG_ESPEC, "%s: unexpected entry with key %s (fields are named)", where, d);
  return KG_OK;
}

/* Optional string field; *out is a malloc'd copy (dflt when absent). */
kg_status kg_spec_get_string(kg_spec_loader *ld, int def, const char *field, const char *dflt, char **out) {
  lua_State *L = ld->kl.L;
  char d[128];
  lua_getfield(L, def, field);
  kg_status st = KG_OK;
  if (lua_isnil(L, -1) && dflt) *out = kg_spec_strdup(dflt);
  else if (lua_isnil(L, -1)) st = kg_spec_fail(ld, ld->kline, KG_ESPEC, "missing field '%s' in kernel", field);
  else if (lua_type(L, -1) != LUA_TSTRING)
    st = kg_spec_fail(ld, ld->kline, KG_ESPEC, "%s: expected a string, got %s", field,
                      kg_spec_describe(L, -1, d, sizeof d));
  else *out = kg_spec_strdup(lua_tostring(L, -1));
  if (st == KG_OK && !*out) st = kg_ctx_set(ld->ctx, KG_ENOMEM, "out of memory");
  lua_pop(L, 1);
  return st;
}

static kg_status load(kg_spec_loader *ld, const char *src, size_t len) {
  lua_State *L = ld->kl.L;
  kg_spec *s = ld->spec;
  char d[128];
  kg_status st;
  lua_pushcfunction(L, kg_spec_install_dsl);
  int rc = kg_lua_pcall(&ld->kl, 0, 0);
  if (rc != LUA_OK) return kg_spec_fail_lua(ld, rc);
  lua_pushcfunction(L, kg_spec_install_machine);
  lua_pushlightuserdata(L, &ld->machine);
  rc = kg_lua_pcall(&ld->kl, 1, 0);
  if (rc != LUA_OK) return kg_spec_fail_lua(ld, rc);
  if ((st = kg_spec_load_prelude(ld))) return st;
  rc = kg_lua_load(&ld->kl, src, len, ld->path);
  if (rc == LUA_OK) rc = kg_lua_pcall(&ld->kl, 0, 1);
  if (rc != LUA_OK) return kg_spec_fail_lua(ld, rc);
  int k = lua_gettop(L);
  if (!kg_spec_is_obj(L, k, MT_KERNEL))
    return kg_spec_fail(ld, ld->nlines, KG_ESPEC,
                        "the spec must return a kernel (return kernel \"name\" { ... }), got %s",
                        kg_spec_is_obj(L, k, MT_PROBLEM) ? "a problem" : kg_spec_describe(L, k, d, sizeof d));
  lua_getfield(L, k, "line");
  ld->kline = (int)lua_tointeger(L, -1);
  lua_getfield(L, k, "name");
  if (!kg_spec_is_name(lua_tostring(L, -1)) || strchr(lua_tostring(L, -1), '.'))
    return kg_spec_fail(ld, ld->kline, KG_ESPEC, "kernel '%s': names are letters, digits, '_' and '-'",
                        lua_tostring(L, -1));
  if (!(s->name = kg_spec_strdup(lua_tostring(L, -1)))) return kg_ctx_set(ld->ctx, KG_ENOMEM, "out of memory");
  lua_getfield(L, k, "def");
  int def = lua_gettop(L);
  if ((st = kg_spec_check_keys(ld, def, kernel_fields, "kernel", ld->kline))) return st;
  char *tmpl = NULL;
  if ((st = kg_spec_get_string(ld, def, "description", "", &s->description))) return st;
  if ((st = kg_spec_get_string(ld, def, "reference", "", &s->reference))) return st;
  /* verify = false opts out of verification, and only with a reason (every report says so) */
  lua_getfield(L, def, "verify");
  int vt = lua_type(L, -1);
  if (vt != LUA_TNIL && vt != LUA_TBOOLEAN)
    return kg_spec_fail(ld, ld->kline, KG_ESPEC, "verify: expected true or false, got %s", lua_typename(L, vt));
  s->verify_off = vt == LUA_TBOOLEAN && !lua_toboolean(L, -1);
  lua_pop(L, 1);
  if ((st = kg_spec_get_string(ld, def, "verify_reason", "", &s->verify_reason))) return st;
  if (s->verify_off && !s->verify_reason[0])
    return kg_spec_fail(ld, ld->kline, KG_ESPEC,
                        "verify = false needs verify_reason = \"why the results cannot be checked\" (reports then "
                        "mark every result unverified)");
  if ((st = kg_spec_read_params(ld, def))) return st;
  if ((st = kg_spec_read_constraints(ld, def))) return st;
  if ((st = kg_spec_read_problems(ld, def))) return st;
  if ((st = kg_spec_read_metrics(ld, def))) return st;
  if ((st = kg_spec_read_roofline(ld, def))) return st;
  if ((st = kg_spec_read_misc(ld, def))) return st;
  if ((st = kg_spec_read_roles(ld, def))) return st;
  if ((st = kg_spec_read_fusion(ld, def))) return st;
  if ((st = kg_spec_get_string(ld, def, "template", NULL, &tmpl))) return st;
  st = kg_spec_resolve_template(ld, tmpl);
  free(tmpl);
  return st;
}

kg_status kg_spec_load(const char *path, kg_spec **out, kg_ctx *ctx) { return kg_spec_load_ex(path, NULL, out, ctx); }

kg_status kg_spec_load_as(const char *path, const json_t *machine, kg_spec **out, kg_ctx *ctx) {
  *out = NULL;
  kg_machine m;
  kg_status st = kg_machine_detect(&m, ctx);
  if (!st && machine) st = kg_machine_from_json(machine, &m, ctx);
  kg_spec_load_opts lo = {&m};
  return st ? st : kg_spec_load_ex(path, &lo, out, ctx);
}

kg_status kg_spec_load_ex(const char *path, const kg_spec_load_opts *opts, kg_spec **out, kg_ctx *ctx) {
  *out = NULL;
  char *src = NULL;
  size_t len = 0;
  kg_status st = kg_file_read(path, &src, &len, ctx);
  if (st) return st;
  kg_spec_loader ld = {.path = path, .ctx = ctx, .nlines = 1};
  if ((st = kg_spec_machine(opts, &ld.machine, ctx))) {
    free(src);
    return st;
  }
  for (size_t i = 0; i + 1 < len; i++) ld.nlines += src[i] == '\n';
  ld.spec = calloc(1, sizeof *ld.spec);
  if (!ld.spec) {
    st = kg_ctx_set(ctx, KG_ENOMEM, "out of memory");
    goto fail;
  }
  if (!(ld.spec->path = kg_spec_strdup(path))) {
    st = kg_ctx_set(ctx, KG_ENOMEM, "out of memory");
    goto fail;
  }
  ld.spec->hash = XXH64(src, len, 0);
  if ((st = kg_lua_init(&ld.kl, "spec", ctx))) goto fail;
  st = load(&ld, src, len);
  kg_lua_fini(&ld.kl);
  if (st) goto fail;
  free(src);
  free(ld.cur);
  *out = ld.spec;
  return KG_OK;
fail:
  kg_lua_fini(&ld.kl);
  free(src);
  free(ld.cur);
  kg_spec_free(ld.spec);
  return st;
}

void kg_spec_free(kg_spec *spec) {
  if (!spec) return;
  for (int i = 0; i < spec->nparams; i++) {
    kg_param *p = &spec->params[i];
    free(p->name);
    free(p->macro);
    free(p->ivalues);
    if (p->svalues)
      for (int j = 0; j < p->nvalues; j++) free(p->svalues[j]);
    free(p->svalues);
  }
  free(spec->params);
  for (int i = 0; i < spec->nproblems; i++) {
    kg_spec_problem *pr = &spec->problems[i];
    free(pr->name);
    if (pr->dim_names)
      for (int k = 0; k < pr->ndims; k++) free(pr->dim_names[k]);
    free(pr->dim_names);
    free(pr->dims);
    free(pr->pattern);
  }
  free(spec->problems);
  for (int i = 0; i < spec->nbaselines; i++) free(spec->baselines[i]);
  free(spec->baselines);
  free(spec->baseline_threads);
  for (int i = 0; i < spec->nroles; i++) {
    free(spec->roles[i]);
    free(spec->role_names[i]);
  }
  free(spec->roles);
  free(spec->role_names);
  free(spec->points);
  free(spec->path);
  free(spec->name);
  free(spec->description);
  free(spec->template_path);
  free(spec->reference);
  free(spec->verify_reason);
  free(spec->fusion_unfused);
  free(spec);
}

/* ---------- queries on a loaded spec ---------- */

int kg_spec_param_index(const kg_spec *spec, const char *name) {
  for (int i = 0; i < spec->nparams; i++)
    if (strcmp(spec->params[i].name, name) == 0) return i;
  return -1;
}

const char *kg_spec_role(const kg_spec *spec, const char *role) {
  for (int i = 0; i < spec->nroles; i++)
    if (strcmp(spec->roles[i], role) == 0) return spec->role_names[i];
  return NULL;
}

int kg_spec_role_param(const kg_spec *spec, const char *role) {
  const char *name = kg_spec_role(spec, role);
  return name ? kg_spec_param_index(spec, name) : -1;
}

int kg_spec_problem_index(const kg_spec *spec, const char *name) {
  for (int i = 0; i < spec->nproblems; i++)
    if (strcmp(spec->problems[i].name, name) == 0) return i;
  return -1;
}

long kg_spec_point_index(const kg_spec *spec, const int32_t *point) {
  size_t np = (size_t)spec->nparams, lo = 0, hi = spec->npoints;
  for (int i = 0; i < spec->nparams; i++)
    if (point[i] < 0 || point[i] >= spec->params[i].nvalues) return -1;
  if (np == 0) return spec->npoints ? 0 : -1;
  while (lo < hi) { /* points are sorted lexicographically */
    size_t mid = lo + (hi - lo) / 2;
    int c = 0;
    for (size_t i = 0; i < np && c == 0; i++) {
      int32_t a = spec->points[mid * np + i];
      c = a < point[i] ? -1 : a > point[i];
    }
    if (c == 0) return (long)mid;
    if (c < 0) lo = mid + 1;
    else hi = mid;
  }
  return -1;
}
