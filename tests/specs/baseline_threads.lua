return kernel "base" {
  template = "small.c",
  params = { a = values { 1, 2 } },
  problems = { problem "p" { n = 1 } },
  baselines = { "memcpy" },
  baseline_threads = { memcopy = 2 },
}
