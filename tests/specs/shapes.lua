-- Every shape generator, with and without options (checked by test_spec.c: test_shapes).
return kernel "shapes" {
  template = "small.c",
  params = { a = values { 1 } },
  problems = {
    shapes.custom { { 1, 2, 3 }, { 4, 5, 6 } },
    shapes.llama { M = 1 },
    shapes.llama { M = 16, prefix = "q_", recipe = 2 },
    shapes.pow2(64, 256),
    shapes.pow2_extended(64, 256, { prefix = "x_" }),
    shapes.sweep(1, 2, { prefix = "s_", beta = 1 }),
  },
}
