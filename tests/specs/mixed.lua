return kernel "mixed" {
  template = "small.c",
  params = {
    grain = values { 16, "big" },
  },
  problems = { problem "p" { n = 1 } },
}
