return kernel "cerr" {
  template = "small.c",
  params = { a = values { 1, 2 } },
  constraints = {
    function(p) return p.a < p.b end,
  },
  problems = { problem "p" { n = 1 } },
}
