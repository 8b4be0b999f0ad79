-- sandbox escape: loadfile
local r = loadfile('/etc/passwd')
return kernel "esc" {
  template = "small.c",
  problems = { problem "p" { n = 1 } },
}
