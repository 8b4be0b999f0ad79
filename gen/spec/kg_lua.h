/*
 * kg_lua.h - the sandboxed Lua 5.4 state shared by the spec loader and template slots
 * (internal to gen/: only kg_lua.c, kg_spec.c and kg_template.c include it).
 *
 * The sandbox opens base, string, table and math; dofile, loadfile, load, require and
 * collectgarbage are replaced, and io, os, debug and package are defined, by stubs that raise
 * "'io' is not available in a spec (sandbox: base, string, table and math only)" wherever they
 * are used.  print writes to stderr (stdout carries kgen's results).  math.random is seeded
 * with 0 so that chunks are deterministic.  Every top-level call runs under an instruction
 * budget and a wall-clock deadline (a count hook), and the whole state under a memory limit (a
 * counting lua_Alloc).  Neither limit can be caught: once one is hit the hook fires at every
 * instruction and the sandbox's pcall and xpcall re-raise the error, so a `pcall` around a
 * runaway loop unwinds to the top.  Finalizers run with hooks off (Lua 5.4), so setmetatable
 * refuses a metatable with a __gc field; and string.find/match/gmatch/gsub refuse a pattern whose
 * backtracking could exceed KG_LUA_PATTERN_STEPS on its subject (estimated as
 * len^(repetition items + 1), since Lua's matcher is a backtracking one).
 */
#ifndef KG_LUA_H
#define KG_LUA_H

#include <lua.h>
#include <lauxlib.h>
#include <stddef.h>

#include "kg_status.h"

#define KG_LUA_INSTR_LIMIT 50000000LL /**< instructions per top-level call */
#define KG_LUA_TIME_LIMIT_S                                                                                            \
  10.0                                       /**< wall-clock seconds per top-level call
                                                  (environment: KGEN_LUA_TIME_LIMIT) */
#define KG_LUA_PATTERN_STEPS 1e8             /**< bound on a pattern match's estimated steps */
#define KG_LUA_MEM_LIMIT ((size_t)256 << 20) /**< bytes for the whole state */

/** A sandboxed state and its accounting.  Must not move after kg_lua_init (the allocator
 *  and the hook find it through its address). */
typedef struct kg_lua {
  lua_State *L;
  size_t mem_used, mem_limit;
  long long instr, instr_limit;
  unsigned long long deadline_ns; /**< CLOCK_MONOTONIC deadline of the running top-level call */
  double time_limit_s;            /**< wall-clock limit per top-level call */
  int tripped;                    /**< a limit was hit: every hook raises again, and the sandbox's pcall
                           re-raises, until the top-level call has unwound */
  char trip_msg[256];             /**< the message of the limit that was hit */
  int mem_hit;                    /**< the allocator refused a request: the memory limit was hit */
  int last_line;                  /**< last line seen by the count hook (for memory-limit messages) */
  const char *what;               /**< "spec" or "template slot": used in sandbox messages */
  const char *path;               /**< file of the chunk being run (for messages); borrowed */
  char chunkname[128];            /**< "=basename": Lua's short source, rewritten to path in messages */
} kg_lua;

/** Open a sandboxed state into kl (`what` names the user in messages; borrowed).
 *  Errors: KG_ENOMEM. */
kg_status kg_lua_init(kg_lua *kl, const char *what, kg_ctx *ctx);

/** Close the state; a zeroed or already closed kl is fine. */
void kg_lua_fini(kg_lua *kl);

/** Load buf as a chunk of file `path` (borrowed until the next load) and push it.
 *  Returns a Lua status; on error the message is on the stack (see kg_lua_errmsg). */
int kg_lua_load(kg_lua *kl, const char *buf, size_t len, const char *path);

/** lua_pcall with a traceback message handler and a fresh instruction budget. */
int kg_lua_pcall(kg_lua *kl, int nargs, int nresults);

/** The message handler kg_lua_pcall uses (lua_CFunction): the error message with the Lua
 *  traceback appended. */
int kg_lua_msgh(lua_State *L);

/** Reset the instruction budget and the deadline (for C loops that call Lua many times in one
 *  pcall).  A limit already hit stays hit. */
void kg_lua_rebudget(kg_lua *kl);

/**
 * Format the error of a failed load or pcall (status st, message on top of the stack, popped)
 * into buf: "path:line: message" followed by the Lua frames of the traceback, if any.
 * A memory-limit failure reads "path:line: memory limit exceeded (256 MB)".  Returns buf.
 */
const char *kg_lua_errmsg(kg_lua *kl, int st, char *buf, size_t cap);

/** Line of the Lua code that called the running C function (0 when unknown). */
int kg_lua_caller_line(lua_State *L);

#endif
