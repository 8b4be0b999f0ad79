-- A cartesian product of 10^9 points (mode x 8 parameters of 10 values x one of 5) with about 4 x 10^8
-- valid ones: too large to enumerate, so the loader estimates the valid count (Knuth's probes) and
-- samples KG_SPEC_SAMPLE_DEFAULT valid points (test_spec_space.c, test_search_tune.c).
return kernel "hugespace" {
  template = "variants.c",
  params = {
    mode = enum { "ok", "unrolled" },
    a = range(0, 9), b = range(0, 9), c = range(0, 9), d = range(0, 9),
    e = range(0, 9), f = range(0, 9), g = range(0, 9), h = range(0, 9),
    i = range(0, 4),
  },
  constraints = {
    function(p) return p.a + p.b < 15 end,
    function(p) return p.c ~= p.d end,
    function(p) return (p.e + p.f) % 3 ~= 0 end,
    function(p) if p.g == 0 then return p.h >= 5 else return true end end,
    function(p) return p.i ~= p.a % 5 end,
  },
  problems = { problem "small" { n = 1024 } },
  tolerance = { rtol = 1e-6, atol = 1e-6 },
}
