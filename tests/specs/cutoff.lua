-- Test spec: four fast variants (work = 1) and four a hundred times slower (work = 100), for the early
-- cut-off (tests/test_search_tune.c).
return kernel "cutoff" {
  template = "cutoff.c",
  params = { work = values { 1, 100 }, pad = values { 0, 1, 2, 3 } },
  problems = { problem "p" { n = 4096 } },
  verify = false,
  verify_reason = "a test of timing only: kg_run's result depends on how often it ran",
}
