return kernel "include_escape" {
  template = "include_escape.c",
  params = { a = values { 1 } },
  problems = { problem "p" { n = 1 } },
}
