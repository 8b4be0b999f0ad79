-- Fused linear layers (issue 15): Y = act(X W^T + b), and LayerNorm + Linear + act (the torchao
-- microbenchmarks' `ln_linear_<act>` model types) with the LayerNorm fused into the GEMM's
-- A-packing; see templates/fusion_linear.c.  X[m, k], W[n, k] (PyTorch's nn.Linear weight),
-- b[n], Y[m, n], row-major fp32; LN over the k input features with eps 1e-5 and an affine
-- gamma[k], beta[k].
--
-- Problem dimensions: m, k, n; act (templates/kg_act.h: 0 none, 1 relu, 2 gelu_tanh, 3 gelu_erf,
-- 4 silu, 5 sigmoid, 6 leakyrelu (slope 0.01), 7 relu6, 8 hardswish); ln (1: LayerNorm first).
-- Tunables: gemm's that matter here (register tile, blocking, threads) and where the epilogue
-- (bias + activation) runs: `epi` = store (on the accumulators in the microkernel, before the
-- store) or pass (a pass over each finished MR x NR tile while it is in L1).
-- Baselines, same run: unfused (kgen's own packed GEMM, gemm_ukr.h, then a bias pass and an
-- activation pass over Y; LN as its own pass writing the normalized X), openblas_unfused (OpenBLAS
-- sgemm then the same passes), onednn (oneDNN matmul with a bias and the eltwise post-op; LN as
-- oneDNN's layer_normalization primitive, then the matmul), with 1 and 2 threads.

local AVX512 = machine.isa.avx512f == true
local TILES = AVX512 and { vw = 16, max_acc = 28, mr = { 6, 8, 12, 4 }, nr = { 64, 32, 48 } }
  or { vw = 8, max_acc = 14, mr = { 6, 4, 12 }, nr = { 16, 24, 32 } }

local ACTS = { "none", "relu", "gelu_tanh", "gelu_erf", "silu", "sigmoid", "leakyrelu", "relu6", "hardswish" }
local ACT = {}
for i, a in ipairs(ACTS) do ACT[a] = i - 1 end

-- Problems: "<pattern>_m<m>_k<k>_n<n>", pattern linear_<act> or ln_linear_<act>.
local function set(pattern, act, ln, list)
  return shapes.custom(list, { prefix = pattern .. "_", act = ACT[act], ln = ln })
end
local SEED = { { 512, 1024, 1024 } }        -- the seed's shape
local DECODE = { { 1, 4096, 4096 }, { 16, 4096, 4096 } }
local problems = {}
for _, a in ipairs(ACTS) do problems[#problems + 1] = set("linear_" .. a, a, 0, SEED) end
for _, a in ipairs({ "relu", "gelu_tanh", "silu" }) do problems[#problems + 1] = set("ln_linear_" .. a, a, 1, SEED) end
for _, a in ipairs({ "relu", "gelu_tanh" }) do problems[#problems + 1] = set("linear_" .. a, a, 0, DECODE) end
problems[#problems + 1] = set("ln_linear_gelu_tanh", "gelu_tanh", 1, DECODE)
for _, a in ipairs({ "relu", "silu" }) do
  problems[#problems + 1] = shapes.llama { M = 16, prefix = "linear_" .. a .. "_", act = ACT[a], ln = 0 }
end

local function pattern(d) return (d.ln == 1 and "ln_linear_" or "linear_") .. ACTS[d.act + 1] end

-- Bytes each form moves (compulsory traffic, fp32): the fused kernel reads X (twice with LN:
-- the row statistics, then the packing), W, b (and gamma, beta) and writes Y once; the unfused
-- sequence also writes and reads Y again per pass (bias, activation) and, with LN, writes the
-- normalized X and reads it back.
local function bytes_fused(d)
  local x = d.ln == 1 and 2 * d.m * d.k + 2 * d.k or d.m * d.k
  return 4 * (x + d.n * d.k + d.n + d.m * d.n)
end
local function bytes_unfused(d)
  local ln = d.ln == 1 and 3 * d.m * d.k + 2 * d.k or 0
  local passes = d.act == 0 and 2 * d.m * d.n or 4 * d.m * d.n
  return 4 * (ln + d.m * d.k + d.n * d.k + d.n + d.m * d.n + passes)
end

local BASELINES = { "unfused", "unfused_2t", "openblas_unfused", "onednn", "onednn_2t" }

return kernel "fusion_linear" {
  description = "fused Y = act(X W^T + b) and LayerNorm + Linear + act, fp32, packed "
    .. (AVX512 and "AVX-512" or "AVX2") .. " microkernel (gemm_ukr.h) with an in-register or in-cache epilogue",
  template = "fusion_linear.c",
  params = {
    mr      = values(TILES.mr),         -- microkernel rows
    nr      = values(TILES.nr),         -- microkernel columns
    epi     = enum { "store", "pass" }, -- epilogue on the accumulators, or over the finished tile in L1
    kc      = values { 256, 128, 512 }, -- depth per packed block
    mc      = values { 96, 192 },       -- rows of X per packed block (rounded down to whole MR slivers)
    pf      = values { 0, 8 },          -- prefetch of the B sliver, k iterations ahead (gemm_ukr.h)
    threads = values(thread_counts()),  -- OpenMP threads
  },
  constraints = {
    function(p) return p.nr % TILES.vw == 0 and p.mr * p.nr // TILES.vw <= TILES.max_acc end,
  },
  problems = problems,
  metrics = {
    flops = function(d) return 2 * d.m * d.k * d.n end,
    bytes = bytes_fused,
  },
  tolerance = { rtol = 0, atol = 0 },   -- the template's own bound (GEMM error bound, kg_verify)
  reference = "double-precision LayerNorm, X W^T + b and activation (fl_reference in templates/fusion_linear.c)",
  baselines = BASELINES,
  baseline_threads = { unfused = 1, unfused_2t = 2, openblas_unfused = 1, onednn = 1, onednn_2t = 2 },
  roles = { threads = "threads" },
  fusion = {
    pattern = pattern,
    unfused = "unfused",
    bytes_unfused = bytes_unfused,
    quick = { "linear_relu_m512_k1024_n1024", "linear_gelu_tanh_m512_k1024_n1024",
              "ln_linear_gelu_tanh_m512_k1024_n1024", "linear_relu_m16_k4096_n4096" },
  },
}
