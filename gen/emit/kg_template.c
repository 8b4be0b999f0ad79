/* kg_template.c - expand a C template: Lua slots, inlined quoted includes, banner, defines. */
#include "kg_template.h"

#include "kg_file.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "kg_lua.h"

#define KG_TEMPLATE_MAX_DEPTH 32
#define KG_TEMPLATE_MAX_FILES 256

/* A growing byte buffer; `oom` sticks once an allocation failed. */
typedef struct sbuf {
  char *p;
  size_t n, cap;
  bool oom;
} sbuf;

static void sb_add(sbuf *b, const char *s, size_t n) {
  if (b->oom) return;
  if (b->n + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->n + n + 1) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
      b->oom = true;
      return;
    }
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->n, s, n);
  b->n += n;
  b->p[b->n] = '\0';
}

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...) {
  char tmp[1024];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if ((size_t)n < sizeof tmp) {
    sb_add(b, tmp, (size_t)n);
    return;
  }
  char *big = malloc((size_t)n + 1);
  if (!big) {
    b->oom = true;
    return;
  }
  va_start(ap, fmt);
  vsnprintf(big, (size_t)n + 1, fmt, ap);
  va_end(ap);
  sb_add(b, big, (size_t)n);
  free(big);
}

typedef struct expander {
  const kg_spec *spec;
  const int32_t *point; /* NULL: walk for the hash only (no Lua) */
  kg_ctx *ctx;
  kg_lua kl;
  bool lua_open;
  XXH64_state_t *hash;
  char *seen[KG_TEMPLATE_MAX_FILES];
  int nseen;
  sbuf out;
  /* the slot being expanded */
  sbuf *emit_to;
  const char *indent;
  size_t indent_len;
} expander;

static const char *base_name(const char *path) {
  const char *s = strrchr(path, '/');
  return s ? s + 1 : path;
}

/* emit(fmt, ...): string.format(fmt, ...) as one line of the slot's output, indented like the
 * slot's opening comment. */
static int l_emit(lua_State *L) {
  expander *ex = lua_touserdata(L, lua_upvalueindex(1));
  lua_pushvalue(L, lua_upvalueindex(2)); /* string.format */
  lua_insert(L, 1);
  lua_call(L, lua_gettop(L) - 1, 1);
  size_t n;
  const char *s = lua_tolstring(L, -1, &n);
  sbuf *b = ex->emit_to;
  sb_add(b, ex->indent, ex->indent_len);
  for (size_t i = 0; i < n; i++) {
    sb_add(b, s + i, 1);
    if (s[i] == '\n' && i + 1 < n) sb_add(b, ex->indent, ex->indent_len);
  }
  sb_add(b, "\n", 1);
  if (b->oom) return luaL_error(L, "emit: out of memory");
  return 0;
}

/* Protected: define emit and the parameters (macro and spec names) as globals. */
static int l_setup(lua_State *L) {
  expander *ex = lua_touserdata(L, 1);
  const kg_spec *s = ex->spec;
  lua_pushlightuserdata(L, ex);
  lua_getglobal(L, "string");
  lua_getfield(L, -1, "format");
  lua_remove(L, -2);
  lua_pushcclosure(L, l_emit, 2);
  lua_setglobal(L, "emit");
  for (int i = 0; i < s->nparams; i++) {
    const kg_param *p = &s->params[i];
    for (int k = 0; k < 2; k++) {
      if (p->kind == KG_PARAM_INT) lua_pushinteger(L, (lua_Integer)p->ivalues[ex->point[i]]);
      else lua_pushstring(L, p->svalues[ex->point[i]]);
      lua_setglobal(L, k ? p->name : p->macro);
    }
  }
  return 0;
}

static kg_status ensure_lua(expander *ex) {
  if (ex->lua_open) return KG_OK;
  kg_status st = kg_lua_init(&ex->kl, "template slot", ex->ctx);
  if (st) return st;
  ex->lua_open = true;
  lua_pushcfunction(ex->kl.L, l_setup);
  lua_pushlightuserdata(ex->kl.L, ex);
  if (kg_lua_pcall(&ex->kl, 1, 0) != LUA_OK) {
    lua_pop(ex->kl.L, 1);
    return kg_ctx_set(ex->ctx, KG_ENOMEM, "cannot set up the template sandbox");
  }
  return KG_OK;
}

/* Run the slot chunk src[0..len) that starts on `line` of `path`; append its lines to out. */
static kg_status run_slot(expander *ex, const char *path, int line, const char *name, const char *src, size_t len,
                          const char *indent, size_t indent_len) {
  kg_status st = ensure_lua(ex);
  if (st) return st;
  /* Leading newlines make Lua's line numbers the template's. */
  sbuf chunk = {0};
  for (int i = 1; i < line; i++) sb_add(&chunk, "\n", 1);
  sb_add(&chunk, src, len);
  if (chunk.oom) {
    free(chunk.p);
    return kg_ctx_set(ex->ctx, KG_ENOMEM, "out of memory");
  }
  sbuf slot = {0};
  ex->emit_to = &slot;
  ex->indent = indent;
  ex->indent_len = indent_len;
  int rc = kg_lua_load(&ex->kl, chunk.p, chunk.n, path);
  if (rc == LUA_OK) rc = kg_lua_pcall(&ex->kl, 0, 0);
  free(chunk.p);
  if (rc != LUA_OK) {
    char msg[4096];
    kg_lua_errmsg(&ex->kl, rc, msg, sizeof msg);
    free(slot.p);
    return kg_ctx_set(ex->ctx, KG_ETEMPLATE, "%s (in slot '%s' of %s:%d)", msg, name, path, line);
  }
  if (slot.oom) {
    free(slot.p);
    return kg_ctx_set(ex->ctx, KG_ENOMEM, "out of memory");
  }
  if (slot.n) sb_add(&ex->out, slot.p, slot.n);
  free(slot.p);
  return KG_OK;
}

/* Does the line start (after blanks) with prefix?  Returns the text after it, or NULL. */
static const char *after(const char *line, const char *end, const char *prefix) {
  while (line < end && (*line == ' ' || *line == '\t')) line++;
  size_t n = strlen(prefix);
  if ((size_t)(end - line) >= n && memcmp(line, prefix, n) == 0) return line + n;
  return NULL;
}

/* `#include "name"`: copies name into buf and returns true. */
static bool quoted_include(const char *line, const char *end, char *buf, size_t cap) {
  const char *s = line;
  while (s < end && isblank((unsigned char)*s)) s++;
  if (s == end || *s != '#') return false;
  s++;
  while (s < end && isblank((unsigned char)*s)) s++;
  if ((size_t)(end - s) < 7 || memcmp(s, "include", 7) != 0) return false;
  s += 7;
  while (s < end && isblank((unsigned char)*s)) s++;
  if (s == end || *s != '"') return false;
  const char *q = memchr(s + 1, '"', (size_t)(end - s - 1));
  if (!q || (size_t)(q - s - 1) >= cap || q == s + 1) return false;
  memcpy(buf, s + 1, (size_t)(q - s - 1));
  buf[q - s - 1] = '\0';
  return true;
}

static kg_status walk(expander *ex, const char *path, int depth);

static kg_status walk_text(expander *ex, const char *path, const char *src, size_t len, int depth) {
  const char *p = src, *end = src + len;
  int line = 1;
  char dir[4096];
  snprintf(dir, sizeof dir, "%s", path);
  char *slash = strrchr(dir, '/');
  if (slash) slash[1] = '\0';
  else dir[0] = '\0';
  while (p < end) {
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    const char *next = eol ? eol + 1 : end;
    if (!eol) eol = end;
    const char *rest;
    char inc[1024];
    if ((rest = after(p, eol, "/*$slot"))) {
      int slot_line = line;
      const char *indent = p;
      size_t indent_len = 0;
      while (indent + indent_len < eol && (indent[indent_len] == ' ' || indent[indent_len] == '\t')) indent_len++;
      while (rest < eol && isblank((unsigned char)*rest)) rest++;
      const char *n0 = rest;
      while (rest < eol && (isalnum((unsigned char)*rest) || *rest == '_')) rest++;
      char name[128];
      snprintf(name, sizeof name, "%.*s", (int)(rest - n0), n0);
      if (!name[0])
        return kg_ctx_set(ex->ctx, KG_ETEMPLATE, "%s:%d: slot without a name (/*$slot NAME ... $*/)", path, line);
      /* the chunk runs to the closing "$*" + "/" marker */
      const char *close = NULL;
      for (const char *c = rest; c + 3 <= end; c++)
        if (c[0] == '$' && c[1] == '*' && c[2] == '/') {
          close = c;
          break;
        }
      if (!close)
        return kg_ctx_set(ex->ctx, KG_ETEMPLATE, "%s:%d: slot '%s' is not terminated (no '$*/' closes its Lua chunk)",
                          path, slot_line, name);
      const char *chunk = rest;
      size_t chunk_len = (size_t)(close - rest);
      for (const char *c = p; c < close; c++) line += *c == '\n';
      /* skip to the line after the chunk, then the default body up to the end marker */
      const char *q = memchr(close, '\n', (size_t)(end - close));
      q = q ? q + 1 : end;
      line++;
      bool closed = false;
      while (q < end) {
        const char *e2 = memchr(q, '\n', (size_t)(end - q));
        const char *n2 = e2 ? e2 + 1 : end;
        if (!e2) e2 = end;
        if (after(q, e2, "/*$end*/")) {
          closed = true;
          q = n2;
          line++;
          break;
        }
        if (after(q, e2, "/*$slot"))
          return kg_ctx_set(ex->ctx, KG_ETEMPLATE,
                            "%s:%d: slot '%s' is not terminated (a new slot opens at line %d before /*$end*/)", path,
                            slot_line, name, line);
        q = n2;
        line++;
      }
      if (!closed)
        return kg_ctx_set(ex->ctx, KG_ETEMPLATE,
                          "%s:%d: slot '%s' is not terminated (no /*$end*/ after its default body)", path, slot_line,
                          name);
      if (ex->point) {
        kg_status st = run_slot(ex, path, slot_line, name, chunk, chunk_len, indent, indent_len);
        if (st) return st;
      }
      p = q;
      continue;
    }
    if (after(p, eol, "/*$end*/"))
      return kg_ctx_set(ex->ctx, KG_ETEMPLATE, "%s:%d: /*$end*/ without a /*$slot", path, line);
    if (quoted_include(p, eol, inc, sizeof inc) && inc[0] != '/') {
      char ipath[4096 + 1024];
      snprintf(ipath, sizeof ipath, "%s%s", dir, inc);
      FILE *f = fopen(ipath, "rb");
      if (f) {
        fclose(f);
        if (!kg_spec_template_allowed(ex->spec->path, ipath))
          return kg_ctx_set(ex->ctx, KG_ETEMPLATE,
                            "%s:%d: \"%s\" lies outside the spec's folder and the templates folders: not inlined, "
                            "refused",
                            path, line, inc);
        bool seen = false;
        for (int i = 0; i < ex->nseen && !seen; i++) seen = strcmp(ex->seen[i], ipath) == 0;
        if (seen) {
          sb_printf(&ex->out, "/* kgen: \"%s\" inlined above */\n", inc);
        } else {
          if (depth + 1 >= KG_TEMPLATE_MAX_DEPTH)
            return kg_ctx_set(ex->ctx, KG_ETEMPLATE, "%s:%d: includes nested too deeply", path, line);
          sb_printf(&ex->out, "/* kgen: begin \"%s\" */\n", inc);
          kg_status st = walk(ex, ipath, depth + 1);
          if (st) return st;
          if (ex->out.n && ex->out.p[ex->out.n - 1] != '\n') sb_add(&ex->out, "\n", 1);
          sb_printf(&ex->out, "/* kgen: end \"%s\" */\n", inc);
        }
        p = next;
        line++;
        continue;
      }
    }
    sb_add(&ex->out, p, (size_t)(next - p));
    p = next;
    line++;
  }
  return KG_OK;
}

/* Read `path` (once per expansion), hash it, and expand it into ex->out. */
static kg_status walk(expander *ex, const char *path, int depth) {
  if (ex->nseen == KG_TEMPLATE_MAX_FILES)
    return kg_ctx_set(ex->ctx, KG_ETEMPLATE, "%s: more than %d included files", path, KG_TEMPLATE_MAX_FILES);
  char *src = NULL;
  size_t len = 0;
  kg_status st = kg_file_read(path, &src, &len, ex->ctx);
  if (st) return st;
  if (!(ex->seen[ex->nseen] = strdup(path))) {
    free(src);
    return kg_ctx_set(ex->ctx, KG_ENOMEM, "out of memory");
  }
  ex->nseen++;
  XXH64_update(ex->hash, src, len);
  st = walk_text(ex, path, src, len, depth);
  free(src);
  return st;
}

static void expander_fini(expander *ex) {
  if (ex->lua_open) kg_lua_fini(&ex->kl);
  for (int i = 0; i < ex->nseen; i++) free(ex->seen[i]);
  if (ex->hash) XXH64_freeState(ex->hash);
  free(ex->out.p);
}

static kg_status expand(expander *ex) {
  if (!(ex->hash = XXH64_createState())) return kg_ctx_set(ex->ctx, KG_ENOMEM, "out of memory");
  XXH64_reset(ex->hash, 0);
  kg_status st = walk(ex, ex->spec->template_path, 0);
  if (st == KG_OK && ex->out.oom) st = kg_ctx_set(ex->ctx, KG_ENOMEM, "out of memory");
  return st;
}

kg_status kg_template_hash(const kg_spec *spec, uint64_t *hash, kg_ctx *ctx) {
  expander ex = {.spec = spec, .ctx = ctx};
  kg_status st = expand(&ex);
  if (st == KG_OK) *hash = XXH64_digest(ex.hash);
  expander_fini(&ex);
  return st;
}

kg_status kg_template_emit(const kg_spec *spec, const int32_t *point, char **src, size_t *len, kg_ctx *ctx) {
  *src = NULL;
  for (int i = 0; i < spec->nparams; i++)
    if (point[i] < 0 || point[i] >= spec->params[i].nvalues)
      return kg_ctx_set(ctx, KG_EINVAL, "parameter %s: value index %d outside 0..%d", spec->params[i].name,
                        (int)point[i], spec->params[i].nvalues - 1);
  expander ex = {.spec = spec, .point = point, .ctx = ctx};
  kg_status st = expand(&ex);
  if (st) {
    expander_fini(&ex);
    return st;
  }
  uint64_t th = XXH64_digest(ex.hash);
  char pt[4096];
  kg_spec_format_point(spec, point, pt, sizeof pt);
  sbuf b = {0};
  sb_printf(&b, "/*\n * Generated by kgen %s; do not edit (regenerate with kgen emit).\n",
#ifdef KG_VERSION
            KG_VERSION
#else
            "?"
#endif
  );
  sb_printf(&b, " * kernel:   %s\n", spec->name);
  sb_printf(&b, " * spec:     %s (xxh64 %016" PRIx64 ")\n", base_name(spec->path), spec->hash);
  sb_printf(&b, " * template: %s (xxh64 %016" PRIx64 ", with its inlined includes)\n", base_name(spec->template_path),
            th);
  sb_printf(&b, " * params:   %s\n */\n", spec->nparams ? pt : "(none)");
  for (int i = 0; i < spec->nparams; i++) {
    const kg_param *p = &spec->params[i];
    if (p->kind == KG_PARAM_INT) {
      int64_t v = p->ivalues[point[i]];
      if (v < 0) sb_printf(&b, "#define %s (%" PRId64 ")\n", p->macro, v);
      else sb_printf(&b, "#define %s %" PRId64 "\n", p->macro, v);
    } else {
      for (int j = 0; j < p->nvalues; j++) sb_printf(&b, "#define %s_%s %d\n", p->macro, p->svalues[j], j);
      sb_printf(&b, "#define %s %s_%s\n", p->macro, p->macro, p->svalues[point[i]]);
    }
  }
  sb_add(&b, "\n", 1);
  sb_add(&b, ex.out.p ? ex.out.p : "", ex.out.n);
  expander_fini(&ex);
  if (b.oom) {
    free(b.p);
    return kg_ctx_set(ctx, KG_ENOMEM, "out of memory");
  }
  *src = b.p;
  if (len) *len = b.n;
  return KG_OK;
}
