-- gemm.lua - fp32 GEMM C = A * B + beta * C (row-major), packed and cache-blocked around a
-- generated MR x NR AVX-512 microkernel (BLIS structure); see templates/gemm.c.
--
-- The space is tied together by constraints, so an exhaustive tune of one problem stays at a
-- couple of minutes: a curated set of register tiles (accumulators MR * NR / 16 <= 28 zmm);
-- MC a multiple of MR, NC of NR; the K-unroll and the prefetch distance vary only at the
-- default blocking; PACK = 0 (no packing, for small and skinny shapes) ignores the blocking.
-- Baselines: OpenBLAS sgemm with its default dispatch and forced to SkylakeX (a private
-- instance), each with 1 and 2 threads; `speedup` is against the fastest of the four.

-- Register tiles worth trying on AVX-512 (MR x NR): packed ones, and the ones for PACK = 0.
local PACKED = { ["6x64"] = true, ["14x32"] = true, ["8x48"] = true, ["12x32"] = true }
local DIRECT = { ["1x64"] = true, ["4x64"] = true, ["6x64"] = true, ["8x48"] = true,
                 ["14x32"] = true, ["4x32"] = true, ["8x32"] = true }

return kernel "gemm" {
  description = "fp32 GEMM C = A*B + beta*C, row-major; packed, cache-blocked, generated AVX-512 microkernel",
  template = "gemm.c",
  params = {
    mr      = values { 6, 14, 8, 12, 1, 4 },   -- microkernel rows
    nr      = values { 64, 32, 48 },           -- microkernel columns (multiples of 16)
    mc      = values { 168, 336, 96 },         -- rows of A per packed block
    kc      = values { 384, 256, 512 },        -- depth per packed block
    nc      = values { 3072 },                 -- columns of B per packed block
    ku      = values { 4, 1, 2 },              -- K-unroll of the microkernel loop
    pf      = values { 0, 8 },                 -- prefetch of the B sliver, in k iterations ahead
    pack    = values { 1, 0 },                 -- pack A and B (0: read in place)
    threads = values { 1, 2 },                 -- OpenMP threads
  },
  constraints = {
    function(p)
      local t = p.mr .. "x" .. p.nr
      if p.pack == 1 then return PACKED[t] == true end
      return DIRECT[t] == true
    end,
    function(p) return p.mr * p.nr // 16 <= 28 end,   -- accumulators fit the 32 zmm registers
    function(p) return p.mc % p.mr == 0 and p.nc % p.nr == 0 end,
    -- without packing the blocking is unused: keep it at its defaults; no B-sliver prefetch
    function(p) return p.pack == 1 or (p.mc == 168 and p.kc == 384 and p.pf == 0) end,
    -- the unroll and the prefetch are tried at the default blocking only
    function(p) return (p.ku == 4 and p.pf == 0) or (p.mc == 168 and p.kc == 384) end,
  },
  problems = {
    shapes.custom { { 64, 64, 64 }, { 128, 128, 128 }, { 256, 256, 256 }, { 1024, 1024, 1024 },
                    { 2048, 2048, 2048 } },
    shapes.custom { { 1, 4096, 4096 }, { 16, 4096, 4096 } },
    shapes.llama { M = 16 },
  },
  metrics = {
    flops = function(d) return 2 * d.m * d.k * d.n end,
    bytes = function(d) return 4 * (d.m * d.k + d.k * d.n + 2 * d.m * d.n) end,
  },
  tolerance = { rtol = 0, atol = 0 },   -- the template's own bound: 1e-6 * k + 1e-5
  reference = "naive triple loop in double (gemm_reference in templates/gemm.c)",
  baselines = { "openblas", "openblas_2t", "openblas_skx", "openblas_skx_2t" },
  baseline_threads = { openblas = 1, openblas_2t = 2, openblas_skx = 1, openblas_skx_2t = 2 },
}
