-- Test spec: every variant fails (compile error, crash, wrong result): kgen tune exits 1 and
-- leaves the output directory untouched.
return kernel "all_fail" {
  template = "variants.c",
  params = { mode = enum { "broken", "segv", "wrong" } },
  problems = { problem "small" { n = 1024 } },
  baselines = { "plain" },
}
