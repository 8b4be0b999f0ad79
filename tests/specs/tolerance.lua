return kernel "tol" {
  template = "small.c",
  params = { a = values { 1, 2 } },
  problems = { problem "p" { n = 1 } },
  tolerance = { rtol = "tight" },
}
