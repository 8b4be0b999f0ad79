/*
 * paired_cache_rebuild.h - the Paired Replacement cache's baseline: a full rebuild (every active
 * row gathered from the pools, ascending), shared by paired_cache.c and moe_step.c.  Needs
 * paired_cache_core.h before it.  Threads: the OpenMP default team.
 */
#ifndef KG_PAIRED_CACHE_REBUILD_H
#define KG_PAIRED_CACHE_REBUILD_H

/* ---- the baseline: full rebuild ------------------------------------------------ */

/* Gather every active row of mask nw, ascending, into slots 0..m-1 (capacity reserved). */
static void pc_rebuild(pc_cache *c, const uint8_t *nw) {
  int32_t *list = c->added;
  int64_t m = 0;
  for (int64_t j = 0; j < c->N; j++)
    if (nw[j]) list[m++] = (int32_t)j;
  for (int64_t j = 0; j < c->m; j++) c->slot_of[c->indices[j]] = -1;
#pragma omp parallel for schedule(static)
  for (int64_t j = 0; j < m; j++) {
    float *gu = c->gu + j * (c->gate_cols + c->up_cols);
    if (c->gate) memcpy(gu, c->gate + list[j] * c->gate_cols, sizeof(float) * (size_t)c->gate_cols);
    memcpy(gu + c->gate_cols, c->up + list[j] * c->up_cols, sizeof(float) * (size_t)c->up_cols);
    memcpy(c->down + j * c->hidden, c->down_T + list[j] * c->hidden, sizeof(float) * (size_t)c->hidden);
    c->indices[j] = list[j];
    c->slot_of[list[j]] = (int32_t)j;
  }
  c->m = m;
  memcpy(c->mask, nw, (size_t)c->N);
}

#endif /* KG_PAIRED_CACHE_REBUILD_H */
