-- A runaway loop inside pcall, itself in a loop: the limit must not be catchable.
while true do
  pcall(function() while true do end end)
end
