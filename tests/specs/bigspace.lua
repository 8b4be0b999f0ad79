-- A cartesian product of 10^8 points (8 parameters of 10 values) with about 10^5 valid ones:
-- the loader enumerates them by backtracking (test_spec_space.c; `kgen show` prints the time).
-- The constraints read parameters out of declaration order, branch on them, catch the read of
-- an unbound parameter, and one reads none.
return kernel "bigspace" {
  template = "small.c",
  params = {
    a = range(0, 9), b = range(0, 9), c = range(0, 9), d = range(0, 9),
    e = range(0, 9), f = range(0, 9), g = range(0, 9), h = range(0, 9),
  },
  constraints = {
    function(p) return p.a + p.b < 5 end,
    function(p) return p.c ~= p.a end,
    function(p) return (p.c * p.d) % 4 == 0 end,
    function(p) if p.a == 0 then return p.h >= 5 else return p.e <= p.f end end,
    function(p) return p.g + p.h <= 9 end,
    function(p) local ok, v = pcall(function() return p.h end); return not ok or v ~= 3 end,
    function(p) return p.e + p.f + p.g < 6 end,
    function(p) return true end,
  },
  problems = { problem "p" { n = 1 } },
}
