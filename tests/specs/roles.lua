-- Roles name parameters and dimensions.
return kernel "roles" {
  template = "small.c",
  params = { a = values { 1 }, t = values(thread_counts()) },
  problems = { problem "p" { n = 1 } },
  roles = { threads = "t", size = "n" },
}
