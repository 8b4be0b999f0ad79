return kernel "slot_error" {
  template = "slot_error.c",
  params = { a = values { 1, 2 } },
  problems = { problem "p" { n = 1 } },
}
