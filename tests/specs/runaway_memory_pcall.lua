-- Running out of memory inside pcall is not caught either.
local t = {}
while true do
  pcall(function() t[#t + 1] = string.rep("x", 1 << 20) end)
end
