/*
 * kg_status.h - one status type for all of kgen, and the context that carries the detail.
 *
 * Every fallible function returns a kg_status and, when given a kg_ctx, writes a human-readable
 * message into it (a spec's file:line, a compiler's diagnostics, a variant's name).  The library
 * never aborts or exits; the CLI maps a status to an exit code.
 */
#ifndef KG_STATUS_H
#define KG_STATUS_H

#include <stddef.h>

/** Status codes.  KG_OK is 0; every other value is an error class. */
typedef enum kg_status {
  KG_OK = 0,
  KG_EINVAL,       /**< bad argument or user input (usage, unknown parameter, value outside the space) */
  KG_ENOMEM,       /**< allocation failed */
  KG_EIO,          /**< file could not be read or written (the message names the path) */
  KG_ESPEC,        /**< malformed spec: syntax, unknown field, wrong type, sandbox violation */
  KG_ETEMPLATE,    /**< template missing or its expansion failed */
  KG_ECOMPILE,     /**< a variant failed to compile (diagnostics in the message) */
  KG_ENOTFOUND,    /**< a name (symbol, problem, result) does not exist */
  KG_EUNSUPPORTED, /**< not available on this machine (an event, a backend, an ISA) */
  KG_ECRASH,       /**< a variant crashed (signal) in its worker */
  KG_ETIMEOUT,     /**< a variant did not finish within its time limit */
  KG_EVERIFY,      /**< a variant computed a wrong result */
  KG_EDB,          /**< the tuning database failed */
  KG_ENORESULT,    /**< the work finished but produced nothing valid (every variant failed) */
  KG_EINTERNAL,    /**< a bug in kgen */
  KG_ECENSORED     /**< a variant stopped early: its first samples were at least the cutoff times
                        slower than the best of its problem so far (its stats are a lower bound) */
} kg_status;

/** Short static description of a status ("compile error"); never NULL. */
const char *kg_strerror(kg_status st);

/** Error context: the last status and a detailed message.  Zero-initialise before use. */
typedef struct kg_ctx {
  kg_status status;
  char msg[8192];
} kg_ctx;

/**
 * Record an error in ctx (which may be NULL) and return st, so callers can write
 * `return kg_ctx_set(ctx, KG_EIO, "%s: %s", path, strerror(errno));`.
 * The message is printf-formatted and truncated to fit.
 */
kg_status kg_ctx_set(kg_ctx *ctx, kg_status st, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/** Clear ctx (NULL is a no-op). */
void kg_ctx_clear(kg_ctx *ctx);

/** The message in ctx, or kg_strerror of its status when no message was set. */
const char *kg_ctx_message(const kg_ctx *ctx);

#endif
