-- qmatmul.lua - weight-only quantized matmul y = x * W^T (fp32 activations, quantized weights),
-- decode-shaped (M = 1) first; see templates/qmatmul.c and templates/kg_quant.h.
--
-- recipe (a problem dimension): 0 int8 per channel, 1 int4 min-max per group of g, 2 int4 HQQ
-- per group of g.  Tunables: the dot-product path (fp32 FMA on dequantized codes, or integer dot
-- products on int8-quantized activations: AVX-512 VNNI, or AVX2 vpmaddubsw), output channels per
-- iteration, threads.
-- Baselines: OpenBLAS sgemv (M = 1) / sgemm on the dequantized fp32 weights, default dispatch
-- and a private SkylakeX instance, 1 and 2 threads; speedup is against the fastest.

-- The VNNI path only where the machine has it (the template needs AVX512-VNNI, -VL and -BW).
local VNNI = machine.isa.avx512_vnni and machine.isa.avx512vl and machine.isa.avx512bw
-- Without it, on AVX2: the same int8 activations through vpmaddubsw + vpmaddwd (maddubs).
local PATHS = VNNI and { "vnni", "fma" } or machine.isa.avx2 and { "maddubs", "fma" } or { "fma" }

local BASELINES = { "openblas", "openblas_2t" }
local BASELINE_THREADS = { openblas = 1, openblas_2t = 2 }
if machine.isa.avx512f then   -- OPENBLAS_CORETYPE=SkylakeX needs AVX-512
  BASELINES[#BASELINES + 1] = "openblas_skx"
  BASELINES[#BASELINES + 1] = "openblas_skx_2t"
  BASELINE_THREADS.openblas_skx, BASELINE_THREADS.openblas_skx_2t = 1, 2
end

local DECODE = { { 1, 4096, 4096 }, { 1, 8192, 1280 }, { 1, 8192, 7168 } }

return kernel "qmatmul" {
  description = "weight-only quantized matmul (int8, int4 g, int4 HQQ): y = x W^T, dequantize on the fly",
  template = "qmatmul.c",
  params = {
    path    = enum(PATHS),              -- dot products: int8 activations (VNNI, maddubs), or fp32 FMA
    nb      = values { 4, 1, 2, 8 },    -- output channels per iteration (share the x loads)
    pf      = values { 1, 0 },          -- software prefetch of the next block's rows into L2 (vnni, maddubs)
    threads = values(thread_counts()),  -- OpenMP threads over the output channels: 1, 2, 4, ..., cores
  },
  problems = {
    shapes.custom(DECODE, { prefix = "int8_", recipe = 0, g = 64 }),
    shapes.custom(DECODE, { prefix = "int4g128_", recipe = 1, g = 128 }),
    shapes.custom(DECODE, { prefix = "hqqg128_", recipe = 2, g = 128 }),
    shapes.custom({ { 1, 4096, 4096 } }, { prefix = "int4g32_", recipe = 1, g = 32 }),
    shapes.custom({ { 1, 4096, 4096 } }, { prefix = "int4g64_", recipe = 1, g = 64 }),
    shapes.custom({ { 1, 4096, 4096 } }, { prefix = "int4g256_", recipe = 1, g = 256 }),
    shapes.custom({ { 16, 4096, 4096 } }, { prefix = "int4g128_", recipe = 1, g = 128 }),
  },
  metrics = {
    flops = function(d) return 2 * d.m * d.k * d.n end,
    -- weight bytes dominate: int8 1 byte, int4 half a byte plus a scale and zero per group
    bytes = function(d)
      local w = d.recipe == 0 and d.n * d.k or d.n * d.k // 2 + 8 * d.n * d.k // d.g
      return w + 4 * d.m * (d.k + d.n)
    end,
  },
  -- Roofline reference (runtime/kg_roofline.h), measured in the same final rounds: decode (m = 1,
  -- 2 flops per weight byte at int8) is bound by reading the weights, held against a read pass
  -- over the same bytes; m = 16 against the int8 dot-product peak (VNNI) where the machine has it.
  bound = function(d)
    if d.m == 1 then return "memory" end
    return VNNI and machine.isa.avx512_vnni and "int8_dot" or "fp32_fma"
  end,
  -- Decode streams every layer's weights from DRAM: measured cold (caches flushed before every call).
  cold = function(d) return d.m == 1 end,
  tolerance = { rtol = 0, atol = 0 },   -- the template's own bound (see qmatmul.c)
  reference = "double-precision matmul on the dequantized weights (kg_verify in templates/qmatmul.c)",
  baselines = BASELINES,
  baseline_threads = BASELINE_THREADS,
  roles = { threads = "threads" },
}
