/*
 * kg_counters.h - performance counters around a timed region: perf_event_open, with names
 * encoded by libpfm4.
 *
 * Names are generic perf names (cycles, instructions, cache-misses, branch-misses,
 * LLC-load-misses, task-clock, context-switches, cpu-migrations, page-faults) or PMU-specific
 * ones libpfm4 knows ("amd64_fam1ah_zen5::RETIRED_INSTRUCTIONS").  An event the machine cannot
 * count is marked unavailable with the reason; it is never reported as zero.  Counters count the
 * calling thread (and, with inherit, threads it creates later) in user and kernel mode where
 * permitted.
 */
#ifndef KG_COUNTERS_H
#define KG_COUNTERS_H

#include <stdbool.h>
#include <stdint.h>

#include "kg_status.h"

#define KG_MAX_EVENTS 16

typedef struct kg_counters kg_counters;

/**
 * Open `n` events (n <= KG_MAX_EVENTS) for the calling thread, disabled.  Unsupported or
 * unknown events do not fail the call: they are marked unavailable (see kg_counters_available).
 * Errors: KG_EINVAL (n out of range), KG_ENOMEM.  Free with kg_counters_free.
 */
kg_status kg_counters_open(const char *const *names, int n, kg_counters **out, kg_ctx *ctx);

/** Close every event; NULL is a no-op. */
void kg_counters_free(kg_counters *c);

int kg_counters_count(const kg_counters *c);
const char *kg_counters_name(const kg_counters *c, int i);
/** Whether event i could be opened on this machine. */
bool kg_counters_available(const kg_counters *c, int i);
/** Why event i is unavailable ("not supported by this PMU", "unknown event"), or "". */
const char *kg_counters_why(const kg_counters *c, int i);

/** Reset and enable all available events. */
void kg_counters_start(kg_counters *c);

/**
 * Disable the events and write their counts since kg_counters_start into values[count]
 * (scaled by time_enabled / time_running when multiplexed; NAN for unavailable events).
 */
void kg_counters_stop(kg_counters *c, double *values);

/** Whether the PMU exposes any hardware event (false on VMs that give software events only). */
bool kg_counters_hardware_available(void);

#endif
