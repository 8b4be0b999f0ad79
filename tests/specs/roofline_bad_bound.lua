-- roofline_bad_bound.lua - test spec: a misspelled bound (tests/test_roofline.c)
return kernel "roofline_bad" {
  template = "roofline_self.c",
  params = { x = values { 1 } },
  problems = { problem "p" { bound = 1, bytes = 4096, threads = 0, cold = 0 } },
  metrics = { bytes = function(d) return d.bytes end },
  bound = function(d) return "fp32_fmaa" end,
  verify = false,
  verify_reason = "test",
}
