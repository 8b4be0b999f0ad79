-- fusion_attention.lua - scaled dot-product attention, fused against unfused; see
-- templates/fusion_attention.c.  Q, K, V [b, s, d] fp32, one head per batch entry.
--
-- Patterns (the problem dimension `pattern`): 0 qk (T = Q K^T / sqrt(d)), 1 qk_softmax
-- (P = softmax(T)), 2 attention (O = softmax(T) V); `causal` (0/1) masks key j > query i.
-- The fused attention is FlashAttention's tiled online softmax (Dao et al., NeurIPS 2022): the
-- s x s scores are never materialised; qk and qk_softmax write s x s (their output) once.
-- Shapes: the seed's b = 4, s = 256, d = 64, plus s = 1024 and s = 4096 (attention only at 4096:
-- the s x s outputs of qk and qk_softmax would be 256 MB, their reference 512 MB).
--
-- Tunables: queries per block (bq), keys per block (bk), gemm's microkernel tile (mr x nr,
-- templates/gemm_ukr.h: the score tiles and the P V tiles), its K-unroll (ku), threads over
-- (batch, query block) units.  The microkernel and the row operations are AVX-512 where the
-- machine has it (AVX2 / portable otherwise).
--
-- Baselines, same run, each with 1 thread and 2 (_2t): unfused (kgen's own microkernel in three
-- steps: T materialised, a softmax pass, P V), openblas_unfused (OpenBLAS sgemm, the same softmax
-- pass, sgemm; SkylakeX kernels on AVX-512 machines), onednn (oneDNN matmul with the scale as
-- post-op, a causal masking pass, softmax primitive, matmul; templates/kg_dnnl.h).

local AVX512 = machine.isa.avx512f == true
-- gemm's register rule per ISA: NR a multiple of the vector width, MR * NR / width accumulators
-- within the vector registers (28 of the 32 zmm; 14 of the 16 ymm, leaving room for B and A);
-- the template's row operations take NR in {16, 32, 64}
local TILES = AVX512 and { vw = 16, max_acc = 28, mr = { 6, 4, 8 }, nr = { 32, 64 } }
  or { vw = 8, max_acc = 14, mr = { 6, 4, 3 }, nr = { 16, 32 } }
local NAMES = { [0] = "qk", [1] = "qk_softmax", [2] = "attention" }

local function attn(pattern, s, causal)
  local name = string.format("%s%s_b4_s%d_d64", NAMES[pattern], causal == 1 and "_causal" or "", s)
  return problem(name) { pattern = pattern, causal = causal, b = 4, s = s, d = 64 }
end

-- (query, key) pairs that count: all s^2, or the s (s + 1) / 2 a causal mask leaves
local function pairs(d) return d.causal == 1 and d.b * d.s * (d.s + 1) // 2 or d.b * d.s * d.s end

-- The fusion contract (issue 15): the pattern of a problem, the baseline running the unfused
-- sequence, and the bytes that sequence moves (compulsory traffic: Q, K, V read once, the
-- output written once; unfused attention also writes and reads the s x s matrix twice: T by
-- the first GEMM and the softmax pass, P by the softmax pass and the second GEMM).
local FUSION = {
  pattern = function(d) return NAMES[d.pattern] .. (d.causal == 1 and "_causal" or "") end,
  unfused = "unfused",
  bytes_unfused = function(d)
    local qkv, ss = d.b * d.s * d.d, d.b * d.s * d.s
    if d.pattern == 2 then return 4 * (4 * qkv + 4 * ss) end
    if d.pattern == 1 then return 4 * (2 * qkv + 3 * ss) end
    return 4 * (2 * qkv + ss)
  end,
  quick = { "attention_b4_s1024_d64" },
}

local BASELINES = { "unfused", "unfused_2t", "openblas_unfused", "openblas_unfused_2t", "onednn", "onednn_2t" }
local BASELINE_THREADS = {
  unfused = 1, unfused_2t = 2, openblas_unfused = 1, openblas_unfused_2t = 2, onednn = 1, onednn_2t = 2,
}

return kernel "fusion_attention" {
  description = "attention softmax(Q K^T / sqrt(d)) V and its prefixes: fused tiled online softmax "
    .. "(FlashAttention) vs unfused three-step, " .. (AVX512 and "AVX-512" or "AVX2") .. " tiles",
  template = "fusion_attention.c",
  params = {
    bq      = values { 96, 48, 64, 128, 32 }, -- queries per block (the O accumulator's rows; a multiple of mr)
    bk      = values { 128, 64, 256 },      -- keys per block (the score tile's columns)
    mr      = values(TILES.mr),             -- microkernel rows (queries; P rows)
    nr      = values(TILES.nr),             -- microkernel columns (keys; V columns)
    ku      = values { 4, 1 },              -- microkernel K-unroll
    threads = values(thread_counts()),      -- OpenMP threads over (batch, query block)
  },
  constraints = {
    function(p) return p.bq % p.mr == 0 and p.bk % p.nr == 0 end,
    -- the accumulators fit the vector registers (gemm's rule)
    function(p) return p.nr % TILES.vw == 0 and p.mr * p.nr // TILES.vw <= TILES.max_acc end,
  },
  problems = {
    attn(0, 256, 0), attn(1, 256, 0), attn(2, 256, 0), attn(2, 256, 1), attn(1, 256, 1),
    attn(0, 1024, 0), attn(1, 1024, 0), attn(2, 1024, 0), attn(2, 1024, 1),
    attn(2, 4096, 0), attn(2, 4096, 1),
  },
  metrics = {
    -- two d-term dot products per pair for attention (scores, then P V), one for qk (softmax's
    -- exponentials not counted)
    flops = function(d) return 2 * d.d * pairs(d) * (d.pattern == 2 and 2 or 1) end,
    bytes = function(d)
      local qkv, ss = d.b * d.s * d.d, d.b * d.s * d.s
      if d.pattern == 2 then return 4 * 4 * qkv end
      return 4 * (2 * qkv + ss)
    end,
  },
  tolerance = { rtol = 0, atol = 0 },   -- the template's own bounds (kg_verify, fusion_attention.c)
  reference = "double precision scores, softmax and P V with per-element float error bounds (fa_reference in templates/fusion_attention.c)",
  baselines = BASELINES,
  baseline_threads = BASELINE_THREADS,
  roles = { threads = "threads" },
  fusion = FUSION,
}
