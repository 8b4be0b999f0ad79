/* kg_lua.c - the sandboxed Lua state: libraries, stubs, instruction and memory limits. */
#include "kg_lua.h"

#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KG_LUA_HOOK_STEP 1000

/* Counting allocator: refuses growth past mem_limit, so a spec cannot exhaust the process. */
static void *kg_lua_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  kg_lua *kl = ud;
  size_t old = ptr ? osize : 0; /* when ptr is NULL, osize encodes a type, not a size */
  if (nsize == 0) {
    free(ptr);
    kl->mem_used -= old;
    return NULL;
  }
  if (nsize > old && kl->mem_used - old + nsize > kl->mem_limit) {
    kl->mem_hit = 1;
    return NULL;
  }
  void *p = realloc(ptr, nsize);
  if (!p) return NULL;
  kl->mem_used = kl->mem_used - old + nsize;
  return p;
}

/* Count hook: every KG_LUA_HOOK_STEP instructions; remembers the line, enforces the budget. */
static void kg_lua_hook(lua_State *L, lua_Debug *ar) {
  void *ud;
  lua_getallocf(L, &ud);
  kg_lua *kl = ud;
  int line = 0;
  if (lua_getinfo(L, "l", ar) && ar->currentline > 0) line = kl->last_line = ar->currentline;
  kl->instr += KG_LUA_HOOK_STEP;
  if (kl->instr > kl->instr_limit) {
    lua_pushfstring(L, "%s:%d: instruction limit exceeded (runaway %s?)", kl->chunkname + 1, line, kl->what);
    lua_error(L);
  }
}

/* Stub for a removed function or library: raises "'io' is not available in a spec (...)". */
static int kg_lua_blocked(lua_State *L) {
  void *ud;
  lua_getallocf(L, &ud);
  kg_lua *kl = ud;
  return luaL_error(L, "'%s' is not available in a %s (sandbox: base, string, table and math only)",
                    lua_tostring(L, lua_upvalueindex(1)), kl->what);
}

/* print goes to stderr: stdout carries kgen's results. */
static int kg_lua_print(lua_State *L) {
  int n = lua_gettop(L);
  for (int i = 1; i <= n; i++) {
    size_t len;
    const char *s = luaL_tolstring(L, i, &len);
    if (i > 1) fputc('\t', stderr);
    fwrite(s, 1, len, stderr);
    lua_pop(L, 1);
  }
  fputc('\n', stderr);
  return 0;
}

static int kg_lua_msgh(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (!msg) {
    if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING) msg = lua_tostring(L, -1);
    else msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
  }
  luaL_traceback(L, L, msg, 1);
  return 1;
}

static int kg_lua_setup(lua_State *L) {
  static const luaL_Reg libs[] = {{LUA_GNAME, luaopen_base},
                                  {LUA_STRLIBNAME, luaopen_string},
                                  {LUA_TABLIBNAME, luaopen_table},
                                  {LUA_MATHLIBNAME, luaopen_math}};
  for (size_t i = 0; i < sizeof libs / sizeof libs[0]; i++) {
    luaL_requiref(L, libs[i].name, libs[i].func, 1);
    lua_pop(L, 1);
  }
  static const char *const fns[] = {"dofile", "loadfile", "load", "require", "collectgarbage"};
  for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
    lua_pushstring(L, fns[i]);
    lua_pushcclosure(L, kg_lua_blocked, 1);
    lua_setglobal(L, fns[i]);
  }
  /* Libraries: a table whose every use (index, assignment, call) raises the message. */
  static const char *const tabs[] = {"io", "os", "debug", "package"};
  for (size_t i = 0; i < sizeof tabs / sizeof tabs[0]; i++) {
    lua_newtable(L);
    lua_newtable(L);
    static const char *const events[] = {"__index", "__newindex", "__call"};
    for (size_t e = 0; e < 3; e++) {
      lua_pushstring(L, tabs[i]);
      lua_pushcclosure(L, kg_lua_blocked, 1);
      lua_setfield(L, -2, events[e]);
    }
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_setmetatable(L, -2);
    lua_setglobal(L, tabs[i]);
  }
  lua_pushcfunction(L, kg_lua_print);
  lua_setglobal(L, "print");
  /* Deterministic math.random (5.4 seeds it randomly). */
  lua_getglobal(L, "math");
  lua_getfield(L, -1, "randomseed");
  lua_pushinteger(L, 0);
  lua_call(L, 1, 0);
  lua_pop(L, 1);
  return 0;
}

kg_status kg_lua_init(kg_lua *kl, const char *what, kg_ctx *ctx) {
  memset(kl, 0, sizeof *kl);
  kl->mem_limit = KG_LUA_MEM_LIMIT;
  kl->instr_limit = KG_LUA_INSTR_LIMIT;
  kl->what = what;
  kl->path = "?";
  strcpy(kl->chunkname, "=?");
  kl->L = lua_newstate(kg_lua_alloc, kl);
  if (!kl->L) return kg_ctx_set(ctx, KG_ENOMEM, "cannot create a Lua state");
  lua_sethook(kl->L, kg_lua_hook, LUA_MASKCOUNT, KG_LUA_HOOK_STEP);
  lua_pushcfunction(kl->L, kg_lua_setup);
  if (lua_pcall(kl->L, 0, 0, 0) != LUA_OK) {
    kg_lua_fini(kl);
    return kg_ctx_set(ctx, KG_ENOMEM, "cannot set up the Lua sandbox");
  }
  return KG_OK;
}

void kg_lua_fini(kg_lua *kl) {
  if (kl && kl->L) lua_close(kl->L);
  if (kl) kl->L = NULL;
}

int kg_lua_load(kg_lua *kl, const char *buf, size_t len, const char *path) {
  const char *base = strrchr(path, '/');
  base = base ? base + 1 : path;
  kl->path = path;
  snprintf(kl->chunkname, sizeof kl->chunkname, "=%s", base);
  kl->instr = 0;
  return luaL_loadbufferx(kl->L, buf, len, kl->chunkname, "t");
}

int kg_lua_pcall(kg_lua *kl, int nargs, int nresults) {
  lua_State *L = kl->L;
  int base = lua_gettop(L) - nargs;
  lua_pushcfunction(L, kg_lua_msgh);
  lua_insert(L, base);
  kl->instr = 0;
  int st = lua_pcall(L, nargs, nresults, base);
  lua_remove(L, base);
  return st;
}

/* Append s[0..n) to buf (cap), keeping it NUL-terminated. */
static void kg_lua_cat(char *buf, size_t cap, size_t *len, const char *s, size_t n) {
  if (*len + 1 >= cap) return;
  if (n > cap - 1 - *len) n = cap - 1 - *len;
  memcpy(buf + *len, s, n);
  *len += n;
  buf[*len] = '\0';
}

const char *kg_lua_errmsg(kg_lua *kl, int st, char *buf, size_t cap) {
  lua_State *L = kl->L;
  buf[0] = '\0';
  if (kl->mem_hit || st == LUA_ERRMEM) {
    if (kl->last_line > 0)
      snprintf(buf, cap, "%s:%d: memory limit exceeded (%zu MB)", kl->path, kl->last_line, kl->mem_limit >> 20);
    else snprintf(buf, cap, "%s: memory limit exceeded (%zu MB)", kl->path, kl->mem_limit >> 20);
    lua_pop(L, 1);
    return buf;
  }
  const char *msg = lua_tostring(L, -1);
  if (!msg) msg = "(error object is not a string)";
  /* Lua names the chunk by its basename (short_src is capped at 60 characters); put the path
   * back in front of the message. */
  size_t len = 0, slen = strlen(kl->chunkname + 1);
  if (strncmp(msg, kl->chunkname + 1, slen) == 0 && msg[slen] == ':') {
    kg_lua_cat(buf, cap, &len, kl->path, strlen(kl->path));
    msg += slen;
  }
  /* Keep the first line, then only traceback frames that are Lua code. */
  const char *nl = strchr(msg, '\n');
  kg_lua_cat(buf, cap, &len, msg, nl ? (size_t)(nl - msg) : strlen(msg));
  int header = 0;
  while (nl) {
    const char *line = nl + 1;
    nl = strchr(line, '\n');
    size_t n = nl ? (size_t)(nl - line) : strlen(line);
    if (n == 0 || strncmp(line, "stack traceback:", 16) == 0 || memchr(line, '[', n)) continue;
    if (!header) {
      kg_lua_cat(buf, cap, &len, "\nstack traceback:", 17);
      header = 1;
    }
    kg_lua_cat(buf, cap, &len, "\n", 1);
    kg_lua_cat(buf, cap, &len, line, n);
  }
  lua_pop(L, 1);
  return buf;
}

int kg_lua_caller_line(lua_State *L) {
  lua_Debug ar;
  if (lua_getstack(L, 1, &ar) && lua_getinfo(L, "l", &ar) && ar.currentline > 0) return ar.currentline;
  return 0;
}
