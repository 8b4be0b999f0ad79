-- Test spec: a baseline that never returns beside one that does (tests/test_tune.c: a timed-out
-- baseline is measured once, not again in each final round).
return kernel "hang_baseline" {
  template = "variants.c",
  params = { mode = enum { "ok", "unrolled" }, pad = values { 0 } },
  problems = { problem "small" { n = 1024 } },
  metrics = { bytes = function(d) return 12 * d.n end, flops = function(d) return 2 * d.n end },
  tolerance = { rtol = 1e-6, atol = 1e-6 },
  baselines = { "plain", "hang" },
}
