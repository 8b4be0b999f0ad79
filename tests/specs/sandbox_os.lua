-- sandbox escape: os
local r = os.execute('true')
return kernel "esc" {
  template = "small.c",
  problems = { problem "p" { n = 1 } },
}
