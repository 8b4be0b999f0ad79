-- A finalizer that loops would run with hooks off (Lua 5.4): refused at setmetatable.
local t = setmetatable({}, { __gc = function() while true do end end })
return t
