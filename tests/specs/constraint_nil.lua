return kernel "cnil" {
  template = "small.c",
  params = { a = values { 1, 2 } },
  constraints = {
    function(p) local ok = p.a > 0 end,
  },
  problems = { problem "p" { n = 1 } },
}
