-- fusion_tiny.lua: templates/fusion_linear.c on small problems, one variant (tests: the fusion
-- report fields, `kgen calibrate --fusion`).
return kernel "fusion_tiny" {
  template = "../../templates/fusion_linear.c",
  params = {
    mr = values { 6 },
    nr = values { 32 },
    epi = enum { "store", "pass" },
    kc = values { 256 },
    mc = values { 96 },
    threads = values { 2 },
  },
  problems = {
    problem "linear_relu_small" { m = 48, k = 96, n = 64, act = 1, ln = 0 },
    problem "linear_relu_wide" { m = 8, k = 96, n = 256, act = 1, ln = 0 },
    problem "ln_linear_silu_small" { m = 48, k = 96, n = 64, act = 4, ln = 1 },
  },
  metrics = {
    flops = function(d) return 2 * d.m * d.k * d.n end,
    bytes = function(d) return 4 * (d.m * d.k + d.n * d.k + d.n + d.m * d.n) end,
  },
  -- the fused winner runs 2 threads: its unfused figure is unfused_2t's (the same thread count)
  baselines = { "unfused", "unfused_2t", "onednn" },
  baseline_threads = { unfused = 1, unfused_2t = 2, onednn = 1 },
  roles = { threads = "threads" },
  fusion = {
    pattern = function(d) return (d.ln == 1 and "ln_linear_" or "linear_") .. (d.act == 1 and "relu" or "silu") end,
    unfused = "unfused",
    bytes_unfused = function(d) return 4 * (d.m * d.k + d.n * d.k + d.n + 5 * d.m * d.n) end,
  },
}
