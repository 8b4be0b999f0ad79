-- semiring_scan.lua - semi-Markov CRF scans (templates/semiring_scan.c): Log (log partition,
-- marginals), Max (Viterbi score and path), Entropy, on the edge form (edge[B, T-1, K, C, C])
-- and the decomposed form (cum_scores, transition, duration_bias; streaming).
--
-- Problem dimensions: T (boundaries), K (duration slots), C (labels), B (batch), and
--   semiring  0 Log, 1 Max, 2 Entropy
--   phase     0 forward (log Z, Viterbi score, entropy); 1 backward: the marginals from a stored
--             forward (Log, edge form); 2 both: the whole marginals call (Log) or the Viterbi
--             score and its 0/1 indicator (Max)
--   form      0 edge, 1 decomposed
-- Problem names: <semiring>_<phase>[_dec]_T<T>_K<K>_C<C>[_B<B>].
--
-- The grid: T in {128, 256, 512, 1024} x K in {4..24} x C in {3..12} at B = 4, a subset covering
-- every (T, K*C bucket) pair (K*C <= 24, <= 72, > 72) and the corners; every semiring and phase
-- on the target shape T = 1024, K = 16, C = 12; the decomposed form on the same shape and on the
-- long sequence T = 100,000, K = 500, C = 24, B = 1 (log Z in O(K C) state).
--
-- Metrics: one (b, n, k, c, c') element is an add and a semiring sum, so flops = 2 x elements
-- (ns per element = 2 / GFLOP/s; bench/semiring_scan.sh prints it); bytes: the edge tensor read
-- (plus the marginals or indicator written), or the decomposed inputs.

local SR = { log = 0, max = 1, ent = 2 }
local PHASE = { fwd = 0, bwd = 1, both = 2 }

local function edge(sr, ph, T, K, C, B)
  B = B or 4
  return problem(string.format("%s_%s_T%d_K%d_C%d", sr, ph, T, K, C) .. (B ~= 4 and "_B" .. B or "")) {
    T = T, K = K, C = C, B = B, semiring = SR[sr], phase = PHASE[ph], form = 0 }
end

local function dec(sr, ph, T, K, C, B)
  return problem(string.format("%s_%s_dec_T%d_K%d_C%d_B%d", sr, ph, T, K, C, B)) {
    T = T, K = K, C = C, B = B, semiring = SR[sr], phase = PHASE[ph], form = 1 }
end

return kernel "semiring_scan" {
  description = "semi-Markov CRF semiring scans (Log, Max, Entropy; forward, marginals, Viterbi)",
  template = "semiring_scan.c",
  params = {
    vec     = enum { "cp", "c" },       -- lanes over c' (rows + transpose-tree reduction) or over c (gathered columns)
    scan    = enum { "prob", "log" },   -- Log and Entropy forward: scaled probability space or log space
    threads = values(thread_counts()),  -- OpenMP threads over the batch (1, 2, 4, ..., cores); decomposed log Z with B < threads: over c
  },
  roles = { threads = "threads" },
  problems = {
    -- Log forward over the grid: per T, one shape in each K*C bucket, with the corners
    edge("log", "fwd", 128, 4, 3), edge("log", "fwd", 128, 8, 9), edge("log", "fwd", 128, 24, 12),
    edge("log", "fwd", 256, 12, 3), edge("log", "fwd", 256, 16, 6), edge("log", "fwd", 256, 20, 9),
    edge("log", "fwd", 512, 4, 6), edge("log", "fwd", 512, 12, 6), edge("log", "fwd", 512, 24, 9),
    edge("log", "fwd", 1024, 4, 3), edge("log", "fwd", 1024, 8, 3), edge("log", "fwd", 1024, 4, 12),
    edge("log", "fwd", 1024, 24, 12),
    -- every semiring and phase on the target shape
    edge("log", "fwd", 1024, 16, 12), edge("log", "bwd", 1024, 16, 12), edge("log", "both", 1024, 16, 12),
    edge("max", "fwd", 1024, 16, 12), edge("max", "both", 1024, 16, 12),
    edge("ent", "fwd", 1024, 16, 12),
    edge("max", "fwd", 128, 4, 3), edge("ent", "fwd", 256, 20, 9),
    -- the decomposed form
    dec("log", "fwd", 1024, 16, 12, 4), dec("log", "both", 1024, 16, 12, 4),
    dec("max", "fwd", 1024, 16, 12, 4), dec("ent", "fwd", 1024, 16, 12, 4),
    dec("log", "fwd", 100000, 500, 24, 1),
  },
  metrics = {
    flops = function(d) return 2 * d.B * (d.T - 1) * d.K * d.C * d.C end,
    bytes = function(d)
      if d.form == 1 then return 4 * d.B * d.T * d.C + 4 * d.C * (d.C + d.K) end
      local e = 4 * d.B * (d.T - 1) * d.K * d.C * d.C
      return d.phase == 0 and e or 2 * e
    end,
  },
  -- The template applies the issue's bounds itself (kg_verify): |d log Z| <= 1e-4 max(1, |log Z|),
  -- marginals 1e-4 absolute, H 1e-4 relative, Viterbi path optimal.
  tolerance = { rtol = 1e-4, atol = 1e-4 },
  reference = "scalar double-precision pull recursions (ss_ref_* in templates/semiring_scan.c)",
  baselines = { "scalar32", "vec32" },
  baseline_threads = { scalar32 = 1, vec32 = 1 },
}
