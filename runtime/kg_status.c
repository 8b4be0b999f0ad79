/* kg_status.c - status strings and the error context. */
#include "kg_status.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *kg_strerror(kg_status st) {
  switch (st) {
  case KG_OK: return "ok";
  case KG_EINVAL: return "invalid argument";
  case KG_ENOMEM: return "out of memory";
  case KG_EIO: return "i/o error";
  case KG_ESPEC: return "spec error";
  case KG_ETEMPLATE: return "template error";
  case KG_ECOMPILE: return "compile error";
  case KG_ENOTFOUND: return "not found";
  case KG_EUNSUPPORTED: return "unsupported";
  case KG_ECRASH: return "crashed";
  case KG_ETIMEOUT: return "timed out";
  case KG_EVERIFY: return "wrong result";
  case KG_EDB: return "database error";
  case KG_ENORESULT: return "no valid result";
  case KG_EINTERNAL: return "internal error";
  case KG_ECENSORED: return "censored";
  }
  return "unknown status";
}

kg_status kg_ctx_set(kg_ctx *ctx, kg_status st, const char *fmt, ...) {
  if (ctx) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx->msg, sizeof ctx->msg, fmt, ap);
    va_end(ap);
    ctx->status = st;
  }
  return st;
}

void kg_ctx_clear(kg_ctx *ctx) {
  if (ctx) {
    ctx->status = KG_OK;
    ctx->msg[0] = '\0';
  }
}

const char *kg_ctx_message(const kg_ctx *ctx) {
  if (!ctx) return "";
  return ctx->msg[0] ? ctx->msg : kg_strerror(ctx->status);
}
