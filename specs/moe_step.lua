-- The end-to-end MoE layer step over the Paired Replacement weight cache (the Paired Replacement
-- project's end-to-end simulation): gating logits X . W_g^T, the top-m rows of the logits
-- max-pooled over the batch, the paired cache update to that mask, Y = (X . down_active^T) .
-- concat_active.  One kg_run is one step of a precomputed input sequence (walked forwards and
-- back); the baseline `rebuild` is the same step with the active rows gathered afresh.
-- See templates/moe_step.c for the algorithm, the exactness rules and the verification.

-- The cache's row copies as paired_cache.lua offers them (AVX-512 loops only where there is AVX-512).
local COPIES = machine.isa.avx512f and { "memcpy", "loop", "nt" } or { "memcpy" }

-- gemm_ukr.h's tiles for Y (as gemm.lua offers them): AVX-512 where there is AVX-512, else AVX2.
local UKR = machine.isa.avx512f and { vw = 16, max_acc = 28, mr = { 4, 8, 16 }, nr = { 64, 32, 16 } }
  or { vw = 8, max_acc = 14, mr = { 4, 8 }, nr = { 16, 24 } }

-- Tile accumulators (gating gb x gnv, Y mb x ynv vectors of the machine's width: 16 floats with
-- AVX-512's 32 registers, 8 with AVX2's 16) fit the registers with room for the loads.
local MAX_ACC = machine.isa.avx512f and 24 or 12

local base = { N = 8192, hidden = 1024, up_cols = 1024, gate_cols = 0, m = 1024, batch = 16, steps = 50 }

local function step(name, over)
  local d = {}
  for key, v in pairs(base) do d[key] = v end
  for key, v in pairs(over) do d[key] = v end
  return problem(name)(d)
end

return kernel "moe_step" {
  description = "MoE layer step: gating, top-m selection, paired cache update, the two matmuls",
  template = "moe_step.c",
  params = {
    select   = enum { "quickselect", "partial_sort", "histogram" }, -- top-m selection
    gb       = values { 4, 8, 2 },                -- gating tile: batch rows
    gnv      = values { 3, 4, 2 },                -- gating tile: column vectors (16 or 8 floats; the
                                                  -- cache's PREFETCH and gemm_ukr.h's KU stay at
                                                  -- their defaults, 0 and 4)
    mb       = values { 4, 8 },                   -- matmul tiles: batch rows (H: 24/mb slots per tile, 12/mb with AVX2)
    ynv      = values { 2, 4 },                   -- Y tile: column vectors (16 or 8 floats)
    ymm      = enum { "blocked", "ukr" },         -- Y = H . concat: the blocked kernel or gemm's microkernel
    mr       = values(UKR.mr),                    -- gemm_ukr.h microkernel rows (ymm = ukr)
    nr       = values(UKR.nr),                    -- gemm_ukr.h microkernel columns (ymm = ukr)
    threads  = values(thread_counts()),           -- OpenMP threads of every parallel phase
    copy     = enum(COPIES),                      -- the cache's row copy (paired_cache.lua)
    tau      = values { 0, 50 },                  -- the cache's hybrid: rebuild when k > tau% of m
  },
  constraints = {
    -- accumulators fit the vector registers with room for the loads
    function(p) return p.gb * p.gnv <= MAX_ACC end,
    function(p) return p.mb * p.ynv <= MAX_ACC end,
    -- the microkernel's accumulators fit the vector registers (gemm.lua's rule)
    function(p) return p.nr % UKR.vw == 0 and p.mr * p.nr // UKR.vw <= UKR.max_acc end,
    -- each Y path leaves the other's tile at its defaults
    function(p) return p.ymm == "ukr" or (p.mr == UKR.mr[1] and p.nr == UKR.nr[1]) end,
    function(p) return p.ymm == "blocked" or p.ynv == 2 end,
    -- the hybrid's rebuild path copies with memcpy (paired_cache.lua)
    function(p) return p.tau == 0 or p.copy == "memcpy" end,
  },
  problems = {
    step("rho0", { rho = 0 }),          -- inputs drawn afresh each step: the active set churns
    step("rho90", { rho = 90 }),        -- drifting inputs X_t = 0.9 X_{t-1} + sqrt(1 - 0.81) noise
    step("rho99", { rho = 99 }),        -- sticky active set: the paired update should pay
  },
  metrics = {
    -- gating, H and Y: 2 flops per multiply-add
    flops = function(d)
      return 2 * d.batch * (d.N * d.hidden + d.m * d.hidden + d.m * (d.gate_cols + d.up_cols))
    end,
  },
  tolerance = { rtol = 0, atol = 0 },   -- the template's own: exact active sets, Y within the GEMM bound
  reference = "FMA-chain logits from W_g, top-m by a full sort, Y in double (kg_prepare in templates/moe_step.c)",
  baselines = { "rebuild" },
  roles = { threads = "threads" },
}
