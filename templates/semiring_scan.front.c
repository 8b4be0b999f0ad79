/*
 * semiring_scan.front.c - the shipped library's kgen_semimarkov_*: each scan checks the call,
 * asks the dispatch runtime (kgen_rt.h) for the variant of its key (B, T, K, C, semiring, phase,
 * form: the spec's problem dimensions) and calls that variant's function of the same name.
 * `kgen ship` prepends KGV_LIST(X) and KGV_TABLE.  Regimes: semiring (0 Log, 1 Max, 2 Entropy),
 * phase (0 the score alone, 2 with the marginals or the Viterbi path) and form (0 edge, 1
 * decomposed) must match a tuned problem's; B, T, K, C count in log2 distance.  The functions
 * that depend on no tunable: kgen_semimarkov_strerror runs in the first variant (portable),
 * kgen_semimarkov_checkpoint_bytes sets every variant's threshold.
 */
#include <kgen/kgen.h>

#include "kgen_rt.h"

/* Every entry point of a variant, declared (the same types as kgen/kgen.h's) and tabled. */
#define SM_FUNCS(X, p)                                                                             \
  X(p, logpartition) X(p, marginals) X(p, viterbi) X(p, viterbi_segments) X(p, entropy)            \
  X(p, logpartition_decomposed) X(p, marginals_decomposed) X(p, viterbi_decomposed)               \
  X(p, viterbi_segments_decomposed) X(p, entropy_decomposed) X(p, strerror) X(p, checkpoint_bytes)
#define SM_DECL(p, f) __typeof__(kgen_semimarkov_##f) p##kgen_semimarkov_##f;
#define KGV_DECL(i, p) SM_FUNCS(SM_DECL, p)
KGV_LIST(KGV_DECL)

#define SM_FIELD(p, f) __typeof__(kgen_semimarkov_##f) *f;
typedef struct sm_variant {
  SM_FUNCS(SM_FIELD, )
} sm_variant;
#define SM_INIT(p, f) p##kgen_semimarkov_##f,
#define KGV_FNS(i, p) {SM_FUNCS(SM_INIT, p)},
static const sm_variant sm_v[] = {KGV_LIST(KGV_FNS)};

/* The key: B, T, K, C (log2 distance), semiring, phase, form (must match: the regime). */
enum { SM_LOG = 0, SM_MAX = 1, SM_ENT = 2, SM_SCORE = 0, SM_WITH = 2, SM_EDGE = 0, SM_DEC = 1 };
static int64_t sm_regime(const int64_t *key) { return key[4] + 3 * key[5] + 9 * key[6]; }
static const char *const sm_key[] = {"B", "T", "K", "C", "semiring", "phase", "form"};
static const unsigned char sm_log2[] = {1, 1, 1, 1, 0, 0, 0};
static const kgr_front sm_front = {7, sm_key, sm_log2, sm_regime};

/* The variant of fn's call into *v: 0, or the status with the error set (a bad size, no variant). */
static int sm_choose(const char *fn, int64_t B, int64_t T, int64_t K, int64_t C, int sr, int phase, int form, int *v) {
  if (B < 1 || T < 1 || K < 1 || C < 1)
    return kgr_fail(KGEN_SEMIMARKOV_EARG, "%s: B, T, K and C must be >= 1 (B %lld, T %lld, K %lld, C %lld)", fn,
                    (long long)B, (long long)T, (long long)K, (long long)C);
  const int64_t key[7] = {B, T, K, C, sr, phase, form};
  *v = kgr_choose(&KGV_TABLE, &sm_front, key);
  return *v < 0 ? KGEN_SEMIMARKOV_ENOVARIANT : 0;
}

/* fn's status from variant v's rc, the message recorded. */
static int sm_status(const char *fn, int v, int rc) {
  return rc ? kgr_fail(rc, "%s: %s (variant %s)", fn, sm_v[0].strerror(rc), KGV_TABLE.variants[v].prefix) : 0;
}

/* The body of kgen_semimarkov_<fn>: choose the variant for (sr, phase, form) and the sizes, call it. */
#define SM_CALL(fn, sr, phase, form, ...)                                                          \
  int v, st = sm_choose("kgen_semimarkov_" #fn, B, T, K, C, sr, phase, form, &v);                  \
  return st ? st : sm_status("kgen_semimarkov_" #fn, v, sm_v[v].fn(B, T, K, C, __VA_ARGS__))

int kgen_semimarkov_logpartition(int64_t B, int64_t T, int64_t K, int64_t C, const float *edge,
                                 const int64_t *lengths, float *logZ) {
  SM_CALL(logpartition, SM_LOG, SM_SCORE, SM_EDGE, edge, lengths, logZ);
}

int kgen_semimarkov_marginals(int64_t B, int64_t T, int64_t K, int64_t C, const float *edge,
                              const int64_t *lengths, float *logZ, float *marginals) {
  SM_CALL(marginals, SM_LOG, SM_WITH, SM_EDGE, edge, lengths, logZ, marginals);
}

int kgen_semimarkov_viterbi(int64_t B, int64_t T, int64_t K, int64_t C, const float *edge,
                            const int64_t *lengths, float *score, float *indicator) {
  SM_CALL(viterbi, SM_MAX, indicator ? SM_WITH : SM_SCORE, SM_EDGE, edge, lengths, score, indicator);
}

int kgen_semimarkov_viterbi_segments(int64_t B, int64_t T, int64_t K, int64_t C, const float *edge,
                                     const int64_t *lengths, float *score, int64_t *segments, int64_t *nsegments) {
  SM_CALL(viterbi_segments, SM_MAX, SM_WITH, SM_EDGE, edge, lengths, score, segments, nsegments);
}

int kgen_semimarkov_entropy(int64_t B, int64_t T, int64_t K, int64_t C, const float *edge,
                            const int64_t *lengths, float *logZ, float *entropy) {
  SM_CALL(entropy, SM_ENT, SM_SCORE, SM_EDGE, edge, lengths, logZ, entropy);
}

int kgen_semimarkov_logpartition_decomposed(int64_t B, int64_t T, int64_t K, int64_t C, const float *cum_scores,
                                            const float *transition, const float *duration_bias,
                                            const int64_t *lengths, float *logZ) {
  SM_CALL(logpartition_decomposed, SM_LOG, SM_SCORE, SM_DEC, cum_scores, transition, duration_bias, lengths, logZ);
}

int kgen_semimarkov_marginals_decomposed(int64_t B, int64_t T, int64_t K, int64_t C, const float *cum_scores,
                                         const float *transition, const float *duration_bias,
                                         const int64_t *lengths, float *logZ, float *grad_cum,
                                         float *grad_transition, float *grad_duration_bias) {
  SM_CALL(marginals_decomposed, SM_LOG, SM_WITH, SM_DEC, cum_scores, transition, duration_bias, lengths, logZ,
          grad_cum, grad_transition, grad_duration_bias);
}

int kgen_semimarkov_viterbi_decomposed(int64_t B, int64_t T, int64_t K, int64_t C, const float *cum_scores,
                                       const float *transition, const float *duration_bias,
                                       const int64_t *lengths, float *score, float *indicator) {
  SM_CALL(viterbi_decomposed, SM_MAX, indicator ? SM_WITH : SM_SCORE, SM_DEC, cum_scores, transition, duration_bias,
          lengths, score, indicator);
}

int kgen_semimarkov_viterbi_segments_decomposed(int64_t B, int64_t T, int64_t K, int64_t C, const float *cum_scores,
                                                const float *transition, const float *duration_bias,
                                                const int64_t *lengths, float *score, int64_t *segments,
                                                int64_t *nsegments) {
  SM_CALL(viterbi_segments_decomposed, SM_MAX, SM_WITH, SM_DEC, cum_scores, transition, duration_bias, lengths,
          score, segments, nsegments);
}

int kgen_semimarkov_entropy_decomposed(int64_t B, int64_t T, int64_t K, int64_t C, const float *cum_scores,
                                       const float *transition, const float *duration_bias,
                                       const int64_t *lengths, float *logZ, float *entropy) {
  SM_CALL(entropy_decomposed, SM_ENT, SM_SCORE, SM_DEC, cum_scores, transition, duration_bias, lengths, logZ,
          entropy);
}

const char *kgen_semimarkov_strerror(int code) {
  return code == KGEN_SEMIMARKOV_ENOVARIANT ? "no usable variant for this CPU" : sm_v[0].strerror(code);
}

/* Every variant keeps its own threshold: set them all (a plain store, as the runtime's
 * kg_set_thread_cap calls of every variant). */
size_t kgen_semimarkov_checkpoint_bytes(size_t bytes) {
  const size_t old = sm_v[0].checkpoint_bytes(bytes);
  for (size_t v = 1; v < sizeof sm_v / sizeof sm_v[0]; v++) sm_v[v].checkpoint_bytes(bytes);
  return old;
}
