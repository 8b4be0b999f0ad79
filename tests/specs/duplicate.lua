return kernel "dup" {
  template = "small.c",
  params = {
    grain = values { 16, 32, 16 },
  },
  problems = { problem "p" { n = 1 } },
}
