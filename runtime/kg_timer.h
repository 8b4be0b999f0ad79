/* kg_timer.h - monotonic nanosecond clock for measurements. */
#ifndef KG_TIMER_H
#define KG_TIMER_H

#include <stdint.h>

/** Nanoseconds from CLOCK_MONOTONIC_RAW (immune to NTP slewing). */
uint64_t kg_now_ns(void);

/** Smallest observable step of kg_now_ns in ns, measured (median of repeated back-to-back reads). */
double kg_timer_resolution_ns(void);

#endif
