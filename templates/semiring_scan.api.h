/* semiring_scan: the public API of templates/semiring_scan.c (part of kgen/kgen.h). */
#ifdef __cplusplus
extern "C" {
#endif

/*
 * Semi-Markov CRFs: sequences of T boundaries (lengths[b] of them used by sequence b), C labels,
 * segment durations d = 1..D with D = max(K-1, 1), duration slot s(d) = min(d, K-1) (K = 1: slot
 * 0 stands for duration 1).  Scores are natural-log potentials, float32, row-major.
 *   Edge form:       edge[B, T-1, K, C, C]: edge[b, n, s(d), c, c'] scores a segment that starts at
 *                    boundary n, lasts d, has label c and follows a segment labelled c'.
 *   Decomposed form: cum_scores[B, T, C] (prefix sums of per-position label scores; only
 *                    differences enter, cum_scores[b, 0, :] = 0 by convention), transition[C, C]
 *                    (transition[c', c]: from c' to c), duration_bias[K, C]; the edge they stand
 *                    for is cum[n+d, c] - cum[n, c] + duration_bias[s(d), c] + transition[c', c],
 *                    never built whole.
 *   lengths[B] (int64): boundaries of each sequence, 1 <= lengths[b] <= T; a sequence of L
 *   boundaries is covered by segments from boundary 0 to L-1.  Outputs are per sequence b.
 * Every function is thread-safe (kgen_semimarkov_checkpoint_bytes aside), keeps no pointer after it
 * returns (inputs are read, outputs written, during the call only; the caller allocates both),
 * and returns 0 or a KGEN_SEMIMARKOV_E* code below (its own codes, not the KGEN_E* ones), named
 * by kgen_semimarkov_strerror, with the reason in kgen_last_error(); outputs are unspecified after
 * an error.  The library runs the variant tuned for the nearest (B, T, K, C) of the same
 * semiring, phase (score only, or with marginals or a path) and form.
 */
#define KGEN_SEMIMARKOV_EARG 1       /* B, T, K or C < 1, or a NULL array */
#define KGEN_SEMIMARKOV_ELENGTH 2    /* a lengths[b] outside [1, T] */
#define KGEN_SEMIMARKOV_ENAN 3       /* NaN in the scores a sequence reads */
#define KGEN_SEMIMARKOV_ENOMEM 4     /* out of memory */
#define KGEN_SEMIMARKOV_ENOVARIANT 5 /* no variant this CPU can run (library dispatch) */

/** Log partition function: logZ[B] = log of the sum over segmentations of exp(total score). */
int kgen_semimarkov_logpartition(int64_t B, int64_t T, int64_t K, int64_t C, const float *edge,
                                 const int64_t *lengths, float *logZ);

/** logZ[B] and the marginals d logZ[b] / d edge, marginals[B, T-1, K, C, C] (edge's shape; the
 *  probability that each segment is in the segmentation, 0 where unused).  Working memory: log
 *  alpha of every boundary (T ceil16(C) floats per thread) up to the kgen_semimarkov_checkpoint_bytes
 *  threshold, beyond it O(sqrt(T K) C) floats and one more forward pass. */
int kgen_semimarkov_marginals(int64_t B, int64_t T, int64_t K, int64_t C, const float *edge,
                              const int64_t *lengths, float *logZ, float *marginals);

/** Viterbi: score[B], the best segmentation's total score, and, when indicator is not NULL, that
 *  segmentation as a 0/1 tensor of the edge's shape [B, T-1, K, C, C].  Ties: the smaller
 *  duration, then the smaller c' (and, for the last label, the smaller c). */
int kgen_semimarkov_viterbi(int64_t B, int64_t T, int64_t K, int64_t C, const float *edge,
                            const int64_t *lengths, float *score, float *indicator);

/** Viterbi as a list: score[B], segments[B, T-1, 3] (int64 start boundary, duration, label) and
 *  nsegments[B]: sequence b's nsegments[b] segments in order from boundary 0 to lengths[b] - 1
 *  (the rest of its T-1 rows untouched).  The same path as kgen_semimarkov_viterbi's indicator. */
int kgen_semimarkov_viterbi_segments(int64_t B, int64_t T, int64_t K, int64_t C, const float *edge,
                                     const int64_t *lengths, float *score, int64_t *segments, int64_t *nsegments);

/** logZ[B] and entropy[B], the entropy of the distribution over segmentations (nats). */
int kgen_semimarkov_entropy(int64_t B, int64_t T, int64_t K, int64_t C, const float *edge,
                            const int64_t *lengths, float *logZ, float *entropy);

/** Decomposed logZ[B]: the factorised scan, O(K C) exps per position and O(K C) floats of state
 *  (streaming: T = 100,000 with K = 500 needs no edge tensor).  NaN in transition,
 *  duration_bias or the cum_scores rows a sequence reads: KGEN_SEMIMARKOV_ENAN. */
int kgen_semimarkov_logpartition_decomposed(int64_t B, int64_t T, int64_t K, int64_t C, const float *cum_scores,
                                            const float *transition, const float *duration_bias,
                                            const int64_t *lengths, float *logZ);

/** Decomposed marginals: logZ[B] and the gradients of sum_b logZ[b] with respect to cum_scores
 *  (grad_cum[B, T, C]), transition (grad_transition[C, C]) and duration_bias
 *  (grad_duration_bias[K, C]); the last two summed over the batch.  Working memory: one edge slab
 *  (K C C floats) and log alpha of every boundary per thread. */
int kgen_semimarkov_marginals_decomposed(int64_t B, int64_t T, int64_t K, int64_t C, const float *cum_scores,
                                         const float *transition, const float *duration_bias,
                                         const int64_t *lengths, float *logZ, float *grad_cum,
                                         float *grad_transition, float *grad_duration_bias);

/** Decomposed Viterbi: score[B] and, when not NULL, indicator[B, T-1, K, C, C] (as the edge form). */
int kgen_semimarkov_viterbi_decomposed(int64_t B, int64_t T, int64_t K, int64_t C, const float *cum_scores,
                                       const float *transition, const float *duration_bias,
                                       const int64_t *lengths, float *score, float *indicator);

/** Decomposed Viterbi as a list: score[B], segments[B, T-1, 3], nsegments[B] (as the edge form). */
int kgen_semimarkov_viterbi_segments_decomposed(int64_t B, int64_t T, int64_t K, int64_t C, const float *cum_scores,
                                                const float *transition, const float *duration_bias,
                                                const int64_t *lengths, float *score, int64_t *segments,
                                                int64_t *nsegments);

/** Decomposed entropy: logZ[B] and entropy[B] (nats). */
int kgen_semimarkov_entropy_decomposed(int64_t B, int64_t T, int64_t K, int64_t C, const float *cum_scores,
                                       const float *transition, const float *duration_bias,
                                       const int64_t *lengths, float *logZ, float *entropy);

/** A static message for a status of the kgen_semimarkov_* functions ("unknown error" otherwise). */
const char *kgen_semimarkov_strerror(int code);

/** Set the alpha store size (bytes per thread, T * ceil16(C) * 4) above which the marginals
 *  checkpoint (default 4 MiB: T > 65536 for C <= 16; 0: always), for every variant; returns the
 *  previous value.  Process-wide and not synchronised: set it before calling from several
 *  threads.  The marginals are the same either way. */
size_t kgen_semimarkov_checkpoint_bytes(size_t bytes);

#ifdef __cplusplus
}
#endif
