-- Paired Replacement weight cache (sparse / MoE inference): the main job.
--
-- One kg_run is one cache update to the next mask of a precomputed chain (k/2 rows off, k/2 on).
-- The paired update writes max(|added|, |removed|) = k/2 rows; the baseline gathers all m.
-- The hybrid (tau > 0) is a tunable: it rebuilds instead when k > tau% of m.
-- See templates/paired_cache.c for the algorithm, the buffer layouts and the verification.

-- The AVX-512 row copies (a 4-vector loop, non-temporal stores) only where the machine has AVX-512:
-- elsewhere the template compiles both to a scalar loop.
local COPIES = machine.isa.avx512f and { "memcpy", "loop", "nt" } or { "memcpy" }

local base = { N = 8192, hidden = 1024, up_cols = 1024, m = 1024 }

local function shape(name, k, gate_cols)
  local d = { k = k, gate_cols = gate_cols }
  for key, v in pairs(base) do d[key] = v end
  return problem(name)(d)
end

return kernel "paired_cache" {
  description = "Paired Replacement weight cache update (MoE row cache): paired slot reuse vs full rebuild",
  template = "paired_cache.c",
  params = {
    threads   = values(thread_counts()),              -- OpenMP threads of the pair loop: 1, 2, 4, ..., cores
    grain     = values { 16, 4, 64 },                 -- pairs per OpenMP chunk
    schedule  = enum { "static", "dynamic" },         -- OpenMP schedule of the pair loop
    threshold = values { 8, 32, 128 },                -- run in parallel only from this many pairs
    copy      = enum(COPIES),                         -- row copy: libc, AVX-512 loop, non-temporal stores
    prefetch  = values { 0, 4 },                      -- software prefetch distance, in pairs
    tau       = values { 0, 50 },                     -- hybrid: rebuild when k > tau% of m (0: never)
  },
  constraints = {
    -- With one thread the OpenMP knobs do nothing: keep them at their defaults.
    function(p)
      return p.threads > 1 or (p.grain == 16 and p.schedule == "static" and p.threshold == 8)
    end,
    -- The hybrid's rebuild path copies with memcpy and does not prefetch.
    function(p) return p.tau == 0 or (p.copy == "memcpy" and p.prefetch == 0) end,
  },
  problems = {
    shape("k16", 16, 0), shape("k64", 64, 0), shape("k256", 256, 0), shape("k1024", 1024, 0),
    shape("gate_k16", 16, 1024), shape("gate_k64", 64, 1024),
    shape("gate_k256", 256, 1024), shape("gate_k1024", 1024, 1024),
  },
  metrics = {
    -- Rows written by the paired update: max(|added|, |removed|) = k/2; each is read from the
    -- pools and written to the cache (gate, up and down rows).  The mask scan (2N bytes) is
    -- left out.
    bytes = function(d) return (d.k // 2) * (d.gate_cols + d.up_cols + d.hidden) * 4 * 2 end,
  },
  tolerance = { rtol = 0, atol = 0 },   -- copies are exact
  reference = "scalar sequential paired update in templates/paired_cache.c (exact slot order)",
  baselines = { "full_rebuild" },
  roles = { threads = "threads" },
}
