return kernel "shapes_bad" {
  template = "small.c",
  params = { a = values { 1 } },
  problems = { shapes.pow2(64, 100) },
}
