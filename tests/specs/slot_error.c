/* slot_error.c */
int f(void) {
  /*$slot broken
  emit("int x = %d;", A)
  local t = nil
  emit("%d", t.field)
  $*/
  return 0;
  /*$end*/
}
