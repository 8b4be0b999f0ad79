-- Test spec: variants that compile and pass, fail to compile, crash, hang, abort or compute
-- wrong results (tests/test_tune.c).
return kernel "variants" {
  template = "variants.c",
  params = {
    mode = enum { "ok", "unrolled", "broken", "segv", "hang", "wrong", "abort" },
    pad = values { 0, 1 },
  },
  problems = { problem "small" { n = 1024 }, problem "large" { n = 16384 } },
  metrics = { bytes = function(d) return 12 * d.n end, flops = function(d) return 2 * d.n end },
  tolerance = { rtol = 1e-6, atol = 1e-6 },
  baselines = { "plain" },
}
