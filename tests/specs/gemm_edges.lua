-- gemm on edge shapes (m, n, k not multiples of MR, NR, KC; several KC, MC, NC blocks; beta 0
-- and 1; M = 1) with every register tile, the four packing modes and thread counts: test_kernels.c
-- requires every variant to verify.  Small blocking (mc 24/28, kc 16, nc 192) forces many blocks (pack 2:
-- kc 16 with nc 192, a thread's columns in several blocks; pack 3: kc 16, B in place).
local PACKED = { ["6x64"] = true, ["14x32"] = true, ["8x48"] = true, ["12x32"] = true }
local DIRECT = { ["1x64"] = true, ["4x64"] = true, ["6x64"] = true, ["8x48"] = true,
                 ["14x32"] = true, ["4x32"] = true, ["8x32"] = true }
return kernel "gemm_edges" {
  template = "../../templates/gemm.c",
  params = {
    mr = values { 6, 14, 8, 12, 1, 4 }, nr = values { 64, 32, 48 },
    mc = values { 168, 24, 28 }, kc = values { 384, 16 }, nc = values { 3072, 192 },
    ku = values { 4, 3 }, pf = values { 0, 8 }, pack = values { 1, 0, 2, 3 }, threads = values { 1, 2 },
  },
  constraints = {
    function(p)
      local t = p.mr .. "x" .. p.nr
      if p.pack == 1 then return PACKED[t] == true end
      if p.pack == 2 then return (t == "6x64" or t == "8x48") and p.mc == 168 and p.ku == 4 end
      if p.pack == 3 then return DIRECT[t] == true and p.mc == 168 and p.kc == 16 and p.nc == 3072 and p.pf == 8 end
      return DIRECT[t] == true and p.mc == 168 and p.kc == 384 and p.nc == 3072 and p.pf == 0
    end,
    function(p) return p.mc % p.mr == 0 and p.nc % p.nr == 0 end,
    function(p)
      if p.pack == 2 then return (p.kc == 384) == (p.nc == 3072) end
      if p.pack == 3 then return true end
      return (p.mc == 168) == (p.kc == 384) and (p.kc == 384) == (p.nc == 3072)
    end,
    function(p) return p.pf == 0 or p.ku == 4 end,
  },
  problems = {
    shapes.custom { { 1, 1, 1 }, { 7, 13, 29 }, { 1, 300, 100 }, { 33, 70, 97 }, { 29, 5, 200 } },
    shapes.custom({ { 17, 100, 65 }, { 50, 40, 300 } }, { prefix = "b1_", beta = 1 }),
  },
  reference = "gemm_reference",
  baselines = machine.isa.avx512f and { "openblas", "openblas_skx" } or { "openblas" },
}
