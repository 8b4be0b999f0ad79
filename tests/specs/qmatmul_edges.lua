-- qmatmul on edge shapes (k < g, k and n not multiples of the tiles, M = 1 and M > 1) for every
-- recipe and group size, every path, tile and thread count: test_kernels.c requires all to verify.
local S = { { 1, 20, 7 }, { 3, 100, 33 }, { 1, 1000, 9 } }
return kernel "qmatmul_edges" {
  template = "../../templates/qmatmul.c",
  params = { path = enum { "vnni", "maddubs", "fma" }, nb = values { 4, 1, 3, 8 }, threads = values { 1, 2 } },
  problems = {
    shapes.custom(S, { prefix = "int8_", recipe = 0 }),
    shapes.custom(S, { prefix = "g32_", recipe = 1, g = 32 }),
    shapes.custom(S, { prefix = "g64_", recipe = 1, g = 64 }),
    shapes.custom(S, { prefix = "hqq128_", recipe = 2, g = 128 }),
    shapes.custom(S, { prefix = "hqq256_", recipe = 2, g = 256 }),
  },
  reference = "kg_verify",
  baselines = machine.isa.avx512f and { "openblas", "openblas_skx" } or { "openblas" },
}
