/*
 * kg_measure.h - verify and time one variant on one problem in a forked worker.
 *
 * The protocol (DESIGN.md): the worker pins itself to a core, creates the problem (seeded
 * inputs), verifies the variant against the template's reference, warms up, then takes samples
 * until both a minimum measured time and a minimum sample count are reached, and verifies again
 * (a variant must still be right after it was timed).  Kernels shorter
 * than `min_sample_ns` are repeated inside a sample (inner repetitions) so the timer's
 * resolution does not matter.  Each sample also reads context switches and CPU migrations
 * (perf software events); a disturbed sample is retaken, up to a bound, and counted: one during
 * which a thread of the process was migrated, or preempted (a sample of >= 1 ms: its threads
 * waited for a CPU, by /proc/self/task/x/schedstat, longer than 0.5% of it; a shorter one: any
 * involuntary switch).  Voluntary switches (a thread waiting at a barrier, sleeping) are the
 * kernel's own time: counted in ctx_switches, never retaken.  A crash
 * (signal), an abort, a hang (timeout) or a wrong result is a recorded outcome, never the end
 * of the caller.  Results come back over a pipe.
 */
#ifndef KG_MEASURE_H
#define KG_MEASURE_H

#include <stdbool.h>

#include "kg_abi.h"
#include "kg_counters.h"
#include "kg_stats.h"
#include "kg_status.h"

/** Entry points of a compiled variant (see kg_abi.h).  verify may be NULL (not checked). */
typedef struct kg_entry {
  kg_create_fn create;
  kg_run_fn run;       /**< what is timed: the variant's kg_run or a kg_baseline_<name> */
  kg_verify_fn verify; /**< checked before timing; NULL skips verification (baselines) */
  kg_destroy_fn destroy;
} kg_entry;

/** Measurement options; kg_measure_opts_default fills the documented defaults. */
typedef struct kg_measure_opts {
  double min_time_s;      /**< minimum total measured time (default 0.2 s) */
  int min_samples;        /**< at least this many samples (default 10) */
  int max_samples;        /**< at most this many (default 100000) */
  double warmup_s;        /**< warm-up time before sampling (default 0.05 s) */
  double min_sample_ns;   /**< inner repetition until a sample takes this long, twice in a row
                              (default 20 us: the per-sample counter reads then cost a few percent) */
  double timeout_s;       /**< the worker is killed after this long (default 60 s) */
  bool cold;              /**< flush caches (read every line of a buffer of 2x the LLC) before each
                              sample, one call per sample (no inner repetitions); sampling then
                              also stops after KG_COLD_WALL_FACTOR x min_time_s of wall time once
                              min_samples are kept (a flush costs more than most calls) */
  int cpu;                /**< pin the worker to this core; -1 = do not pin (default -1).  A core
                              this machine lacks means no pinning.  Threads the variant creates
                              inherit the pin: an OpenMP variant pinned to one core runs on one
                              core (libomp sizes its team from the affinity mask), so pass -1
                              to measure parallel variants */
  int max_retakes;        /**< bound on retaken disturbed samples (default 100); retakes also
                              stop once they took as long as the kept samples or min_time_s,
                              whichever is longer (a kernel of seconds on a busy machine is
                              disturbed in every sample) */
  double mem_limit_bytes; /**< a worker may allocate this much beyond what it holds when it starts
                              (RLIMIT_DATA; an allocation past it fails); 0 = half of physical
                              memory (default), < 0 = no limit.  Not applied under
                              AddressSanitizer, whose shadow memory counts as data */
  double noisy_rel_ci;    /**< the result is flagged noisy when (ci_hi - ci_lo) / p50 exceeds
                              this after the retakes (default 0.05) */
  int nevents;            /**< extra counter events to read around the timed region */
  const char *events[KG_MAX_EVENTS];
  double cutoff_ns; /**< early cut-off (0 = none, the default): when the fastest of the first
                              samples (KG_CUTOFF_SAMPLES of them, spanning KG_CUTOFF_MIN_NS) is
                              slower than this (ns per call), sampling stops and the measurement is
                              KG_ECENSORED, its stats a lower bound (OpenTuner's cut-off, Ansel et
                              al., PACT 2014) */
} kg_measure_opts;

/** Cold sampling's wall-time bound, in multiples of min_time_s (see kg_measure_opts.cold). */
#define KG_COLD_WALL_FACTOR 10.0

/** Samples taken before an early cut-off is decided. */
#define KG_CUTOFF_SAMPLES 3

/** Kept sample time (ns) taken before an early cut-off is decided: three samples of a 0.3 us
 *  kernel all ran 2.3x slow in one burst of noise on a shared 2-vCPU VM. */
#define KG_CUTOFF_MIN_NS 1e6

void kg_measure_opts_default(kg_measure_opts *o);

/** The outcome of one measurement. */
typedef struct kg_measurement {
  kg_status status;    /**< KG_OK, KG_EVERIFY, KG_ECRASH, KG_ETIMEOUT, or KG_EINTERNAL when
                              kg_create returned NULL */
  char reason[1024];   /**< "" when ok; "SIGSEGV", "timed out after 60 s", the verify message */
  char accuracy[512];  /**< "" or the JSON object a passing kg_verify wrote (kg_abi.h) */
  char phases[512];    /**< "" or {"name": ns per call, ...} from the template's kg_phases
                            (kg_abi.h), read after the timing when the caller asked for it */
  kg_stats stats;      /**< ns per kg_run call, over the kept samples */
  int inner_reps;      /**< kg_run calls per sample */
  int retaken;         /**< samples retaken: a thread preempted (beyond the bound above) or migrated */
  double ctx_switches; /**< context switches (voluntary too) per kept sample (mean), NAN when unavailable */
  double migrations;   /**< CPU migrations per kept sample (mean), NAN when unavailable */
  double page_faults;  /**< page faults per kept sample (mean), NAN when unavailable */
  bool noisy;          /**< the median's CI stayed wider than noisy_rel_ci */
  bool cold;           /**< measured with cache flushing */
  int nevents;
  double events[KG_MAX_EVENTS]; /**< mean count per kg_run call; NAN when unavailable */
  bool event_available[KG_MAX_EVENTS];
  char event_why[KG_MAX_EVENTS][64];
  double wall_s; /**< wall time of the whole worker */
} kg_measurement;

/**
 * Fork a worker that creates problem p with e->create, verifies (when e->verify), measures
 * e->run under opts and destroys the state.  The outcome lands in *out (out->status); the
 * return value is an error only when the worker could not be run at all (KG_EINTERNAL: fork or
 * pipe failed).  Thread-compatible: one measurement at a time per process.
 */
kg_status kg_measure(const kg_problem *p, const kg_entry *e, const kg_measure_opts *opts, kg_measurement *out,
                     kg_ctx *ctx);

/**
 * The protocol without the fork, on a state the caller created: verify (when verify is not
 * NULL), warm up, sample, summarise into *m (whose status and reason it sets).  Runs the variant
 * in the calling process: used inside workers (kg_worker.h), never on the caller's side.
 */
void kg_measure_state(void *state, kg_run_fn run, kg_verify_fn verify, const kg_measure_opts *o, kg_measurement *m);

/** Reset m to "nothing measured": KG_EINTERNAL, NAN noise figures and events. */
void kg_measurement_init(kg_measurement *m, const kg_measure_opts *o);

/**
 * Read one kg_measurement from worker `pid` over fd until `deadline_ns` (kg_now_ns clock).
 * Returns true with *out filled when it arrived whole.  Otherwise the worker is gone: killed at
 * the deadline (KG_ETIMEOUT), or dead by a signal or early exit (KG_ECRASH with the signal's
 * name); it is reaped and *out says why.
 */
bool kg_measure_receive(int fd, int pid, uint64_t deadline_ns, double timeout_s, kg_measurement *out);

/** Write len bytes of buf whole to fd, retrying on EINTR; false when the pipe broke. */
bool kg_measure_write(int fd, const void *buf, size_t len);

/** Write *m whole to fd (a worker's answer); false when the pipe broke. */
bool kg_measure_send(int fd, const kg_measurement *m);

/** Kill process pid and its process group (what it forked) with SIGKILL.  pid <= 0: no-op. */
void kg_measure_kill(int pid);

/**
 * Wait until process pid ends, at most until deadline_ns (then kill it and its group, and return
 * KG_ETIMEOUT); *wstatus gets its waitpid status.  What is left of its process group is killed.
 * Errors: KG_EINTERNAL (not our child).
 */
kg_status kg_measure_reap(int pid, uint64_t deadline_ns, int *wstatus);

/** In a freshly forked worker: its own process group, default crash signals, no core files, die
 *  with the parent. */
void kg_measure_child_setup(void);

/** The memory limit o asks for, in bytes (0: none); see kg_measure_opts.mem_limit_bytes. */
double kg_measure_mem_limit(const kg_measure_opts *o);

/** In a worker, before it creates anything: apply o's memory limit to the calling process. */
void kg_measure_limit_memory(const kg_measure_opts *o);

/** "SIGSEGV", "SIGABRT (abort)", ... or "signal N (description)" written into buf. */
const char *kg_measure_signal_name(int sig, char *buf, size_t cap);

/** Pin the calling process to o->cpu when it is >= 0. */
void kg_measure_pin(const kg_measure_opts *o);

#endif
