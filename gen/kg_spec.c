/* kg_spec.c - load a Lua kernel spec in the sandbox, validate it, copy it into C structs. */
#include "kg_spec.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <dirent.h>
#include <pthread.h>
#include <sys/stat.h>
#include <xxhash.h>

#include "kg_abi.h"
#include "kg_lua.h"

#define MT_KERNEL "kg.kernel"
#define MT_PROBLEM "kg.problem"
#define MT_VALUES "kg.values"
#define KG_SPEC_MAX_VALUES 65536
#define KG_SPEC_MAX_PARAMS 64

typedef struct loader {
  kg_lua kl;
  const char *path;
  kg_spec *spec;
  kg_ctx *ctx;
  int kline;          /* line of `kernel "name"` */
  int nlines;         /* lines in the file */
  char errbuf[4096];  /* a message built in C while Lua runs */
  /* constraint evaluation state */
  int32_t *cur;
  int cur_constraint;
  size_t cap_points;
  kg_machine machine; /* what the spec's `machine` table describes */
} loader;

/* ---------- small helpers ---------- */

static kg_status read_file(const char *path, char **buf, size_t *len, kg_ctx *ctx);

static char *xstrdup(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d) memcpy(d, s, n);
  return d;
}

static kg_status fail(loader *ld, int line, kg_status st, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static kg_status fail(loader *ld, int line, kg_status st, const char *fmt, ...) {
  char msg[4096];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (line > 0) return kg_ctx_set(ld->ctx, st, "%s:%d: %s", ld->path, line, msg);
  return kg_ctx_set(ld->ctx, st, "%s: %s", ld->path, msg);
}

static kg_status fail_lua(loader *ld, int st) {
  char msg[4096];
  kg_lua_errmsg(&ld->kl, st, msg, sizeof msg);
  return kg_ctx_set(ld->ctx, KG_ESPEC, "%s", msg);
}

static bool is_ident(const char *s) {
  if (!s || !(isalpha((unsigned char)*s) || *s == '_')) return false;
  for (s++; *s; s++)
    if (!(isalnum((unsigned char)*s) || *s == '_')) return false;
  return true;
}

/* String values become macro suffixes (COPY_nt): letters, digits and '_'. */
static bool is_suffix(const char *s) {
  if (!*s) return false;
  for (; *s; s++)
    if (!(isalnum((unsigned char)*s) || *s == '_')) return false;
  return true;
}

/* Problem names become file names: letters, digits, '_', '-', '.' (not leading). */
static bool is_name(const char *s) {
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
static const char *suggest(const char *name, const char *const *known, char *buf, size_t cap) {
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
static const char *join(const char *const *known, char *buf, size_t cap) {
  size_t n = 0;
  buf[0] = '\0';
  for (int i = 0; known[i] && n < cap; i++)
    n += (size_t)snprintf(buf + n, cap - n, "%s%s", i ? ", " : "", known[i]);
  return buf;
}

/* Is the value at idx a table with the metatable registered as tname? */
static bool is_obj(lua_State *L, int idx, const char *tname) {
  if (lua_type(L, idx) != LUA_TTABLE || !lua_getmetatable(L, idx)) return false;
  luaL_getmetatable(L, tname);
  bool eq = lua_rawequal(L, -1, -2);
  lua_pop(L, 2);
  return eq;
}

/* A description of the value at idx for type errors: "boolean", "number 1.5", "string 'x'". */
static const char *describe(lua_State *L, int idx, char *buf, size_t cap) {
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
static bool get_int(lua_State *L, int idx, int64_t *v) {
  if (lua_type(L, idx) != LUA_TNUMBER) return false;
  int ok = 0;
  lua_Integer i = lua_tointegerx(L, idx, &ok);
  if (!ok) return false;
  *v = (int64_t)i;
  return true;
}

/* Number of keys of the table at idx (to detect non-sequence keys). */
static size_t count_keys(lua_State *L, int idx) {
  size_t n = 0;
  idx = lua_absindex(L, idx);
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    n++;
    lua_pop(L, 1);
  }
  return n;
}

/* ---------- DSL constructors (run inside the chunk) ---------- */

/* obj = setmetatable({line = caller line, ...}, tname); leaves obj on the stack */
static void new_obj(lua_State *L, const char *tname, int line) {
  lua_newtable(L);
  lua_pushinteger(L, line);
  lua_setfield(L, -2, "line");
  luaL_setmetatable(L, tname);
}

static int l_named_body(lua_State *L) {
  const char *kind = lua_tostring(L, lua_upvalueindex(3));
  if (lua_type(L, 1) != LUA_TTABLE)
    return luaL_error(L, "%s \"%s\": expected a table { ... } after the name, got %s", kind,
                      lua_tostring(L, lua_upvalueindex(1)), luaL_typename(L, 1));
  new_obj(L, strcmp(kind, "kernel") == 0 ? MT_KERNEL : MT_PROBLEM,
          (int)lua_tointeger(L, lua_upvalueindex(2)));
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_setfield(L, -2, "name");
  lua_pushvalue(L, 1);
  lua_setfield(L, -2, "def");
  return 1;
}

/* kernel "name" / problem "name": returns a function taking the body table */
static int l_named(lua_State *L) {
  const char *kind = lua_tostring(L, lua_upvalueindex(1));
  if (lua_type(L, 1) != LUA_TSTRING)
    return luaL_error(L, "%s: expected a name string (%s \"name\" { ... }), got %s", kind, kind,
                      luaL_typename(L, 1));
  lua_pushvalue(L, 1);
  lua_pushinteger(L, kg_lua_caller_line(L));
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_pushcclosure(L, l_named_body, 3);
  return 1;
}

static lua_Integer check_int_arg(lua_State *L, int i, const char *fn) {
  int64_t v;
  if (!get_int(L, i, &v)) {
    char d[128];
    return luaL_error(L, "%s: argument %d must be an integer, got %s", fn, i, describe(L, i, d, sizeof d));
  }
  return (lua_Integer)v;
}

static void values_obj(lua_State *L, const char *ctor, int line) {
  new_obj(L, MT_VALUES, line);
  lua_pushstring(L, ctor);
  lua_setfield(L, -2, "ctor");
}

/* pow2(lo, hi): the powers of two from lo to hi, both powers of two */
static int l_pow2(lua_State *L) {
  lua_Integer lo = check_int_arg(L, 1, "pow2"), hi = check_int_arg(L, 2, "pow2");
  if (lo < 1 || (lo & (lo - 1)) || hi < 1 || (hi & (hi - 1)))
    return luaL_error(L, "pow2: bounds must be powers of two, got %d and %d", (int)lo, (int)hi);
  if (lo > hi) return luaL_error(L, "pow2: lower bound %I exceeds upper bound %I", lo, hi);
  values_obj(L, "pow2", kg_lua_caller_line(L));
  lua_newtable(L);
  int i = 1;
  for (lua_Integer v = lo; v <= hi && v > 0; v *= 2) {
    lua_pushinteger(L, v);
    lua_rawseti(L, -2, i++);
    if (v > LUA_MAXINTEGER / 2) break;
  }
  lua_setfield(L, -2, "list");
  return 1;
}

/* range(lo, hi [, step]): lo, lo+step, ... <= hi */
static int l_range(lua_State *L) {
  lua_Integer lo = check_int_arg(L, 1, "range"), hi = check_int_arg(L, 2, "range");
  lua_Integer step = lua_isnoneornil(L, 3) ? 1 : check_int_arg(L, 3, "range");
  if (step < 1) return luaL_error(L, "range: step must be >= 1, got %I", step);
  if (lo > hi) return luaL_error(L, "range: lower bound %I exceeds upper bound %I", lo, hi);
  if ((hi - lo) / step >= KG_SPEC_MAX_VALUES)
    return luaL_error(L, "range: more than %d values", KG_SPEC_MAX_VALUES);
  values_obj(L, "range", kg_lua_caller_line(L));
  lua_newtable(L);
  int i = 1;
  for (lua_Integer v = lo; v <= hi; v += step) {
    lua_pushinteger(L, v);
    lua_rawseti(L, -2, i++);
    if (hi - v < step) break;
  }
  lua_setfield(L, -2, "list");
  return 1;
}

/* values {...} / enum {...}: the list as written; checked by the loader */
static int l_list(lua_State *L) {
  const char *ctor = lua_tostring(L, lua_upvalueindex(1));
  if (lua_type(L, 1) != LUA_TTABLE)
    return luaL_error(L, "%s: expected a list { ... }, got %s", ctor, luaL_typename(L, 1));
  values_obj(L, ctor, kg_lua_caller_line(L));
  lua_pushvalue(L, 1);
  lua_setfield(L, -2, "list");
  return 1;
}

static int l_install(lua_State *L) {
  luaL_newmetatable(L, MT_KERNEL);
  luaL_newmetatable(L, MT_PROBLEM);
  luaL_newmetatable(L, MT_VALUES);
  lua_pop(L, 3);
  lua_pushstring(L, "kernel");
  lua_pushcclosure(L, l_named, 1);
  lua_setglobal(L, "kernel");
  lua_pushstring(L, "problem");
  lua_pushcclosure(L, l_named, 1);
  lua_setglobal(L, "problem");
  lua_pushcfunction(L, l_pow2);
  lua_setglobal(L, "pow2");
  lua_pushcfunction(L, l_range);
  lua_setglobal(L, "range");
  lua_pushstring(L, "values");
  lua_pushcclosure(L, l_list, 1);
  lua_setglobal(L, "values");
  lua_pushstring(L, "enum");
  lua_pushcclosure(L, l_list, 1);
  lua_setglobal(L, "enum");
  return 0;
}

/* ---------- the prelude: the read-only `machine` table and the Lua files of specs/lib ---------- */

/* __newindex of the machine tables and of _G's `machine`: always an error at the spec's line. */
static int l_machine_readonly(lua_State *L) {
  return luaL_error(L, "'machine' is read-only (it describes the machine kgen runs on; "
                       "KGEN_MACHINE_OVERRIDE=file.json describes another)");
}

/* _G's __newindex: assigning `machine` is an error, any other new global is set as usual. */
static int l_global_newindex(lua_State *L) {
  if (lua_type(L, 2) == LUA_TSTRING && strcmp(lua_tostring(L, 2), "machine") == 0) return l_machine_readonly(L);
  lua_rawset(L, 1);
  return 0;
}

/* __pairs of a read-only proxy: iterate the table behind it. */
static int l_proxy_pairs(lua_State *L) {
  lua_getglobal(L, "next");
  lua_getmetatable(L, 1);
  lua_getfield(L, -1, "__index");
  lua_remove(L, -2);
  lua_pushnil(L);
  return 3;
}

/* Replace the table at the top of the stack by a read-only proxy of it. */
static void push_readonly(lua_State *L) {
  lua_newtable(L);           /* proxy */
  lua_newtable(L);           /* its metatable */
  lua_pushvalue(L, -3);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, l_machine_readonly);
  lua_setfield(L, -2, "__newindex");
  lua_pushcfunction(L, l_proxy_pairs);
  lua_setfield(L, -2, "__pairs");
  lua_pushboolean(L, 0);
  lua_setfield(L, -2, "__metatable");
  lua_setmetatable(L, -2);
  lua_remove(L, -2);
}

/* Install `machine` (light userdata argument: the kg_machine) as a read-only global. */
static int l_install_machine(lua_State *L) {
  const kg_machine *m = lua_touserdata(L, 1);
  lua_newtable(L);
  lua_pushstring(L, m->id);
  lua_setfield(L, -2, "id");
  lua_pushinteger(L, m->cores > 0 ? m->cores : 1);
  lua_setfield(L, -2, "cores");
  lua_pushinteger(L, (lua_Integer)m->l1d);
  lua_setfield(L, -2, "l1d");
  lua_pushinteger(L, (lua_Integer)m->l2);
  lua_setfield(L, -2, "l2");
  lua_pushinteger(L, (lua_Integer)m->l3);
  lua_setfield(L, -2, "l3");
  lua_newtable(L);
  for (int i = 0; i < m->nisa; i++) {
    lua_pushboolean(L, 1);
    lua_setfield(L, -2, m->isa[i]);
  }
  push_readonly(L);
  lua_setfield(L, -2, "isa");
  push_readonly(L);
  /* _G's metatable: __index serves `machine`, __newindex refuses to replace it */
  lua_pushglobaltable(L);
  lua_newtable(L);
  lua_newtable(L);
  lua_pushvalue(L, -4);
  lua_setfield(L, -2, "machine");
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, l_global_newindex);
  lua_setfield(L, -2, "__newindex");
  lua_setmetatable(L, -2);
  return 0;
}

/* kg.caller_line(level): the line of the function `level` frames up (0: this C function). */
static int l_caller_line(lua_State *L) {
  lua_Debug ar;
  int level = (int)luaL_checkinteger(L, 1);
  if (lua_getstack(L, level, &ar) && lua_getinfo(L, "l", &ar) && ar.currentline > 0)
    lua_pushinteger(L, ar.currentline);
  else
    lua_pushinteger(L, 0);
  return 1;
}

static int str_cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The prelude library folder: lib/ beside the spec, else $KGEN_ROOT/specs/lib, else the source
 * tree's specs/lib. */
static void prelude_dir(const char *spec_path, char *buf, size_t cap) {
  char dir[4096];
  snprintf(dir, sizeof dir, "%s", spec_path);
  char *slash = strrchr(dir, '/');
  if (slash) *slash = '\0';
  else snprintf(dir, sizeof dir, ".");
  struct stat sb;
  if (snprintf(buf, cap, "%s/lib/shapes.lua", dir) < (int)cap && stat(buf, &sb) == 0 &&
      snprintf(buf, cap, "%s/lib", dir) < (int)cap)
    return;
  const char *root = getenv("KGEN_ROOT");
  snprintf(buf, cap, "%s/specs/lib", root && root[0] ? root : KG_SOURCE_ROOT);
}

/* Run every *.lua of the prelude folder, in name order, each with the private helpers table. */
static kg_status load_prelude(loader *ld) {
  lua_State *L = ld->kl.L;
  char dir[4096];
  prelude_dir(ld->path, dir, sizeof dir);
  DIR *dp = opendir(dir);
  if (!dp) return kg_ctx_set(ld->ctx, KG_EIO, "%s: cannot open the spec prelude: %s", dir, strerror(errno));
  char *names[64];
  int n = 0;
  for (struct dirent *e; (e = readdir(dp)) && n < 64;) {
    size_t len = strlen(e->d_name);
    if (len > 4 && strcmp(e->d_name + len - 4, ".lua") == 0 && e->d_name[0] != '.' && !(names[n++] = xstrdup(e->d_name))) {
      n--;
      break;
    }
  }
  closedir(dp);
  qsort(names, (size_t)n, sizeof *names, str_cmp);
  kg_status st = KG_OK;
  for (int i = 0; i < n && st == KG_OK; i++) {
    char path[8192], *src = NULL;
    size_t len = 0;
    snprintf(path, sizeof path, "%s/%s", dir, names[i]);
    if ((st = read_file(path, &src, &len, ld->ctx))) break;
    int rc = kg_lua_load(&ld->kl, src, len, path);
    free(src);
    if (rc == LUA_OK) {
      lua_newtable(L);
      lua_pushcfunction(L, l_caller_line);
      lua_setfield(L, -2, "caller_line");
      rc = kg_lua_pcall(&ld->kl, 1, 0);
    }
    if (rc != LUA_OK) {
      char msg[4096];
      st = kg_ctx_set(ld->ctx, KG_ESPEC, "%s (spec prelude)", kg_lua_errmsg(&ld->kl, rc, msg, sizeof msg));
    }
  }
  for (int i = 0; i < n; i++) free(names[i]);
  return st;
}

static pthread_once_t machine_once = PTHREAD_ONCE_INIT;
static kg_machine machine_here;

static void detect_machine_here(void) {
  kg_ctx c = {0};
  if (kg_machine_detect(&machine_here, &c) != KG_OK) {
    memset(&machine_here, 0, sizeof machine_here);
    snprintf(machine_here.id, sizeof machine_here.id, "unknown");
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    machine_here.cores = n > 0 ? (int)n : 1;
  }
}

kg_status kg_spec_machine(const kg_spec_load_opts *opts, kg_machine *m, kg_ctx *ctx) {
  if (opts && opts->machine) {
    *m = *opts->machine;
    return KG_OK;
  }
  const char *ov = getenv("KGEN_MACHINE_OVERRIDE");
  if (ov && ov[0]) return kg_machine_load(ov, m, ctx);
  pthread_once(&machine_once, detect_machine_here);
  *m = machine_here;
  return KG_OK;
}

/* ---------- field checks (the kernel's def table is at index `def`) ---------- */

static const char *const kernel_fields[] = {"description", "template",  "params",   "constraints",
                                            "problems",    "metrics",   "tolerance", "reference",
                                            "baselines",   "seed",      "baseline_threads", "roles", NULL};

/* Report the unknown string key (the smallest, for a deterministic message) of table t. */
static kg_status check_keys(loader *ld, int t, const char *const *known, const char *where, int line) {
  lua_State *L = ld->kl.L;
  char bad[256] = "", d[128];
  bool nonstring = false;
  t = lua_absindex(L, t);
  lua_pushnil(L);
  while (lua_next(L, t)) {
    lua_pop(L, 1);
    if (lua_type(L, -1) != LUA_TSTRING) {
      nonstring = true;
      describe(L, -1, d, sizeof d);
      continue;
    }
    const char *k = lua_tostring(L, -1);
    bool ok = false;
    for (int i = 0; known[i] && !ok; i++) ok = strcmp(k, known[i]) == 0;
    if (!ok && (!bad[0] || strcmp(k, bad) < 0)) snprintf(bad, sizeof bad, "%s", k);
  }
  char sug[128], all[512];
  if (bad[0])
    return fail(ld, line, KG_ESPEC, "unknown field '%s' in %s%s (known fields: %s)", bad, where,
                suggest(bad, known, sug, sizeof sug), join(known, all, sizeof all));
  if (nonstring) return fail(ld, line, KG_ESPEC, "%s: unexpected entry with key %s (fields are named)", where, d);
  return KG_OK;
}

/* Optional string field; *out is a malloc'd copy (dflt when absent). */
static kg_status get_string(loader *ld, int def, const char *field, const char *dflt, char **out) {
  lua_State *L = ld->kl.L;
  char d[128];
  lua_getfield(L, def, field);
  kg_status st = KG_OK;
  if (lua_isnil(L, -1) && dflt) *out = xstrdup(dflt);
  else if (lua_isnil(L, -1)) st = fail(ld, ld->kline, KG_ESPEC, "missing field '%s' in kernel", field);
  else if (lua_type(L, -1) != LUA_TSTRING)
    st = fail(ld, ld->kline, KG_ESPEC, "%s: expected a string, got %s", field, describe(L, -1, d, sizeof d));
  else *out = xstrdup(lua_tostring(L, -1));
  if (st == KG_OK && !*out) st = kg_ctx_set(ld->ctx, KG_ENOMEM, "out of memory");
  lua_pop(L, 1);
  return st;
}

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
static kg_status read_values(loader *ld, kg_param *p, bool strings_only) {
  lua_State *L = ld->kl.L;
  char d[128];
  int t = lua_gettop(L);
  size_t n = lua_rawlen(L, t);
  if (count_keys(L, t) != n)
    return fail(ld, p->line, KG_ESPEC, "params.%s: expected a list of integers or strings, got a table with named keys", p->name);
  if (n == 0) return fail(ld, p->line, KG_ESPEC, "params.%s: empty value list", p->name);
  if (n > KG_SPEC_MAX_VALUES)
    return fail(ld, p->line, KG_ESPEC, "params.%s: more than %d values", p->name, KG_SPEC_MAX_VALUES);
  lua_rawgeti(L, t, 1);
  p->kind = lua_type(L, -1) == LUA_TSTRING ? KG_PARAM_STR : KG_PARAM_INT;
  lua_pop(L, 1);
  if (strings_only && p->kind != KG_PARAM_STR) {
    lua_rawgeti(L, t, 1);
    kg_status st = fail(ld, p->line, KG_ESPEC, "params.%s: enum expects strings, got %s", p->name, describe(L, -1, d, sizeof d));
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
      st = fail(ld, p->line, KG_ESPEC, "params.%s: expected a list of integers or strings, got %s (element %zu)",
                p->name, describe(L, -1, d, sizeof d), i + 1);
    else if (ty == LUA_TNUMBER && !get_int(L, -1, &v))
      st = fail(ld, p->line, KG_ESPEC, "params.%s: expected a list of integers or strings, got %s (element %zu)",
                p->name, describe(L, -1, d, sizeof d), i + 1);
    else if ((ty == LUA_TSTRING) != (p->kind == KG_PARAM_STR))
      st = fail(ld, p->line, KG_ESPEC, "params.%s: the list mixes integers and strings (element %zu is %s)",
                p->name, i + 1, describe(L, -1, d, sizeof d));
    else if (ty == LUA_TSTRING && !is_suffix(lua_tostring(L, -1)))
      st = fail(ld, p->line, KG_ESPEC, "params.%s: value '%s' cannot be part of a C macro name (letters, digits and '_' only)",
                p->name, lua_tostring(L, -1));
    if (st == KG_OK && p->kind == KG_PARAM_INT) {
      for (size_t j = 0; j < i && st == KG_OK; j++)
        if (p->ivalues[j] == v)
          st = fail(ld, p->line, KG_ESPEC, "params.%s: duplicate value %" PRId64, p->name, v);
      p->ivalues[i] = v;
    } else if (st == KG_OK) {
      const char *s = lua_tostring(L, -1);
      for (size_t j = 0; j < i && st == KG_OK; j++)
        if (strcmp(p->svalues[j], s) == 0)
          st = fail(ld, p->line, KG_ESPEC, "params.%s: duplicate value '%s'", p->name, s);
      if (st == KG_OK && !(p->svalues[i] = xstrdup(s))) st = kg_ctx_set(ld->ctx, KG_ENOMEM, "out of memory");
    }
    lua_pop(L, 1);
    p->nvalues = (int)i + 1;
    if (st) return st;
  }
  return KG_OK;
}

static kg_status read_params(loader *ld, int def) {
  lua_State *L = ld->kl.L;
  kg_spec *s = ld->spec;
  char d[128];
  lua_getfield(L, def, "params");
  int t = lua_gettop(L);
  if (lua_isnil(L, t)) { /* no tunables: a space of one point */
    lua_pop(L, 1);
    return KG_OK;
  }
  if (lua_type(L, t) != LUA_TTABLE || is_obj(L, t, MT_VALUES))
    return fail(ld, ld->kline, KG_ESPEC, "params: expected a table of name = values, got %s",
                is_obj(L, t, MT_VALUES) ? "a value list" : describe(L, t, d, sizeof d));
  size_t n = count_keys(L, t);
  if (n > KG_SPEC_MAX_PARAMS) return fail(ld, ld->kline, KG_ESPEC, "params: more than %d parameters", KG_SPEC_MAX_PARAMS);
  pdecl decl[KG_SPEC_MAX_PARAMS];
  int np = 0;
  lua_newtable(L); /* t+1: values, by position in decl */
  lua_pushnil(L);
  while (lua_next(L, t)) {
    if (lua_type(L, -2) != LUA_TSTRING || !is_ident(lua_tostring(L, -2))) {
      describe(L, -2, d, sizeof d);
      return fail(ld, ld->kline, KG_ESPEC, "params: parameter names must be C identifiers, got %s", d);
    }
    decl[np].name = lua_tostring(L, -2); /* the key stays alive in the params table */
    decl[np].line = ld->kline;
    if (is_obj(L, -1, MT_VALUES)) {
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
    p->name = xstrdup(decl[i].name);
    p->macro = xstrdup(decl[i].name);
    p->line = decl[i].line;
    if (!p->name || !p->macro) return kg_ctx_set(ld->ctx, KG_ENOMEM, "out of memory");
    for (char *c = p->macro; *c; c++) *c = (char)toupper((unsigned char)*c);
    for (int j = 0; j < i; j++)
      if (strcmp(s->params[j].macro, p->macro) == 0)
        return fail(ld, p->line, KG_ESPEC, "params.%s: its macro %s collides with params.%s", p->name, p->macro, s->params[j].name);
    lua_rawgeti(L, t + 1, decl[i].ref);
    bool strings_only = false;
    if (is_obj(L, -1, MT_VALUES)) {
      lua_getfield(L, -1, "ctor");
      strings_only = strcmp(lua_tostring(L, -1), "enum") == 0;
      lua_pop(L, 1);
      lua_getfield(L, -1, "list");
    } else if (lua_type(L, -1) != LUA_TTABLE || lua_getmetatable(L, -1)) {
      if (lua_type(L, -1) == LUA_TTABLE) lua_pop(L, 1);
      return fail(ld, p->line, KG_ESPEC, "params.%s: expected a list of integers or strings, got %s", p->name,
                  is_obj(L, -1, MT_PROBLEM) ? "a problem" : is_obj(L, -1, MT_KERNEL) ? "a kernel" : describe(L, -1, d, sizeof d));
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

static void format_point_lua(loader *ld, const int32_t *pt, char *buf, size_t cap) {
  kg_spec_format_point(ld->spec, pt, buf, cap);
}

static int l_p_unknown(lua_State *L) {
  loader *ld = lua_touserdata(L, lua_upvalueindex(1));
  char all[1024];
  size_t n = 0;
  all[0] = '\0';
  for (int i = 0; i < ld->spec->nparams && n < sizeof all; i++)
    n += (size_t)snprintf(all + n, sizeof all - n, "%s%s", i ? ", " : "", ld->spec->params[i].name);
  return luaL_error(L, "p.%s: no such parameter (parameters: %s)", luaL_tolstring(L, 2, NULL), all);
}

/* Protected: [1] loader, [2] constraints list.  Walks the cartesian product (last parameter
 * fastest) and keeps the points every constraint accepts. */
static int l_eval_space(lua_State *L) {
  loader *ld = lua_touserdata(L, 1);
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
        snprintf(ld->errbuf, sizeof ld->errbuf, "%s:%d: constraint %d returned %s at %s, expected a boolean (missing 'return'?)",
                 ld->path, ar.linedefined, c + 1, describe(L, -1, d, sizeof d), pt);
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

static kg_status read_constraints(loader *ld, int def) {
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
    return fail(ld, ld->kline, KG_ESPEC, "constraints: expected a list of functions, got %s", describe(L, t, d, sizeof d));
  }
  size_t n = lua_rawlen(L, t);
  if (count_keys(L, t) != n)
    return fail(ld, ld->kline, KG_ESPEC, "constraints: expected a list of functions, got a table with named keys");
  for (size_t i = 1; i <= n; i++) {
    lua_rawgeti(L, t, (lua_Integer)i);
    if (lua_type(L, -1) != LUA_TFUNCTION)
      return fail(ld, ld->kline, KG_ESPEC, "constraints[%zu]: expected a function, got %s", i, describe(L, -1, d, sizeof d));
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
    return fail(ld, ld->kline, KG_ESPEC, "params: the space has more than %d points before constraints",
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
    return fail(ld, ar.linedefined, KG_ESPEC, "constraint %d failed at %s: %s", ld->cur_constraint + 1, pt, msg);
  }
  if (s->npoints == 0)
    return fail(ld, ld->kline, KG_ESPEC, "constraints reject all %zu points of the space", s->nraw);
  lua_pop(L, 1);
  return KG_OK;
}

/* ---------- problems and metrics ---------- */

typedef struct dimkv {
  const char *name;
  int64_t v;
} dimkv;

static int dimkv_cmp(const void *a, const void *b) {
  return strcmp(((const dimkv *)a)->name, ((const dimkv *)b)->name);
}

/* The problem object at the top of the stack into problems[i]. */
static kg_status read_problem(loader *ld, kg_spec_problem *pr) {
  lua_State *L = ld->kl.L;
  char d[128];
  int o = lua_gettop(L);
  lua_getfield(L, o, "line");
  int line = (int)lua_tointeger(L, -1);
  lua_getfield(L, o, "name");
  const char *name = lua_tostring(L, -1);
  if (!is_name(name))
    return fail(ld, line, KG_ESPEC, "problem '%s': names are letters, digits, '_', '-' and '.'", name);
  for (kg_spec_problem *q = ld->spec->problems; q < pr; q++)
    if (strcmp(q->name, name) == 0) return fail(ld, line, KG_ESPEC, "problem '%s' is defined twice", name);
  if (!(pr->name = xstrdup(name))) return kg_ctx_set(ld->ctx, KG_ENOMEM, "out of memory");
  lua_getfield(L, o, "def");
  int t = lua_gettop(L);
  dimkv kv[KG_MAX_DIMS];
  int n = 0;
  lua_pushnil(L);
  while (lua_next(L, t)) {
    if (lua_type(L, -2) != LUA_TSTRING || !is_ident(lua_tostring(L, -2)))
      return fail(ld, line, KG_ESPEC, "problem '%s': dimension names must be identifiers, got %s", name, describe(L, -2, d, sizeof d));
    if (n == KG_MAX_DIMS) return fail(ld, line, KG_ESPEC, "problem '%s': more than %d dimensions", name, KG_MAX_DIMS);
    kv[n].name = lua_tostring(L, -2);
    if (!get_int(L, -1, &kv[n].v))
      return fail(ld, line, KG_ESPEC, "problem '%s': dimension '%s' must be an integer, got %s", name, kv[n].name,
                  describe(L, -1, d, sizeof d));
    n++;
    lua_pop(L, 1);
  }
  if (n == 0) return fail(ld, line, KG_ESPEC, "problem '%s' has no dimensions", name);
  qsort(kv, (size_t)n, sizeof *kv, dimkv_cmp);
  pr->dim_names = calloc((size_t)n, sizeof *pr->dim_names);
  pr->dims = calloc((size_t)n, sizeof *pr->dims);
  if (!pr->dim_names || !pr->dims) return kg_ctx_set(ld->ctx, KG_ENOMEM, "out of memory");
  pr->ndims = n;
  for (int i = 0; i < n; i++) {
    pr->dims[i] = kv[i].v;
    if (!(pr->dim_names[i] = xstrdup(kv[i].name))) return kg_ctx_set(ld->ctx, KG_ENOMEM, "out of memory");
  }
  pr->flops = pr->bytes = -1;
  lua_settop(L, o - 1);
  return KG_OK;
}

static kg_status read_problems(loader *ld, int def) {
  lua_State *L = ld->kl.L;
  kg_spec *s = ld->spec;
  char d[128];
  lua_getfield(L, def, "problems");
  int t = lua_gettop(L);
  if (lua_isnil(L, t)) return fail(ld, ld->kline, KG_ESPEC, "missing field 'problems' in kernel");
  if (lua_type(L, t) != LUA_TTABLE || lua_getmetatable(L, t))
    return fail(ld, ld->kline, KG_ESPEC, "problems: expected a list of problems, got %s",
                is_obj(L, t, MT_PROBLEM) ? "one problem (wrap it in { })" : describe(L, t, d, sizeof d));
  /* Flatten one level: an element may be a list of problems (what a generator returns). */
  lua_newtable(L);
  int flat = lua_gettop(L), nflat = 0;
  size_t n = lua_rawlen(L, t);
  if (count_keys(L, t) != n)
    return fail(ld, ld->kline, KG_ESPEC, "problems: expected a list of problems, got a table with named keys");
  for (size_t i = 1; i <= n; i++) {
    lua_rawgeti(L, t, (lua_Integer)i);
    if (is_obj(L, -1, MT_PROBLEM)) {
      lua_rawseti(L, flat, ++nflat);
      continue;
    }
    if (lua_type(L, -1) != LUA_TTABLE || lua_getmetatable(L, -1))
      return fail(ld, ld->kline, KG_ESPEC, "problems[%zu]: expected a problem \"name\" { dims } or a list of them, got %s",
                  i, describe(L, -1, d, sizeof d));
    size_t m = lua_rawlen(L, -1);
    for (size_t j = 1; j <= m; j++) {
      lua_rawgeti(L, -1, (lua_Integer)j);
      if (!is_obj(L, -1, MT_PROBLEM))
        return fail(ld, ld->kline, KG_ESPEC, "problems[%zu][%zu]: expected a problem \"name\" { dims }, got %s", i, j,
                    describe(L, -1, d, sizeof d));
      lua_rawseti(L, flat, ++nflat);
    }
    lua_pop(L, 1);
  }
  if (nflat == 0) return fail(ld, ld->kline, KG_ESPEC, "problems: empty list (a spec needs at least one problem)");
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

static kg_status read_metrics(loader *ld, int def) {
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
    return fail(ld, ld->kline, KG_ESPEC, "metrics: expected a table of functions, got %s", describe(L, t, d, sizeof d));
  kg_status st = check_keys(ld, t, metric_names, "metrics", ld->kline);
  if (st) return st;
  for (int m = 0; metric_names[m]; m++) {
    lua_getfield(L, t, metric_names[m]);
    int f = lua_gettop(L);
    if (lua_isnil(L, f)) {
      lua_pop(L, 1);
      continue;
    }
    if (lua_type(L, f) != LUA_TFUNCTION)
      return fail(ld, ld->kline, KG_ESPEC, "metrics.%s: expected a function of the dimensions, got %s", metric_names[m],
                  describe(L, f, d, sizeof d));
    lua_Debug ar;
    lua_pushvalue(L, f);
    lua_getinfo(L, ">S", &ar);
    for (int i = 0; i < s->nproblems; i++) {
      kg_spec_problem *pr = &s->problems[i];
      lua_pushvalue(L, f);
      lua_createtable(L, 0, pr->ndims);
      for (int k = 0; k < pr->ndims; k++) {
        lua_pushinteger(L, (lua_Integer)pr->dims[k]);
        lua_setfield(L, -2, pr->dim_names[k]);
      }
      int rc = kg_lua_pcall(&ld->kl, 1, 1);
      if (rc != LUA_OK) {
        char msg[4096];
        kg_lua_errmsg(&ld->kl, rc, msg, sizeof msg);
        return fail(ld, ar.linedefined, KG_ESPEC, "metrics.%s failed for problem '%s': %s", metric_names[m], pr->name, msg);
      }
      if (lua_type(L, -1) != LUA_TNUMBER)
        return fail(ld, ar.linedefined, KG_ESPEC, "metrics.%s returned %s for problem '%s', expected a number",
                    metric_names[m], describe(L, -1, d, sizeof d), pr->name);
      double v = lua_tonumber(L, -1);
      if (!(v >= 0) || isinf(v))
        return fail(ld, ar.linedefined, KG_ESPEC, "metrics.%s returned %g for problem '%s', expected a finite number >= 0",
                    metric_names[m], v, pr->name);
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

static kg_status read_misc(loader *ld, int def) {
  lua_State *L = ld->kl.L;
  kg_spec *s = ld->spec;
  char d[128];
  kg_status st;
  /* tolerance */
  lua_getfield(L, def, "tolerance");
  if (!lua_isnil(L, -1)) {
    int t = lua_gettop(L);
    if (lua_type(L, t) != LUA_TTABLE)
      return fail(ld, ld->kline, KG_ESPEC, "tolerance: expected a table { rtol = x, atol = y }, got %s", describe(L, t, d, sizeof d));
    if ((st = check_keys(ld, t, tolerance_fields, "tolerance", ld->kline))) return st;
    for (int i = 0; tolerance_fields[i]; i++) {
      lua_getfield(L, t, tolerance_fields[i]);
      double v = 0;
      if (!lua_isnil(L, -1)) {
        if (lua_type(L, -1) != LUA_TNUMBER)
          return fail(ld, ld->kline, KG_ESPEC, "tolerance.%s: expected a number >= 0, got %s", tolerance_fields[i], describe(L, -1, d, sizeof d));
        v = lua_tonumber(L, -1);
        if (!(v >= 0) || isinf(v))
          return fail(ld, ld->kline, KG_ESPEC, "tolerance.%s: expected a finite number >= 0, got %g", tolerance_fields[i], v);
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
    if (!get_int(L, -1, &v) || v < 0)
      return fail(ld, ld->kline, KG_ESPEC, "seed: expected an integer >= 0, got %s", describe(L, -1, d, sizeof d));
    s->seed = (uint64_t)v;
  }
  lua_pop(L, 1);
  /* baselines */
  lua_getfield(L, def, "baselines");
  if (!lua_isnil(L, -1)) {
    int t = lua_gettop(L);
    if (lua_type(L, t) != LUA_TTABLE || count_keys(L, t) != lua_rawlen(L, t))
      return fail(ld, ld->kline, KG_ESPEC, "baselines: expected a list of names, got %s", describe(L, t, d, sizeof d));
    size_t n = lua_rawlen(L, t);
    s->baselines = calloc(n ? n : 1, sizeof *s->baselines);
    if (!s->baselines) return kg_ctx_set(ld->ctx, KG_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
      lua_rawgeti(L, t, (lua_Integer)i + 1);
      if (lua_type(L, -1) != LUA_TSTRING)
        return fail(ld, ld->kline, KG_ESPEC, "baselines[%zu]: expected a name, got %s", i + 1, describe(L, -1, d, sizeof d));
      const char *b = lua_tostring(L, -1);
      if (!is_ident(b))
        return fail(ld, ld->kline, KG_ESPEC, "baselines[%zu]: '%s' is not a C identifier (the template exports kg_baseline_<name>)", i + 1, b);
      for (size_t j = 0; j < i; j++)
        if (strcmp(s->baselines[j], b) == 0) return fail(ld, ld->kline, KG_ESPEC, "baselines: '%s' is listed twice", b);
      if (!(s->baselines[i] = xstrdup(b))) return kg_ctx_set(ld->ctx, KG_ENOMEM, "out of memory");
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
      return fail(ld, ld->kline, KG_ESPEC, "baseline_threads: expected { name = threads, ... }, got %s",
                  describe(L, t, d, sizeof d));
    lua_pushnil(L);
    while (lua_next(L, t)) {
      int64_t v;
      const char *name = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
      int at = -1;
      for (int i = 0; name && i < s->nbaselines; i++)
        if (!strcmp(s->baselines[i], name)) at = i;
      if (at < 0)
        return fail(ld, ld->kline, KG_ESPEC, "baseline_threads: '%s' is not one of the baselines",
                    name ? name : describe(L, -2, d, sizeof d));
      if (!get_int(L, -1, &v) || v < 1 || v > 4096)
        return fail(ld, ld->kline, KG_ESPEC, "baseline_threads.%s: expected a thread count >= 1, got %s", name,
                    describe(L, -1, d, sizeof d));
      s->baseline_threads[at] = (int)v;
      lua_pop(L, 1);
    }
  }
  lua_pop(L, 1);
  return KG_OK;
}

/* roles = { role = name }: what parameters and dimensions mean to kgen (threads, ...). */
static kg_status read_roles(loader *ld, int def) {
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
    return fail(ld, ld->kline, KG_ESPEC, "roles: expected { role = \"parameter or dimension\", ... }, got %s",
                describe(L, t, d, sizeof d));
  size_t n = count_keys(L, t);
  s->roles = calloc(n ? n : 1, sizeof *s->roles);
  s->role_names = calloc(n ? n : 1, sizeof *s->role_names);
  if (!s->roles || !s->role_names) return kg_ctx_set(ld->ctx, KG_ENOMEM, "out of memory");
  lua_pushnil(L);
  while (lua_next(L, t)) {
    if (lua_type(L, -2) != LUA_TSTRING || !is_ident(lua_tostring(L, -2)))
      return fail(ld, ld->kline, KG_ESPEC, "roles: role names are identifiers, got %s", describe(L, -2, d, sizeof d));
    const char *role = lua_tostring(L, -2);
    if (lua_type(L, -1) != LUA_TSTRING || !is_ident(lua_tostring(L, -1)))
      return fail(ld, ld->kline, KG_ESPEC, "roles.%s: expected the name of a parameter or dimension, got %s", role,
                  describe(L, -1, d, sizeof d));
    const char *target = lua_tostring(L, -1);
    if (strcmp(role, "threads") == 0) {
      int pi = kg_spec_param_index(s, target);
      if (pi < 0 || s->params[pi].kind != KG_PARAM_INT)
        return fail(ld, ld->kline, KG_ESPEC, "roles.threads: '%s' is not an integer parameter", target);
    }
    int i = s->nroles;
    if (!(s->roles[i] = xstrdup(role)) || !(s->role_names[i] = xstrdup(target)))
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

static kg_status resolve_template(loader *ld, const char *tmpl) {
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
    FILE *f = fopen(cand[i], "rb");
    if (f) {
      fclose(f);
      if (!(ld->spec->template_path = xstrdup(cand[i]))) return kg_ctx_set(ld->ctx, KG_ENOMEM, "out of memory");
      return KG_OK;
    }
  }
  return fail(ld, ld->kline, KG_ETEMPLATE, "template '%s' not found (looked for %s%s%s)", tmpl, cand[0],
              ncand > 1 ? " and " : "", ncand > 1 ? cand[1] : "");
}

static kg_status read_file(const char *path, char **buf, size_t *len, kg_ctx *ctx) {
  FILE *f = fopen(path, "rb");
  if (!f) return kg_ctx_set(ctx, KG_EIO, "%s: %s", path, strerror(errno));
  size_t cap = 4096, n = 0;
  char *b = malloc(cap);
  while (b) {
    n += fread(b + n, 1, cap - n - 1, f);
    if (n < cap - 1) break;
    char *nb = realloc(b, cap * 2);
    if (!nb) {
      free(b);
      b = NULL;
      break;
    }
    b = nb;
    cap *= 2;
  }
  int err = ferror(f);
  fclose(f);
  if (!b) return kg_ctx_set(ctx, KG_ENOMEM, "%s: out of memory", path);
  if (err) {
    free(b);
    return kg_ctx_set(ctx, KG_EIO, "%s: read error", path);
  }
  b[n] = '\0';
  *buf = b;
  *len = n;
  return KG_OK;
}

static kg_status load(loader *ld, const char *src, size_t len) {
  lua_State *L = ld->kl.L;
  kg_spec *s = ld->spec;
  char d[128];
  kg_status st;
  lua_pushcfunction(L, l_install);
  int rc = kg_lua_pcall(&ld->kl, 0, 0);
  if (rc != LUA_OK) return fail_lua(ld, rc);
  lua_pushcfunction(L, l_install_machine);
  lua_pushlightuserdata(L, &ld->machine);
  rc = kg_lua_pcall(&ld->kl, 1, 0);
  if (rc != LUA_OK) return fail_lua(ld, rc);
  if ((st = load_prelude(ld))) return st;
  rc = kg_lua_load(&ld->kl, src, len, ld->path);
  if (rc == LUA_OK) rc = kg_lua_pcall(&ld->kl, 0, 1);
  if (rc != LUA_OK) return fail_lua(ld, rc);
  int k = lua_gettop(L);
  if (!is_obj(L, k, MT_KERNEL))
    return fail(ld, ld->nlines, KG_ESPEC, "the spec must return a kernel (return kernel \"name\" { ... }), got %s",
                is_obj(L, k, MT_PROBLEM) ? "a problem" : describe(L, k, d, sizeof d));
  lua_getfield(L, k, "line");
  ld->kline = (int)lua_tointeger(L, -1);
  lua_getfield(L, k, "name");
  if (!is_name(lua_tostring(L, -1)) || strchr(lua_tostring(L, -1), '.'))
    return fail(ld, ld->kline, KG_ESPEC, "kernel '%s': names are letters, digits, '_' and '-'", lua_tostring(L, -1));
  if (!(s->name = xstrdup(lua_tostring(L, -1)))) return kg_ctx_set(ld->ctx, KG_ENOMEM, "out of memory");
  lua_getfield(L, k, "def");
  int def = lua_gettop(L);
  if ((st = check_keys(ld, def, kernel_fields, "kernel", ld->kline))) return st;
  char *tmpl = NULL;
  if ((st = get_string(ld, def, "description", "", &s->description))) return st;
  if ((st = get_string(ld, def, "reference", "", &s->reference))) return st;
  if ((st = read_params(ld, def))) return st;
  if ((st = read_constraints(ld, def))) return st;
  if ((st = read_problems(ld, def))) return st;
  if ((st = read_metrics(ld, def))) return st;
  if ((st = read_misc(ld, def))) return st;
  if ((st = read_roles(ld, def))) return st;
  if ((st = get_string(ld, def, "template", NULL, &tmpl))) return st;
  st = resolve_template(ld, tmpl);
  free(tmpl);
  return st;
}

kg_status kg_spec_load(const char *path, kg_spec **out, kg_ctx *ctx) { return kg_spec_load_ex(path, NULL, out, ctx); }

kg_status kg_spec_load_ex(const char *path, const kg_spec_load_opts *opts, kg_spec **out, kg_ctx *ctx) {
  *out = NULL;
  char *src = NULL;
  size_t len = 0;
  kg_status st = read_file(path, &src, &len, ctx);
  if (st) return st;
  loader ld = {.path = path, .ctx = ctx, .nlines = 1};
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
  if (!(ld.spec->path = xstrdup(path))) {
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

static int format_value(const kg_param *p, int32_t v, char *buf, size_t cap) {
  if (p->kind == KG_PARAM_INT) return snprintf(buf, cap, "%" PRId64, p->ivalues[v]);
  return snprintf(buf, cap, "%s", p->svalues[v]);
}

int kg_spec_format_point(const kg_spec *spec, const int32_t *point, char *buf, size_t cap) {
  size_t n = 0;
  char val[128];
  if (cap) buf[0] = '\0';
  for (int i = 0; i < spec->nparams; i++) {
    const kg_param *p = &spec->params[i];
    if (point[i] >= 0 && point[i] < p->nvalues) format_value(p, point[i], val, sizeof val);
    else snprintf(val, sizeof val, "?");
    int w = snprintf(n < cap ? buf + n : NULL, n < cap ? cap - n : 0, "%s%s=%s", i ? "," : "", p->name, val);
    n += (size_t)w;
  }
  return (int)n;
}

kg_status kg_spec_parse_set(const kg_spec *spec, const char *set, int32_t *point, kg_ctx *ctx) {
  for (int i = 0; i < spec->nparams; i++) point[i] = 0;
  if (!set) set = "";
  bool seen[KG_SPEC_MAX_PARAMS] = {false};
  const char *s = set;
  while (*s) {
    const char *end = strchr(s, ',');
    if (!end) end = s + strlen(s);
    const char *eq = memchr(s, '=', (size_t)(end - s));
    char key[256], val[256];
    const char *k0 = s, *k1 = eq ? eq : end;
    while (k0 < k1 && isspace((unsigned char)*k0)) k0++;
    while (k1 > k0 && isspace((unsigned char)k1[-1])) k1--;
    if (k0 == k1 && !eq && end - s >= 0) { /* empty item ("a=1,,b=2" or trailing comma) */
      bool blank = true;
      for (const char *c = s; c < end; c++) blank &= isspace((unsigned char)*c) != 0;
      if (blank) {
        s = *end ? end + 1 : end;
        continue;
      }
    }
    if (!eq) return kg_ctx_set(ctx, KG_EINVAL, "--set: expected name=value, got '%.*s'", (int)(end - s), s);
    snprintf(key, sizeof key, "%.*s", (int)(k1 - k0), k0);
    const char *v0 = eq + 1, *v1 = end;
    while (v0 < v1 && isspace((unsigned char)*v0)) v0++;
    while (v1 > v0 && isspace((unsigned char)v1[-1])) v1--;
    snprintf(val, sizeof val, "%.*s", (int)(v1 - v0), v0);
    int pi = kg_spec_param_index(spec, key);
    if (pi < 0) {
      char all[2048];
      size_t n = 0;
      all[0] = '\0';
      for (int i = 0; i < spec->nparams && n < sizeof all; i++)
        n += (size_t)snprintf(all + n, sizeof all - n, "%s%s", i ? ", " : "", spec->params[i].name);
      return kg_ctx_set(ctx, KG_EINVAL, "unknown parameter '%s' in spec '%s' (parameters: %s)", key, spec->name,
                        spec->nparams ? all : "none");
    }
    if (seen[pi]) return kg_ctx_set(ctx, KG_EINVAL, "parameter '%s' is set twice", key);
    seen[pi] = true;
    const kg_param *p = &spec->params[pi];
    int found = -1;
    for (int j = 0; j < p->nvalues && found < 0; j++) {
      if (p->kind == KG_PARAM_STR) {
        if (strcmp(p->svalues[j], val) == 0) found = j;
      } else {
        char *e = NULL;
        errno = 0;
        long long x = strtoll(val, &e, 0);
        if (val[0] && e && *e == '\0' && errno == 0 && x == p->ivalues[j]) found = j;
      }
    }
    if (found < 0) {
      char all[2048], v[128];
      size_t n = 0;
      all[0] = '\0';
      for (int j = 0; j < p->nvalues && n < sizeof all; j++) {
        format_value(p, j, v, sizeof v);
        n += (size_t)snprintf(all + n, sizeof all - n, "%s%s", j ? ", " : "", v);
      }
      return kg_ctx_set(ctx, KG_EINVAL, "%s=%s is not in the space (allowed values: %s)", key, val, all);
    }
    point[pi] = found;
    s = *end ? end + 1 : end;
  }
  if (kg_spec_point_index(spec, point) < 0) {
    char pt[2048];
    kg_spec_format_point(spec, point, pt, sizeof pt);
    return kg_ctx_set(ctx, KG_EINVAL, "%s violates the constraints of spec '%s'", pt, spec->name);
  }
  return KG_OK;
}
