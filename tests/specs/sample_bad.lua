return kernel "sample_bad" {
  template = "variants.c",
  params = { a = range(0, 1) },
  sample = 0,
  problems = { problem "small" { n = 1024 } },
}
