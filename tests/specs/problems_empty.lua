return kernel "noprob" {
  template = "small.c",
  params = { a = values { 1, 2 } },
  problems = {},
}
