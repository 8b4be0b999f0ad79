return kernel "crej" {
  template = "small.c",
  params = { a = values { 1, 2 }, b = values { 3, 4 } },
  constraints = {
    function(p) return p.a > p.b end,
  },
  problems = { problem "p" { n = 1 } },
}
