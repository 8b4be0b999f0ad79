-- Test spec: enough correct variants for a run to be interrupted midway (kill -9, --resume).
return kernel "many" {
  template = "variants.c",
  params = { mode = enum { "ok", "unrolled" }, pad = range(0, 19) },
  problems = { problem "small" { n = 4096 } },
  tolerance = { rtol = 1e-6, atol = 1e-6 },
}
