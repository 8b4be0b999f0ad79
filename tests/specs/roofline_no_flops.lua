-- roofline_no_flops.lua - test spec: a compute bound without a flops metric (tests/test_roofline.c)
return kernel "roofline_no_flops" {
  template = "roofline_self.c",
  params = { x = values { 1 } },
  problems = { problem "p" { bound = 1, bytes = 4096, threads = 0, cold = 0 } },
  metrics = { bytes = function(d) return d.bytes end },
  bound = "int8_dot",
  cold = "yes",
  verify = false,
  verify_reason = "test",
}
