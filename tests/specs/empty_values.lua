return kernel "empty" {
  template = "small.c",
  params = {
    grain = values {},
  },
  problems = { problem "p" { n = 1 } },
}
