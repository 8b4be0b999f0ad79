-- Test spec: hostile.c's hog allocates and touches 1 GB on each call; past a --mem-limit malloc
-- fails and it crashes (tests/test_contract.c).
return kernel "hostile_hog" {
  template = "hostile.c",
  params = { mode = enum { "ok", "hog" } },
  problems = { problem "p" { n = 65536 } },
  tolerance = { rtol = 1e-6, atol = 1e-6 },
}
