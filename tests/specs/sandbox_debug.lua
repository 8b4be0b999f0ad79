-- sandbox escape: debug
local r = debug.sethook()
return kernel "esc" {
  template = "small.c",
  problems = { problem "p" { n = 1 } },
}
