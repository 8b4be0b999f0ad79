-- fp32 GEMM C = A * B + beta * C (row-major), packed and cache-blocked around a
-- generated MR x NR microkernel (BLIS structure); see templates/gemm.c.
--
-- The space follows the machine (the prelude's read-only `machine` table): AVX-512 tiles
-- (NR a multiple of 16, accumulators MR * NR / 16 <= 28 of the 32 zmm) where machine.isa.avx512f,
-- else AVX2 tiles (NR a multiple of 8, accumulators MR * NR / 8 <= 14 of the 16 ymm, leaving
-- room for the B loads and the A broadcast); threads 1, 2, 4, ..., machine.cores.
-- The constraints are only the true ones: the accumulators fit the vector registers, MC is a
-- multiple of MR (where packing uses it) and NC of NR, PACK = 0 (no packing, for small and skinny
-- shapes) ignores the blocking and the B prefetch (they stay at their defaults), and PACK = 3 (B
-- read in place, for skinny products streaming B) takes its own short depth blocks.  The space holds
-- 3,462 points on an AVX-512 machine: kgen tune searches it with its default guided strategy (knn,
-- 10% of the space per problem), not exhaustively.
-- Baselines: OpenBLAS sgemm with its default dispatch and (AVX-512 machines) forced to SkylakeX
-- (a private instance), and BLIS (bli_sgemm, templates/kg_blis.h; checked against the reference on
-- its first call), each with 1 and 2 threads, and LIBXSMM's JIT small-matrix kernels (m, n, k <= 128
-- only, templates/kg_xsmm.h; 1 thread); `speedup` is against the fastest of them.

local AVX512 = machine.isa.avx512f == true

-- Register tile sizes (MR x NR); every pair whose accumulators fit is in the space.
local TILES = AVX512 and {
  vw = 16, max_acc = 28, mr = { 6, 14, 8, 12, 1, 4 }, nr = { 64, 32, 48 },
} or {
  vw = 8, max_acc = 14, mr = { 6, 4, 12, 8, 1 }, nr = { 16, 24, 8, 32 },
}

local BASELINES = { "openblas", "openblas_2t", "blis", "blis_2t", "libxsmm" }
local BASELINE_THREADS = { openblas = 1, openblas_2t = 2, blis = 1, blis_2t = 2, libxsmm = 1 }
if AVX512 then
  BASELINES[#BASELINES + 1] = "openblas_skx"
  BASELINES[#BASELINES + 1] = "openblas_skx_2t"
  BASELINE_THREADS.openblas_skx, BASELINE_THREADS.openblas_skx_2t = 1, 2
end

return kernel "gemm" {
  description = "fp32 GEMM C = A*B + beta*C, row-major; packed, cache-blocked, generated "
    .. (AVX512 and "AVX-512" or "AVX2") .. " microkernel",
  template = "gemm.c",
  params = {
    mr      = values(TILES.mr),                -- microkernel rows
    nr      = values(TILES.nr),                -- microkernel columns (multiples of the vector width)
    mc      = values { 168, 336, 96 }    ,    -- rows of A per packed block
    kc      = values { 384, 256, 512, 192, 32, 16, 64, 128 }, -- depth per block (16-128: PACK = 3 only)
    nc      = values { 3072, 192, 384 },       -- columns of B per packed block (PACK = 2: per thread)
    ku      = values { 4, 1, 2 }   ,           -- K-unroll of the microkernel loop
    pf      = values { 0, 8 }    ,             -- prefetch of the B sliver, in k iterations ahead
                                               -- (PACK = 3: lines ahead in each row of B)
    pfl     = values { 1, 2 },                 -- PACK = 3: the cache level that prefetch fills
                                               -- (1: L1, _MM_HINT_T0; 2: L2, _MM_HINT_T1)
    pack    = values { 1, 0, 2, 3 },           -- pack A and B (0: read in place; 2: stream B;
                                               -- 3: B in place, A packed; see gemm.c)
    threads = values(thread_counts()),         -- OpenMP threads: 1, 2, 4, ..., cores
  },
  constraints = {
    -- accumulators fit the vector registers
    function(p) return p.nr % TILES.vw == 0 and p.mr * p.nr // TILES.vw <= TILES.max_acc end,
    -- MC is a multiple of MR where it is used (pack = 1), NC of NR
    function(p) return (p.pack ~= 1 or p.mc % p.mr == 0) and p.nc % p.nr == 0 end,
    -- without packing the blocking and the B-sliver prefetch are unused: keep them at their defaults
    function(p) return p.pack ~= 0 or (p.mc == 168 and p.kc == 384 and p.nc == 3072 and p.pf == 0) end,
    -- streamed B (pack = 2) packs all of A per depth block (MC unused), and its NC is a thread's
    -- block width (192 or 384 columns: a KC x NC block stays in L2 beside the next one's
    -- prefetch); the shared panel of pack = 1 is NC = 3072 wide
    function(p) return p.pack ~= 2 or (p.mc == 168 and p.nc < 3072) end,
    function(p) return p.pack ~= 1 or p.nc == 3072 end,
    -- B in place (pack = 3): depth blocks of 16 to 256 rows (short ones keep a tile's kc rows of
    -- B, ldb apart, in a few cache sets; long ones load and store C's tiles less often: on the
    -- Zen5 VM, m = 16 cold, KC 256 against 32 was 1.01-1.29x); MC and NC unused.  The other modes
    -- pack KC x NC blocks: KC >= 192.
    function(p)
      if p.pfl ~= 1 and (p.pack ~= 3 or p.pf == 0) then return false end -- pfl: PACK = 3 prefetch only
      if p.pack == 3 then return p.kc <= 256 and p.mc == 168 and p.nc == 3072 end
      return p.kc >= 192
    end,
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
  -- Roofline reference (runtime/kg_roofline.h), measured in the same final rounds: a product with
  -- under 4 flops per byte (m = 1: 0.5) streams B and is held against a read pass over its bytes;
  -- the others against the fp32 FMA peak (m = 16 on 4096 x 4096 has 7.9 flops per byte: the
  -- issue's target is 70% of the FMA peak there).
  bound = function(d)
    local flops, bytes = 2 * d.m * d.k * d.n, 4 * (d.m * d.k + d.k * d.n + 2 * d.m * d.n)
    return flops < 4 * bytes and "memory" or "fp32_fma"
  end,
  -- Skinny products on layer weights (m <= 64 rows, k >= 1024) stream B from DRAM in a model's
  -- forward pass: measured cold (caches flushed before every call).
  cold = function(d) return d.m <= 64 and d.k >= 1024 end,
  tolerance = { rtol = 0, atol = 0 },   -- the template's own bound: 1e-6 * k + 1e-5
  reference = "naive triple loop in double (gemm_reference in templates/gemm.c)",
  baselines = BASELINES,
  baseline_threads = BASELINE_THREADS,
  roles = { threads = "threads" },
}
