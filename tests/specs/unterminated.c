/* unterminated.c */
int g(void) {
  return 1;
  /*$slot body
  emit("return %d;", A)
  $*/
  return 0;
}
