/*
 * kg_search_space.c - valid-point sets as sorted mixed-radix codes; neighbours by binary search.
 */
#include <stdlib.h>
#include <string.h>

#include "kg_search.h"

static int kg_code_cmp(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return (x > y) - (x < y);
}

kg_status kg_search_space_new(int ndims, const int32_t *card, size_t npoints, const int32_t *points,
                              kg_search_space **out, kg_ctx *ctx) {
  *out = NULL;
  kg_status st = KG_ENOMEM;
  if (ndims < 1 || npoints < 1)
    return kg_ctx_set(ctx, KG_EINVAL, "search space: %d dimensions, %zu points (need >= 1 of each)", ndims, npoints);
  kg_search_space *sp = calloc(1, sizeof *sp);
  if (!sp) return kg_ctx_set(ctx, KG_ENOMEM, "search space: out of memory");
  sp->ndims = ndims;
  sp->card = malloc(sizeof *sp->card * (size_t)ndims);
  sp->radix = malloc(sizeof *sp->radix * (size_t)ndims);
  sp->codes = malloc(sizeof *sp->codes * npoints);
  if (!sp->card || !sp->radix || !sp->codes) goto nomem;
  uint64_t r = 1;
  for (int d = ndims - 1; d >= 0; d--) {
    if (card[d] < 1) {
      st = kg_ctx_set(ctx, KG_EINVAL, "search space: dimension %d has %d values", d, card[d]);
      goto fail;
    }
    sp->card[d] = card[d];
    sp->radix[d] = r;
    if (r > (UINT64_C(1) << 62) / (uint64_t)card[d]) {
      st = kg_ctx_set(ctx, KG_EINVAL, "search space: the product of the %d dimensions' sizes exceeds 2^62", ndims);
      goto fail;
    }
    r *= (uint64_t)card[d];
  }
  for (size_t i = 0; i < npoints; i++) {
    uint64_t c = 0;
    for (int d = 0; d < ndims; d++) {
      int32_t v = points[i * (size_t)ndims + (size_t)d];
      if (v < 0 || v >= card[d]) {
        st = kg_ctx_set(ctx, KG_EINVAL, "search space: point %zu has value index %d in dimension %d (of %d values)", i,
                        v, d, card[d]);
        goto fail;
      }
      c += (uint64_t)v * sp->radix[d];
    }
    sp->codes[i] = c;
  }
  qsort(sp->codes, npoints, sizeof *sp->codes, kg_code_cmp);
  size_t n = 0;
  for (size_t i = 0; i < npoints; i++)
    if (n == 0 || sp->codes[n - 1] != sp->codes[i]) sp->codes[n++] = sp->codes[i];
  sp->npoints = n;
  sp->points = malloc(sizeof *sp->points * n * (size_t)ndims);
  if (!sp->points) goto nomem;
  for (size_t i = 0; i < n; i++)
    for (int d = 0; d < ndims; d++)
      sp->points[i * (size_t)ndims + (size_t)d] = (int32_t)((sp->codes[i] / sp->radix[d]) % (uint64_t)card[d]);
  *out = sp;
  return KG_OK;
nomem:
  st = kg_ctx_set(ctx, KG_ENOMEM, "search space: out of memory (%zu points)", npoints);
fail:
  kg_search_space_free(sp);
  return st;
}

void kg_search_space_free(kg_search_space *sp) {
  if (!sp) return;
  free(sp->card);
  free(sp->radix);
  free(sp->codes);
  free(sp->points);
  free(sp);
}

long kg_search_space_find_code(const kg_search_space *sp, uint64_t code) {
  const uint64_t *hit = bsearch(&code, sp->codes, sp->npoints, sizeof code, kg_code_cmp);
  return hit ? (long)(hit - sp->codes) : -1;
}

long kg_search_space_find(const kg_search_space *sp, const int32_t *point) {
  uint64_t c = 0;
  for (int d = 0; d < sp->ndims; d++) {
    if (point[d] < 0 || point[d] >= sp->card[d]) return -1;
    c += (uint64_t)point[d] * sp->radix[d];
  }
  return kg_search_space_find_code(sp, c);
}

size_t kg_search_space_hamming(const kg_search_space *sp, size_t i, long *out, size_t cap) {
  const int32_t *p = kg_search_space_point(sp, i);
  uint64_t code = sp->codes[i];
  size_t n = 0;
  for (int d = 0; d < sp->ndims; d++) {
    uint64_t base = code - (uint64_t)p[d] * sp->radix[d];
    for (int32_t v = 0; v < sp->card[d]; v++) {
      if (v == p[d]) continue;
      long j = kg_search_space_find_code(sp, base + (uint64_t)v * sp->radix[d]);
      if (j < 0) continue;
      if (n < cap) out[n] = j;
      n++;
    }
  }
  return n;
}

size_t kg_search_space_adjacent(const kg_search_space *sp, size_t i, long *out, size_t cap) {
  const int32_t *p = kg_search_space_point(sp, i);
  uint64_t code = sp->codes[i];
  size_t n = 0;
  for (int d = 0; d < sp->ndims; d++) {
    long j;
    if (p[d] > 0 && (j = kg_search_space_find_code(sp, code - sp->radix[d])) >= 0) {
      if (n < cap) out[n] = j;
      n++;
    }
    if (p[d] + 1 < sp->card[d] && (j = kg_search_space_find_code(sp, code + sp->radix[d])) >= 0) {
      if (n < cap) out[n] = j;
      n++;
    }
  }
  return n;
}

int kg_search_space_distance(const kg_search_space *sp, size_t i, size_t j) {
  const int32_t *a = kg_search_space_point(sp, i), *b = kg_search_space_point(sp, j);
  int n = 0;
  for (int d = 0; d < sp->ndims; d++) n += a[d] != b[d];
  return n;
}
