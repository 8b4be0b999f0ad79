-- small.lua: a tiny valid spec for tests.
return kernel "small" {
  template = "small.c",
  params = {
    b = values { 1, 2, 3 },
    a = pow2(1, 4),
    mode = enum { "fast", "safe" },
  },
  constraints = {
    function(p) return p.a * p.b <= 4 end,
    function(p) return p.mode == "safe" or p.a ~= 4 end,
  },
  problems = {
    problem "tiny" { n = 16, m = 2 },
    { problem "big" { n = 1024, m = 8 } },
  },
  metrics = { bytes = function(d) return 4 * d.n * d.m end },
  baselines = { "plain" },
  seed = 7,
}
