#ifndef SMALL_INC_H
#define SMALL_INC_H
#include "small_inc2.h"
static const int small_inc_marker = 1;
#endif
