-- sandbox escape: load
local r = load('return 1')
return kernel "esc" {
  template = "small.c",
  problems = { problem "p" { n = 1 } },
}
