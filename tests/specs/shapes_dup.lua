-- A generated problem carries the line of the generator's call: the second cube is at line 6.
return kernel "shapes_dup" {
  template = "small.c",
  params = { a = values { 1 } },
  problems = { shapes.pow2(64, 64),
    shapes.pow2_extended(32, 64) },
}
