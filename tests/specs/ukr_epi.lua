-- ukr_epi.lua: templates/gemm_ukr.h's epilogue interface (GEMM_UKR_EPILOGUE, gemm_tile_epi) in a
-- small template (tests/test_gemm_ukr.c): C = epi(A B^T) with epi(v, i, j) = relu(v + bias[j]) +
-- i, full and edge tiles, over two KC blocks (the epilogue on the last one only).
return kernel "ukr_epi" {
  template = "ukr_epi.c",
  params = {
    mr = values { 6, 1 },
    nr = values { 64, 16 },
    ku = values { 4, 1 },
    pf = values { 0, 8 },
  },
  -- every tile at ku 4, pf 0; the K-unrolls and the prefetch at the 6 x 64 tile (7 variants)
  constraints = { function(p) return (p.ku == 4 and p.pf == 0) or (p.mr == 6 and p.nr == 64) end },
  problems = { problem "edges" { m = 13, k = 37, n = 70 } },
}
