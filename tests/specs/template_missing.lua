return kernel "tmiss" {
  template = "nope.c",
  params = { a = values { 1, 2 } },
  problems = { problem "p" { n = 1 } },
}
