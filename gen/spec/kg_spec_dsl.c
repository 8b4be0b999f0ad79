/* kg_spec_dsl.c - what a spec runs with: the DSL constructors (kernel, problem, values, enum,
 * pow2, range), the read-only `machine` table and the Lua prelude of specs/lib (kg_spec.h). */

#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <dirent.h>
#include <pthread.h>
#include <sys/stat.h>

#include "kg_file.h"
#include "kg_spec_internal.h"

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
  new_obj(L, strcmp(kind, "kernel") == 0 ? MT_KERNEL : MT_PROBLEM, (int)lua_tointeger(L, lua_upvalueindex(2)));
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
    return luaL_error(L, "%s: expected a name string (%s \"name\" { ... }), got %s", kind, kind, luaL_typename(L, 1));
  lua_pushvalue(L, 1);
  lua_pushinteger(L, kg_lua_caller_line(L));
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_pushcclosure(L, l_named_body, 3);
  return 1;
}

static lua_Integer check_int_arg(lua_State *L, int i, const char *fn) {
  int64_t v;
  if (!kg_spec_get_int(L, i, &v)) {
    char d[128];
    return luaL_error(L, "%s: argument %d must be an integer, got %s", fn, i, kg_spec_describe(L, i, d, sizeof d));
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
  if ((hi - lo) / step >= KG_SPEC_MAX_VALUES) return luaL_error(L, "range: more than %d values", KG_SPEC_MAX_VALUES);
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

/* values {...} / enum {...}: the list as written; checked by the kg_spec_loader */
static int l_list(lua_State *L) {
  const char *ctor = lua_tostring(L, lua_upvalueindex(1));
  if (lua_type(L, 1) != LUA_TTABLE)
    return luaL_error(L, "%s: expected a list { ... }, got %s", ctor, luaL_typename(L, 1));
  values_obj(L, ctor, kg_lua_caller_line(L));
  lua_pushvalue(L, 1);
  lua_setfield(L, -2, "list");
  return 1;
}

int kg_spec_install_dsl(lua_State *L) {
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
  lua_newtable(L); /* proxy */
  lua_newtable(L); /* its metatable */
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
int kg_spec_install_machine(lua_State *L) {
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
  if (lua_getstack(L, level, &ar) && lua_getinfo(L, "l", &ar) && ar.currentline > 0) lua_pushinteger(L, ar.currentline);
  else lua_pushinteger(L, 0);
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
kg_status kg_spec_load_prelude(kg_spec_loader *ld) {
  lua_State *L = ld->kl.L;
  char dir[4096];
  prelude_dir(ld->path, dir, sizeof dir);
  DIR *dp = opendir(dir);
  if (!dp) return kg_ctx_set(ld->ctx, KG_EIO, "%s: cannot open the spec prelude: %s", dir, strerror(errno));
  char *names[64];
  int n = 0;
  for (struct dirent *e; (e = readdir(dp)) && n < 64;) {
    size_t len = strlen(e->d_name);
    if (len > 4 && strcmp(e->d_name + len - 4, ".lua") == 0 && e->d_name[0] != '.' &&
        !(names[n++] = kg_spec_strdup(e->d_name))) {
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
    if ((st = kg_file_read(path, &src, &len, ld->ctx))) break;
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
