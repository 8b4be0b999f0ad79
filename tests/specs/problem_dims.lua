return kernel "dims" {
  template = "small.c",
  params = { a = values { 1, 2 } },
  problems = {
    problem "half" { n = 1.5 },
  },
}
