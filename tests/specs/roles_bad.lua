-- The threads role must name an integer parameter.
return kernel "roles_bad" {
  template = "small.c",
  params = { a = enum { "x", "y" } },
  problems = { problem "p" { n = 1 } },
  roles = { threads = "a" },
}
