-- Replacing the machine table is an error at this line.
machine = { cores = 64 }
return kernel "machine_replace" { template = "small.c", params = { a = values { 1 } }, problems = { problem "p" { n = 1 } } }
