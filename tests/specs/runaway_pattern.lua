-- Exponential backtracking inside one C call, where no hook fires: refused before it starts.
local s = string.rep("a", 5000)
local x = s:find("(.-)(.-)(.-)(.-)b")
return x
