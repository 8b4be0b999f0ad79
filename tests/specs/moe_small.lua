-- A small MoE step (templates/moe_step.c) for tests/test_moe_step.c: two variants, one problem
-- each of fresh and drifting inputs, the rebuild baseline; kgen tune must verify both, run the
-- final rounds and report each entry's phases.
return kernel "moe_small" {
  description = "MoE step on a small shape (test)",
  template = "../../templates/moe_step.c",
  params = {
    ymm = enum { "blocked", "ukr" },   -- Y by the blocked kernel or gemm_ukr.h's microkernel
    mr = values { 4 },                 -- gemm_ukr.h's tile (its slot needs mr and nr)
    nr = values { 16 },
  },
  problems = {
    problem "fresh" { N = 600, hidden = 48, up_cols = 40, gate_cols = 8, m = 60, batch = 4, rho = 0, steps = 6 },
    problem "drift" { N = 600, hidden = 48, up_cols = 40, gate_cols = 0, m = 60, batch = 4, rho = 99, steps = 6 },
  },
  tolerance = { rtol = 0, atol = 0 },
  reference = "templates/moe_step.c's kg_prepare",
  baselines = { "rebuild" },
}
