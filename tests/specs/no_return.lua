local k = kernel "nothing" { template = "small.c", problems = { problem "p" { n = 1 } } }
