/* kg_spec_set.c - points as text: --set "a=1,b=2" parsing and formatting (kg_spec.h). */

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "kg_spec_internal.h"

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
    if (spec->sampled) /* it may be valid: a sampled space holds only its sample (kg_spec.h) */
      return kg_ctx_set(ctx, KG_EINVAL,
                        "%s is not among the %zu sampled points of spec '%s' (its space is too large to enumerate)", pt,
                        spec->npoints, spec->name);
    return kg_ctx_set(ctx, KG_EINVAL, "%s violates the constraints of spec '%s'", pt, spec->name);
  }
  return KG_OK;
}
