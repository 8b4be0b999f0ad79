/* kg_lua.c - the sandboxed Lua state: libraries, blocked functions, instruction, time and memory limits. */
#include "kg_lua.h"

#include <lualib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kg_timer.h"

#define KG_LUA_HOOK_STEP 256 /* instructions between checks: a loop of costly C calls (string.rep) is seen soon */

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

static kg_lua *kg_lua_of(lua_State *L) {
  void *ud;
  lua_getallocf(L, &ud);
  return ud;
}

static void kg_lua_hook(lua_State *L, lua_Debug *ar);

/* A limit was hit: from now on the hook fires at every instruction and raises the same message,
 * and the sandbox's pcall re-raises it, so nothing in the chunk can catch it. */
static int kg_lua_trip(kg_lua *kl, lua_State *L, int line, const char *what) {
  if (!kl->tripped) {
    snprintf(kl->trip_msg, sizeof kl->trip_msg, "%s:%d: %s", kl->chunkname + 1, line, what);
    kl->tripped = 1;
    lua_sethook(L, kg_lua_hook, LUA_MASKCOUNT, 1);
  }
  lua_pushstring(L, kl->trip_msg);
  return lua_error(L);
}

/* Count hook: every KG_LUA_HOOK_STEP instructions (every one once tripped); remembers the line,
 * enforces the instruction budget and the wall-clock deadline. */
static void kg_lua_hook(lua_State *L, lua_Debug *ar) {
  kg_lua *kl = kg_lua_of(L);
  int line = 0;
  if (lua_getinfo(L, "l", ar) && ar->currentline > 0) line = kl->last_line = ar->currentline;
  if (kl->tripped) {
    lua_pushstring(L, kl->trip_msg);
    lua_error(L);
  }
  kl->instr += KG_LUA_HOOK_STEP;
  char what[160];
  if (kl->instr > kl->instr_limit) {
    snprintf(what, sizeof what, "instruction limit exceeded (runaway %s?)", kl->what);
    kg_lua_trip(kl, L, line, what);
  }
  if (kg_now_ns() > kl->deadline_ns) {
    snprintf(what, sizeof what, "time limit exceeded (%g s of wall-clock time; runaway %s?)", kl->time_limit_s,
             kl->what);
    kg_lua_trip(kl, L, line, what);
  }
}

/* The sandbox's pcall and xpcall: Lua's own, except that a hit limit is re-raised. */
static int kg_lua_pcall_lua(lua_State *L) {
  luaL_checkany(L, 1);
  lua_pushboolean(L, 1);
  lua_insert(L, 1);
  int st = lua_pcall(L, lua_gettop(L) - 2, LUA_MULTRET, 0);
  kg_lua *kl = kg_lua_of(L);
  if (kl->tripped) {
    lua_pushstring(L, kl->trip_msg);
    return lua_error(L);
  }
  if (kl->mem_hit || st == LUA_ERRMEM) return lua_error(L);
  if (st != LUA_OK) {
    lua_pushboolean(L, 0);
    lua_pushvalue(L, -2);
    return 2;
  }
  return lua_gettop(L);
}

static int kg_lua_xpcall_lua(lua_State *L) {
  int n = lua_gettop(L);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  lua_pushboolean(L, 1);
  lua_pushvalue(L, 1);
  lua_rotate(L, 3, 2); /* f, msgh, true, f, args... (as lbaselib.c does) */
  int st = lua_pcall(L, n - 2, LUA_MULTRET, 2);
  kg_lua *kl = kg_lua_of(L);
  if (kl->tripped) {
    lua_pushstring(L, kl->trip_msg);
    return lua_error(L);
  }
  if (kl->mem_hit || st == LUA_ERRMEM) return lua_error(L);
  if (st != LUA_OK) {
    lua_pushboolean(L, 0);
    lua_pushvalue(L, -2);
    return 2;
  }
  return lua_gettop(L) - 2;
}

/* setmetatable without finalizers: Lua 5.4 runs __gc with hooks off, out of every limit's reach
 * (lgc.c, GCTM).  An object is marked for finalization only when its metatable has __gc at
 * setmetatable time, so checking there is enough. */
static int kg_lua_setmetatable(lua_State *L) {
  if (lua_type(L, 2) == LUA_TTABLE) {
    lua_pushliteral(L, "__gc");
    int t = lua_rawget(L, 2);
    lua_pop(L, 1);
    if (t != LUA_TNIL) {
      kg_lua *kl = kg_lua_of(L);
      return luaL_error(L,
                        "%s:%d: setmetatable: __gc finalizers are not available in a %s (they "
                        "would run outside the time limit)",
                        kl->chunkname + 1, kg_lua_caller_line(L), kl->what);
    }
  }
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
  return lua_gettop(L);
}

/* Repetition items of a Lua pattern (*, +, -, ? and %b), which make its matcher backtrack;
 * sets [...] and escapes are skipped. */
static int kg_lua_pattern_reps(const char *p, size_t len) {
  int reps = 0;
  for (size_t i = 0; i < len; i++) {
    char c = p[i];
    if (c == '%') {
      if (i + 1 < len && p[i + 1] == 'b') reps++, i += 2;
      i++;
    } else if (c == '[') {
      i++;
      if (i < len && p[i] == '^') i++;
      if (i < len && p[i] == ']') i++;
      while (i < len && p[i] != ']') i += (p[i] == '%') ? 2 : 1;
    } else if (c == '*' || c == '+' || c == '-' || c == '?') {
      reps++;
    }
  }
  return reps;
}

/* string.find/match/gmatch/gsub with a cost bound: Lua's matcher backtracks, so a pattern of r
 * repetition items can take about len^(r + 1) steps on a subject of len bytes (len^r anchored),
 * all inside one C call where no hook fires.  Upvalues: the original function, its name. */
static int kg_lua_pattern_guard(lua_State *L) {
  const char *name = lua_tostring(L, lua_upvalueindex(2));
  size_t slen, plen;
  luaL_checklstring(L, 1, &slen);
  const char *p = luaL_checklstring(L, 2, &plen);
  int plain = !strcmp(name, "find") && lua_toboolean(L, 4);
  if (!plain) {
    int reps = kg_lua_pattern_reps(p, plen);
    int anchored = plen > 0 && p[0] == '^' && strcmp(name, "gmatch") != 0;
    double steps = pow((double)slen + 1.0, reps + (anchored ? 0 : 1));
    if (steps > KG_LUA_PATTERN_STEPS) {
      kg_lua *kl = kg_lua_of(L);
      char msg[512]; /* lua_pushfstring knows neither %.40s nor %zu */
      snprintf(msg, sizeof msg,
               "%s:%d: string.%s: pattern \"%.40s\" is too costly on a %zu-byte subject (%d "
               "repetition items: up to %.2g backtracking steps, limit %.0e)",
               kl->chunkname + 1, kg_lua_caller_line(L), name, p, slen, reps, steps, KG_LUA_PATTERN_STEPS);
      lua_pushstring(L, msg);
      return lua_error(L);
    }
  }
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
  return lua_gettop(L);
}

/* Replace base and string functions whose originals could escape the limits. */
static void kg_lua_guard(lua_State *L) {
  lua_pushcfunction(L, kg_lua_pcall_lua);
  lua_setglobal(L, "pcall");
  lua_pushcfunction(L, kg_lua_xpcall_lua);
  lua_setglobal(L, "xpcall");
  lua_getglobal(L, "setmetatable");
  lua_pushcclosure(L, kg_lua_setmetatable, 1);
  lua_setglobal(L, "setmetatable");
  lua_getglobal(L, "string");
  static const char *const fns[] = {"find", "match", "gmatch", "gsub"};
  for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
    lua_getfield(L, -1, fns[i]);
    lua_pushstring(L, fns[i]);
    lua_pushcclosure(L, kg_lua_pattern_guard, 2);
    lua_setfield(L, -2, fns[i]);
  }
  lua_pop(L, 1);
}

/* Blocker for a removed function or library: raises "'io' is not available in a spec (...)". */
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

int kg_lua_msgh(lua_State *L) {
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
  kg_lua_guard(L);
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
  kl->time_limit_s = KG_LUA_TIME_LIMIT_S;
  const char *tl = getenv("KGEN_LUA_TIME_LIMIT"); /* seconds; for tests and slow machines */
  if (tl) {
    char *end;
    double v = strtod(tl, &end);
    if (end != tl && *end == '\0' && v > 0 && v < 1e6) kl->time_limit_s = v;
  }
  kl->deadline_ns = kg_now_ns() + (unsigned long long)(kl->time_limit_s * 1e9);
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
  kg_lua_rebudget(kl);
  return luaL_loadbufferx(kl->L, buf, len, kl->chunkname, "t");
}

int kg_lua_pcall(kg_lua *kl, int nargs, int nresults) {
  lua_State *L = kl->L;
  int base = lua_gettop(L) - nargs;
  lua_pushcfunction(L, kg_lua_msgh);
  lua_insert(L, base);
  kg_lua_rebudget(kl);
  int st = lua_pcall(L, nargs, nresults, base);
  lua_remove(L, base);
  if (kl->tripped) { /* unwound: the next call starts afresh */
    kl->tripped = 0;
    lua_sethook(L, kg_lua_hook, LUA_MASKCOUNT, KG_LUA_HOOK_STEP);
  }
  return st;
}

void kg_lua_rebudget(kg_lua *kl) {
  kl->instr = 0;
  kl->deadline_ns = kg_now_ns() + (unsigned long long)(kl->time_limit_s * 1e9);
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
