-- roofline_self.lua - test spec (tests/test_roofline.c): the runtime's read-bandwidth reference
-- as the kernel.  bound = 1 is KG_BOUND_MEMORY; threads = 0: all usable cores, as the reference.
-- "mem" and "mem_cold" read the same 16 MB (in the LLC when warm); "mem_fp" declares the fp32
-- FMA bound on purpose (its efficiency must come from the FMA peak, in GFLOP/s).
return kernel "roofline_self" {
  template = "roofline_self.c",
  params = { x = values { 1 } },
  problems = {
    problem "mem" { bound = 1, bytes = 16 << 20, threads = 0, cold = 0 },
    problem "mem_cold" { bound = 1, bytes = 16 << 20, threads = 0, cold = 1 },
    problem "mem_fp" { bound = 1, bytes = 4 << 20, threads = 0, cold = 0 },
  },
  metrics = {
    bytes = function(d) return d.bytes end,
    flops = function(d) return 2 * d.bytes end,
  },
  bound = function(d) return d.bytes == 4 << 20 and "fp32_fma" or "memory" end,
  cold = function(d) return d.cold == 1 end,
  verify = false,
  verify_reason = "the roofline reference itself: it computes nothing to check",
}
