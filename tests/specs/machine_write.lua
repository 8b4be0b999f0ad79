-- Writing a field of the read-only machine table is an error at this line.
machine.cores = 64
return kernel "machine_write" { template = "small.c", params = { a = values { 1 } }, problems = { problem "p" { n = 1 } } }
