return kernel "cnf" {
  template = "small.c",
  params = { a = values { 1, 2 } },
  constraints = { "a < 2" },
  problems = { problem "p" { n = 1 } },
}
