return kernel "bad_type" {
  template = "small.c",
  params = {
    grain = true,
  },
  problems = { problem "p" { n = 1 } },
}
