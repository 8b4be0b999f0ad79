-- Few instructions, much time: only a wall-clock limit stops this.
while true do
  local s = string.rep("x", 1 << 20)
end
