/* include_slot.c - test template: a slot that sets a Lua global, then a header with a slot. */
/*$slot config
INCLUDE_SLOT_EXTRA = FLAG == 1
$*/
/*$end*/
#include "include_slot.h"
