-- Test spec: two related problems for a guided search's seeds (tests/test_search_tune.c): the
-- second problem's search measures the first one's winner before its strategy's own points.
-- work = 10 is ten times slower than work = 1 (templates: tests/specs/cutoff.c).
return kernel "seeds" {
  template = "cutoff.c",
  params = { work = values { 10, 1 }, pad = range(0, 9) },
  problems = { problem "p1" { n = 2048 }, problem "p2" { n = 4096 } },
  verify = false,
  verify_reason = "a test of timing only: kg_run's result depends on how often it ran",
}
