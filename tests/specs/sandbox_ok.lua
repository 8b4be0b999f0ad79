-- pcall, xpcall, setmetatable and patterns keep working within the limits.
local ok, err = pcall(error, "boom")
assert(not ok and err:find("boom"))
local ok2, v = pcall(function() return 5 end)
assert(ok2 and v == 5)
local ok3, w = xpcall(function() error("x") end, function(e) return "handled" end)
assert(not ok3 and w == "handled")
local mt = setmetatable({}, { __index = function(_, k) return k * 2 end })
assert(mt[21] == 42)
local m, k = ("m16_k32"):match("^m(%d+)_k(%d+)$")
assert(m == "16" and k == "32")
assert(("a,b,c"):gsub(",", ";") == "a;b;c")
return kernel "sandbox_ok" {
  template = "small.c",
  params = { a = values { 1, 2 } },
  problems = { problem "p" { n = 4 } },
}
