return kernel "unknown" {
  template = "small.c",
  paramz = { a = values { 1, 2 } },
  problems = { problem "p" { n = 1 } },
}
