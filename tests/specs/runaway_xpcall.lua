-- A runaway loop inside xpcall with a handler that swallows the error.
while true do
  xpcall(function() while true do end end, function(e) return e end)
end
