-- sandbox escape: io
local r = io.write('x')
return kernel "esc" {
  template = "small.c",
  problems = { problem "p" { n = 1 } },
}
