-- sandbox escape: require
local r = require('socket')
return kernel "esc" {
  template = "small.c",
  problems = { problem "p" { n = 1 } },
}
