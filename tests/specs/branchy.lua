-- Sampling is uniform over branches, not over points: 11 valid points, (a=0, b=0) alone on its
-- branch; sample = 40 asks for more points than exist (the sample then holds all 11).
return kernel "branchy" {
  template = "variants.c",
  params = { a = range(0, 1), b = range(0, 9) },
  constraints = { function(p) return p.a == 1 or p.b == 0 end },
  sample = 40,
  problems = { problem "small" { n = 1024 } },
}
