-- Test spec: a dimension of 2^62 makes 12 * n wrap around to 0 in Lua's integers; kgen refuses
-- the metric at load (tests/test_output.c).
return kernel "metric_overflow" {
  template = "hostile.c",
  params = { mode = enum { "ok" } },
  problems = { problem "huge" { n = 1 << 62 } },
  metrics = {
    bytes = function(d) return 12 * d.n end,
  },
  baselines = { "plain" },
}
