return kernel "mnn" {
  template = "small.c",
  params = { a = values { 1, 2 } },
  problems = { problem "p" { n = 1 } },
  metrics = {
    flops = function(d) return "many" end,
  },
}
