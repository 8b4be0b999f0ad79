-- sandbox escape: dofile
local r = dofile('/etc/passwd')
return kernel "esc" {
  template = "small.c",
  problems = { problem "p" { n = 1 } },
}
