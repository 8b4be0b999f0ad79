/* slot_runaway.c */
int f(void) {
  /*$slot spin
  while true do pcall(function() while true do end end) end
  $*/
  return 0;
  /*$end*/
}
