/* include_slot.h - a header with a Lua slot (tests/specs/include_slot.c). */
#ifndef INCLUDE_SLOT_H
#define INCLUDE_SLOT_H
/*$slot header_body
for i = 0, W - 1 do emit("static const int include_slot_w%d = %d;", i, i) end
if INCLUDE_SLOT_EXTRA then emit("static const int include_slot_extra = 1;") end
$*/
static const int include_slot_default = 1;
/*$end*/
#endif
