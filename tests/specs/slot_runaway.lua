return kernel "slot_runaway" {
  template = "slot_runaway.c",
  params = { a = values { 1, 2 } },
  problems = { problem "p" { n = 1 } },
}
