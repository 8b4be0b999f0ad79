/* paired_cache: the public API of templates/paired_cache.c (part of kgen/kgen.h). */
#ifdef __cplusplus
extern "C" {
#endif

/** Paired Replacement weight cache (opaque). */
typedef struct kgen_paired_cache kgen_paired_cache;

/** An empty cache (m = 0) over pools borrowed for its lifetime: up[N,up_cols], down_t[N,hidden]
 *  (the down projection [hidden,N], transposed), gate[N,gate_cols] or NULL (gate_cols 0).
 *  NULL on a bad size or pool or no memory, with the reason in kgen_last_error(). */
kgen_paired_cache *kgen_paired_cache_new(int64_t N, int64_t hidden, int64_t up_cols, int64_t gate_cols,
                                         const float *up, const float *down_t, const float *gate);

/** Update to mask[N] (values 0 or 1): added = new AND NOT old, removed = old AND NOT new, both
 *  ascending; removed[i]'s slot takes added[i]; leftover additions are appended; each leftover
 *  removal (ascending) moves the last row into its slot.  The same slot order for any variant.
 *  KGEN_EINVAL on NULL or a mask value other than 0/1 (cache unchanged); KGEN_ENOMEM. */
int kgen_paired_cache_update(kgen_paired_cache *c, const uint8_t *mask);

/** m, the active rows. */
int64_t kgen_paired_cache_size(const kgen_paired_cache *c);
/** [m, gate_cols + up_cols]: each slot's gate row then up row; valid until the next update. */
const float *kgen_paired_cache_concat(const kgen_paired_cache *c);
/** [m, hidden]: each slot's down_t row. */
const float *kgen_paired_cache_down_t(const kgen_paired_cache *c);
/** [m]: the pool row held by each slot. */
const int32_t *kgen_paired_cache_indices(const kgen_paired_cache *c);
/** Free c (NULL: nothing); the pools stay the caller's. */
void kgen_paired_cache_free(kgen_paired_cache *c);

#ifdef __cplusplus
}
#endif
