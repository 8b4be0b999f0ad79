/* include_escape.c - includes a file outside every allowed folder: expansion refuses it. */
#include "../../../../../../../../etc/passwd"
int f(void) { return 0; }
