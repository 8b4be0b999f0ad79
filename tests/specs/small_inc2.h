#include "small_inc.h"
static const int small_inc2_marker = 2;
