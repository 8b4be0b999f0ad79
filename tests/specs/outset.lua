-- Test spec: two right variants (hostile.c's ok and loosen modes) on two problems, quick to tune:
-- tests/test_output.c writes and interrupts its output set.
return kernel "outset" {
  template = "hostile.c",
  params = { mode = enum { "ok", "loosen" } },
  problems = { problem "p1" { n = 1024 }, problem "p2" { n = 4096 } },
  metrics = { bytes = function(d) return 12 * d.n end },
  tolerance = { rtol = 1e-6, atol = 1e-6 },
  baselines = { "plain" },
}
