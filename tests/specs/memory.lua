local s = string.rep("x", 1 << 20)
local t = {}
for i = 1, 1000 do
  t[i] = s .. i
end
return kernel "mem" { template = "small.c", problems = { problem "p" { n = 1 } } }
