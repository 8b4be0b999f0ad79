/*
 * kg_measure.c - the measurement protocol (see kg_measure.h and DESIGN.md) in a forked worker.
 *
 * Parent: pipe + fork, poll the pipe until the whole kg_measurement arrives or the timeout
 * passes (then SIGKILL), waitpid, and turn a signal or an early exit into a recorded outcome.
 * Worker: restore default crash handlers (so a sanitizer's or the caller's handler does not
 * turn a crash into an exit code), pin, open counters, create, verify, warm up, pick the inner
 * repetitions, sample, compute statistics, verify again, write the struct whole and _exit(0) (never exit(),
 * which would flush the parent's stdio buffers a second time and run its atexit handlers).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "kg_measure.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kg_timer.h"

void kg_measure_opts_default(kg_measure_opts *o) {
  memset(o, 0, sizeof *o);
  o->min_time_s = 0.2;
  o->min_samples = 10;
  o->max_samples = 100000;
  o->warmup_s = 0.05;
  o->min_sample_ns = 20000;
  o->timeout_s = 60;
  o->cold = false;
  o->cpu = -1;
  o->max_retakes = 100;
  o->noisy_rel_ci = 0.05;
  o->nevents = 0;
}

/* ---- worker ---- */

/* Bytes of the last-level cache from sysfs ("32768K"); 32 MB when unknown. */
static size_t llc_bytes(void) {
  size_t bytes = 32u << 20;
  FILE *f = fopen("/sys/devices/system/cpu/cpu0/cache/index3/size", "r");
  if (!f) return bytes;
  unsigned long v;
  char unit = 0;
  int got = fscanf(f, "%lu%c", &v, &unit);
  fclose(f);
  if (got >= 1 && v > 0) {
    if (unit == 'K' || unit == 'k') bytes = (size_t)v << 10;
    else if (unit == 'M' || unit == 'm') bytes = (size_t)v << 20;
    else if (unit == 'G' || unit == 'g') bytes = (size_t)v << 30;
    else bytes = (size_t)v;
  }
  return bytes;
}

static volatile uint64_t flush_sink;

/* Evict the caches: read one word of every 64-byte line of a buffer of twice the LLC (written
 * once, when allocated, so its pages exist).  A line read brings the whole line in; reading rather
 * than writing leaves no dirty lines for the timed call to write back.  Two streams, so the
 * hardware prefetchers keep the loads going. */
static void flush_caches(uint64_t *buf, size_t words) {
  uint64_t s0 = 0, s1 = 0;
  for (size_t i = 0; i + 8 < words; i += 16) s0 += buf[i], s1 += buf[i + 8];
  flush_sink = s0 + s1;
}

static uint64_t time_reps(kg_run_fn run, void *state, int reps) {
  uint64_t t0 = kg_now_ns();
  for (int r = 0; r < reps; r++) run(state);
  return kg_now_ns() - t0;
}

enum { NOISE_CS, NOISE_MIG, NOISE_PF, NOISE_N };

/* Involuntary context switches of this process so far (getrusage sums them over its threads),
 * or -1. */
static long involuntary_switches(void) {
  struct rusage ru;
  return getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_nivcsw : -1;
}

/* Time the threads of this process have spent runnable but waiting for a CPU, summed (ns; the
 * second field of each /proc/self/task/<tid>/schedstat), or -1 where the kernel keeps none.  No
 * heap: it runs between the samples of a variant that may have corrupted the heap (opendir would
 * malloc, and abort there, during the measurement). */
static double run_delay_ns(void) {
  int dfd = open("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return -1;
  double sum = 0;
  int n = 0;
  char ents[2048];
  ssize_t len;
  while ((len = getdents64(dfd, ents, sizeof ents)) > 0)
    for (ssize_t off = 0; off < len;) {
      const struct dirent64 *e = (const struct dirent64 *)(ents + off);
      off += e->d_reclen;
      if (e->d_name[0] == '.') continue;
      char path[64], buf[96];
      snprintf(path, sizeof path, "/proc/self/task/%.20s/schedstat", e->d_name);
      int fd = open(path, O_RDONLY | O_CLOEXEC);
      if (fd < 0) continue;
      ssize_t got = read(fd, buf, sizeof buf - 1);
      close(fd);
      unsigned long long oncpu, waited;
      if (got > 0 && (buf[got] = '\0', sscanf(buf, "%llu %llu", &oncpu, &waited) == 2)) sum += (double)waited, n++;
    }
  close(dfd);
  return n ? sum : -1;
}

/* When a sample counts as disturbed, and is retaken.  Not for a switch as such: a voluntary one
 * (a thread waiting at a barrier, sleeping) is the kernel's own time, and on these VMs kernel
 * threads preempt a 2-thread 2048^3 GEMM 3-7 times per 150 ms call for microseconds each (every
 * sample was "disturbed", and the retakes doubled its measuring time).  A sample expected to take
 * >= KG_DELAY_SAMPLE_NS is disturbed when its threads waited for a CPU longer than
 * KG_DELAY_FRACTION of it (run queue delay, read before and after it: ~10 us of /proc reads,
 * < 1% of such a sample); a shorter one on any involuntary switch (a preemption costs
 * microseconds, a large share of it).  Where neither count exists, on any context switch the perf
 * event saw; and always on a migration. */
#define KG_DELAY_SAMPLE_NS 1e6
#define KG_DELAY_FRACTION 0.005

/* A core this machine lacks: run unpinned. */
#if defined(__SANITIZE_ADDRESS__)
#define KG_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define KG_ASAN 1
#endif
#endif

#ifndef KG_ASAN
/* VmData of this process in bytes (private writable memory, what RLIMIT_DATA bounds), or 0. */
static double kg_vm_data(void) {
  FILE *f = fopen("/proc/self/status", "r");
  if (!f) return 0;
  char line[256];
  double kb = 0;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "VmData: %lf kB", &kb) == 1) break;
  fclose(f);
  return kb * 1024.0;
}
#endif

double kg_measure_mem_limit(const kg_measure_opts *o) {
  if (o->mem_limit_bytes < 0) return 0;
  if (o->mem_limit_bytes > 0) return o->mem_limit_bytes;
  long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  return pages > 0 && page > 0 ? 0.5 * (double)pages * (double)page : 0;
}

void kg_measure_limit_memory(const kg_measure_opts *o) {
#ifndef KG_ASAN /* AddressSanitizer's shadow memory counts as data: a limit would break it */
  double limit = kg_measure_mem_limit(o);
  if (limit <= 0) return;
  double cap = kg_vm_data() + limit;
  struct rlimit rl = {(rlim_t)cap, (rlim_t)cap};
  (void)setrlimit(RLIMIT_DATA, &rl);
#else
  (void)o;
#endif
}

void kg_measure_pin(const kg_measure_opts *o) {
  if (o->cpu >= 0 && o->cpu < CPU_SETSIZE) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(o->cpu, &set);
    (void)sched_setaffinity(0, sizeof set, &set);
  }
}

/* Verify (when verify) and measure run on an existing state: counters, warm-up, inner
 * repetitions, samples with retakes, statistics. */
void kg_measure_state(void *state, kg_run_fn run, kg_verify_fn verify, const kg_measure_opts *o, kg_measurement *m) {
  static const char *const noise_names[NOISE_N] = {"context-switches", "cpu-migrations", "page-faults"};
  kg_counters *noise = NULL, *extra = NULL;
  double *samples = NULL, *ev_sum = NULL;
  uint64_t *flush = NULL;
  size_t flush_words = 0;

  if (kg_counters_open(noise_names, NOISE_N, &noise, NULL) != KG_OK ||
      kg_counters_open(o->events, o->nevents, &extra, NULL) != KG_OK) {
    m->status = KG_EINTERNAL;
    snprintf(m->reason, sizeof m->reason, "could not allocate counters");
    goto done;
  }
  m->nevents = o->nevents;
  for (int i = 0; i < o->nevents; i++) {
    m->events[i] = NAN;
    m->event_available[i] = kg_counters_available(extra, i);
    snprintf(m->event_why[i], sizeof m->event_why[i], "%s", kg_counters_why(extra, i));
  }
  if (verify) {
    char msg[sizeof m->reason];
    msg[0] = '\0';
    int rc = verify(state, msg, sizeof msg);
    if (rc != 0) {
      m->status = KG_EVERIFY;
      if (msg[0]) snprintf(m->reason, sizeof m->reason, "%s", msg);
      else snprintf(m->reason, sizeof m->reason, "verification failed (code %d)", rc);
      goto done;
    }
    if (msg[0] == '{') snprintf(m->accuracy, sizeof m->accuracy, "%s", msg);
  }
  if (o->cold) {
    flush_words = 2 * llc_bytes() / sizeof(uint64_t);
    flush = malloc(flush_words * sizeof *flush);
    if (!flush) flush_words = 0; /* measure warm rather than not at all */
    for (size_t i = 0; i < flush_words; i++) flush[i] = i;
    m->cold = flush != NULL;
  }

  /* Warm up: at least one call, then until warmup_s has passed; the fastest call's time kept. */
  uint64_t wstart = kg_now_ns(), wlimit = (uint64_t)(o->warmup_s * 1e9), wmin = UINT64_MAX, t;
  do {
    t = kg_now_ns();
    run(state);
    t = kg_now_ns() - t;
    if (t < wmin) wmin = t;
  } while (kg_now_ns() - wstart < wlimit);

  /* Inner repetitions: double until a sample takes min_sample_ns, twice in a row.  A disturbance
   * only lengthens a sample, so one preempted sample would stop the doubling too early.  A
   * kernel whose fastest warm-up call already took 10 x min_sample_ns needs none (and the two
   * probe calls would cost two more of its long calls: ~15% of a screening measurement). */
  int reps = 1;
  while (!flush && (double)wmin < 10 * o->min_sample_ns && reps < (1 << 30) &&
         ((double)time_reps(run, state, reps) < o->min_sample_ns ||
          (double)time_reps(run, state, reps) < o->min_sample_ns))
    reps *= 2;
  m->inner_reps = reps;

  size_t cap = (size_t)o->max_samples;
  const bool long_samples = (double)wmin * reps >= KG_DELAY_SAMPLE_NS;
  samples = malloc(cap * sizeof *samples);
  ev_sum = calloc(KG_MAX_EVENTS, sizeof *ev_sum);
  if (!samples || !ev_sum) {
    m->status = KG_EINTERNAL;
    snprintf(m->reason, sizeof m->reason, "out of memory for %zu samples", cap);
    goto done;
  }
  double noise_sum[NOISE_N] = {0}, nv[NOISE_N], xv[KG_MAX_EVENTS];
  uint64_t measured = 0, retaken_ns = 0, min_measured = (uint64_t)(o->min_time_s * 1e9);
  size_t kept = 0;
  bool cut = false;
  double fastest = INFINITY; /* the fastest kept sample, ns per call */
  /* Cold: one call per sample, each after a flush of 2x the LLC (which costs far more than a
   * call), so sampling also stops once KG_COLD_WALL_FACTOR x min_time_s of wall time has passed
   * with min_samples kept. */
  const uint64_t sampling_start = kg_now_ns(), cold_wall = (uint64_t)(KG_COLD_WALL_FACTOR * o->min_time_s * 1e9);
  while (kept < cap && (kept < (size_t)o->min_samples ||
                        (measured < min_measured && !(flush && kg_now_ns() - sampling_start > cold_wall)))) {
    if (flush) flush_caches(flush, flush_words);
    const double wait0 = long_samples ? run_delay_ns() : -1;
    const long iv0 = wait0 >= 0 ? -1 : involuntary_switches(); /* only where the delay is not read */
    kg_counters_start(noise);
    kg_counters_start(extra);
    uint64_t dt = time_reps(run, state, reps);
    kg_counters_stop(extra, xv);
    kg_counters_stop(noise, nv);
    const long iv1 = iv0 >= 0 ? involuntary_switches() : -1;
    const double wait1 = wait0 >= 0 ? run_delay_ns() : -1;
    bool preempted;
    if (wait0 >= 0 && wait1 >= 0) preempted = wait1 - wait0 > KG_DELAY_FRACTION * (double)dt;
    else if (iv0 >= 0 && iv1 >= 0) preempted = iv1 > iv0;
    else preempted = !isnan(nv[NOISE_CS]) && nv[NOISE_CS] > 0;
    bool disturbed = preempted || (!isnan(nv[NOISE_MIG]) && nv[NOISE_MIG] > 0);
    /* Retakes cost at most as much time as the kept samples (or min_time): a kernel whose
     * every sample is disturbed (seconds long on a busy machine, or one that sleeps) would
     * otherwise pay max_retakes samples more and run into the timeout.  Cold: none past the
     * wall-time bound either (each costs a flush). */
    if (disturbed && m->retaken < o->max_retakes && retaken_ns < (measured > min_measured ? measured : min_measured) &&
        !(flush && kg_now_ns() - sampling_start > cold_wall)) {
      m->retaken++;
      retaken_ns += dt;
      continue;
    }
    samples[kept++] = (double)dt / reps;
    measured += dt;
    /* Once the kept samples are KG_CUTOFF_SAMPLES and span KG_CUTOFF_MIN_NS (a few-microsecond
     * kernel's first three samples fit in one burst of noise); the fastest only falls, so a
     * variant not cut then is never cut later. */
    fastest = fmin(fastest, samples[kept - 1]);
    if (o->cutoff_ns > 0 && kept >= KG_CUTOFF_SAMPLES && measured >= KG_CUTOFF_MIN_NS && fastest > o->cutoff_ns) {
      cut = true;
      break;
    }
    for (int i = 0; i < NOISE_N; i++) noise_sum[i] += nv[i]; /* NAN stays NAN */
    for (int i = 0; i < o->nevents; i++) ev_sum[i] += xv[i];
  }

  if (kg_stats_compute(samples, kept, &m->stats) != KG_OK) {
    m->status = KG_EINTERNAL;
    snprintf(m->reason, sizeof m->reason, "no samples taken (max_samples %d)", o->max_samples);
    goto done;
  }
  m->noisy = kg_stats_rel_ci(&m->stats) > o->noisy_rel_ci;
  m->ctx_switches = noise_sum[NOISE_CS] / (double)kept;
  m->migrations = noise_sum[NOISE_MIG] / (double)kept;
  m->page_faults = noise_sum[NOISE_PF] / (double)kept;
  for (int i = 0; i < o->nevents; i++) m->events[i] = m->event_available[i] ? ev_sum[i] / ((double)kept * reps) : NAN;
  /* Verify again: a variant that is right on its first call and then changes the state (shrinks
   * the problem, stops computing) would otherwise be timed doing less than the work. */
  if (verify) {
    char msg[sizeof m->reason - 64];
    msg[0] = '\0';
    int rc = verify(state, msg, sizeof msg);
    if (rc != 0) {
      m->status = KG_EVERIFY;
      snprintf(m->reason, sizeof m->reason, "wrong after it was timed: %s", msg[0] ? msg : "verification failed");
      goto done;
    }
  }
  m->status = KG_OK;
  if (cut) {
    m->status = KG_ECENSORED;
    snprintf(m->reason, sizeof m->reason,
             "censored after %zu samples: at least %.4g ns per call, over the cutoff %.4g ns", kept, m->stats.min,
             o->cutoff_ns);
  }

done:
  free(samples);
  free(ev_sum);
  free(flush);
  kg_counters_free(extra);
  kg_counters_free(noise);
}

/* The one-shot worker: create, measure, destroy. */
static void worker(const kg_problem *p, const kg_entry *e, const kg_measure_opts *o, kg_measurement *m) {
  kg_measure_pin(o);
  kg_measure_limit_memory(o);
  void *state = e->create(p);
  if (!state) {
    m->status = KG_EINTERNAL;
    snprintf(m->reason, sizeof m->reason, "kg_create failed");
    return;
  }
  kg_measure_state(state, e->run, e->verify, o, m);
  if (e->destroy) e->destroy(state);
}

/* ---- parent ---- */

const char *kg_measure_signal_name(int sig, char *buf, size_t cap) {
  switch (sig) {
  case SIGSEGV: return "SIGSEGV";
  case SIGABRT: return "SIGABRT (abort)";
  case SIGFPE: return "SIGFPE";
  case SIGILL: return "SIGILL";
  case SIGBUS: return "SIGBUS";
  case SIGKILL: return "SIGKILL (killed, perhaps out of memory)";
  case SIGTRAP: return "SIGTRAP";
  }
  snprintf(buf, cap, "signal %d (%s)", sig, strsignal(sig));
  return buf;
}

void kg_measurement_init(kg_measurement *m, const kg_measure_opts *o) {
  memset(m, 0, sizeof *m);
  m->status = KG_EINTERNAL;
  m->ctx_switches = m->migrations = m->page_faults = NAN;
  m->nevents = o ? o->nevents : 0;
  for (int i = 0; i < KG_MAX_EVENTS; i++) m->events[i] = NAN;
}

kg_status kg_measure(const kg_problem *p, const kg_entry *e, const kg_measure_opts *opts, kg_measurement *out,
                     kg_ctx *ctx) {
  if (!out) return kg_ctx_set(ctx, KG_EINVAL, "kg_measure: out is NULL");
  kg_measure_opts o;
  if (opts) o = *opts;
  else kg_measure_opts_default(&o);
  kg_measurement_init(out, &o);
  if (!e || !e->create || !e->run || o.nevents < 0 || o.nevents > KG_MAX_EVENTS || o.min_samples < 1 ||
      o.max_samples < o.min_samples || !(o.timeout_s > 0)) {
    out->status = KG_EINVAL;
    snprintf(out->reason, sizeof out->reason, "invalid entry points or options");
    return kg_ctx_set(ctx, KG_EINVAL, "kg_measure: %s", out->reason);
  }

  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    snprintf(out->reason, sizeof out->reason, "pipe: %s", strerror(errno));
    return kg_ctx_set(ctx, KG_EINTERNAL, "kg_measure: %s", out->reason);
  }
  fflush(NULL); /* a variant that calls exit() must not replay our buffered output */
  uint64_t t0 = kg_now_ns();
  pid_t pid = fork();
  if (pid < 0) {
    snprintf(out->reason, sizeof out->reason, "fork: %s", strerror(errno));
    close(fds[0]);
    close(fds[1]);
    return kg_ctx_set(ctx, KG_EINTERNAL, "kg_measure: %s", out->reason);
  }
  if (pid == 0) {
    close(fds[0]);
    kg_measure_child_setup();
    static kg_measurement m; /* static: keep the worker's stack small and the struct whole */
    kg_measurement_init(&m, &o);
    worker(p, e, &o, &m);
    m.wall_s = (double)(kg_now_ns() - t0) * 1e-9;
    _exit(kg_measure_send(fds[1], &m) ? 0 : 3);
  }

  setpgid(pid, pid); /* also here: no race with the child's own call */
  close(fds[1]);
  if (kg_measure_receive(fds[0], pid, t0 + (uint64_t)(o.timeout_s * 1e9), o.timeout_s, out)) {
    int wst;
    kg_measure_reap(pid, kg_now_ns() + (uint64_t)5e9, &wst);
  }
  close(fds[0]);
  double wall = (double)(kg_now_ns() - t0) * 1e-9;
  out->wall_s = wall;
  return KG_OK;
}

bool kg_measure_write(int fd, const void *buf, size_t len) {
  const char *b = buf;
  while (len > 0) {
    ssize_t w = write(fd, b, len);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    b += w;
    len -= (size_t)w;
  }
  return true;
}

bool kg_measure_send(int fd, const kg_measurement *m) { return kg_measure_write(fd, m, sizeof *m); }

void kg_measure_child_setup(void) {
  setpgid(0, 0);                    /* its own group: killed as one, with what it forks */
  prctl(PR_SET_PDEATHSIG, SIGKILL); /* die with the caller */
  static const int crash[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGTRAP};
  for (size_t i = 0; i < sizeof crash / sizeof crash[0]; i++) signal(crash[i], SIG_DFL);
  struct rlimit nocore = {0, 0};
  setrlimit(RLIMIT_CORE, &nocore); /* a crashing variant is data, not a core file */
}

/* Whether process pid has ended (without reaping it). */
static bool kg_exited(int pid) {
  siginfo_t info;
  memset(&info, 0, sizeof info);
  return waitid(P_PID, (id_t)pid, &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == pid;
}

void kg_measure_kill(int pid) {
  if (pid <= 0) return;
  kill(-pid, SIGKILL); /* its process group: whatever it forked */
  kill(pid, SIGKILL);
}

kg_status kg_measure_reap(int pid, uint64_t deadline, int *wstatus) {
  for (;;) {
    int wst = 0;
    pid_t r = waitpid(pid, &wst, WNOHANG);
    if (r == pid) {
      *wstatus = wst;
      kg_measure_kill(pid); /* stragglers of its group */
      return KG_OK;
    }
    if (r < 0 && errno != EINTR) return KG_EINTERNAL;
    if (kg_now_ns() >= deadline) {
      kg_measure_kill(pid);
      while (waitpid(pid, &wst, 0) < 0 && errno == EINTR) {
      }
      *wstatus = wst;
      return KG_ETIMEOUT;
    }
    struct timespec ms = {0, 1000000};
    nanosleep(&ms, NULL);
  }
}

bool kg_measure_receive(int fd, int pid, uint64_t deadline, double timeout_s, kg_measurement *out) {
  kg_measurement got;
  size_t have = 0;
  bool timed_out = false, dead = false;
  while (have < sizeof got) {
    uint64_t now = kg_now_ns();
    if (now >= deadline) {
      timed_out = true;
      break;
    }
    /* Wake up every 50 ms to see whether the process died: a child it forked may hold the pipe
     * open, so EOF alone would not say it. */
    uint64_t left_ms = (deadline - now + 999999) / 1000000;
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    int r = poll(&pfd, 1, dead ? 0 : left_ms > 50 ? 50 : (int)left_ms);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) break;
    if (r == 0) {
      if (dead) break; /* dead and nothing more to read */
      dead = kg_exited(pid);
      continue;
    }
    ssize_t n = read(fd, (char *)&got + have, sizeof got - have);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break; /* EOF: the worker is gone */
    have += (size_t)n;
  }
  if (have == sizeof got) {
    *out = got;
    return true;
  }
  int wst = 0;
  if (timed_out) kg_measure_kill(pid);
  kg_measure_reap(pid, kg_now_ns() + (uint64_t)5e9, &wst);
  if (timed_out) {
    out->status = KG_ETIMEOUT;
    snprintf(out->reason, sizeof out->reason, "timed out after %g s", timeout_s);
  } else if (WIFSIGNALED(wst)) {
    char buf[64];
    out->status = KG_ECRASH;
    snprintf(out->reason, sizeof out->reason, "%s", kg_measure_signal_name(WTERMSIG(wst), buf, sizeof buf));
  } else {
    out->status = KG_ECRASH;
    snprintf(out->reason, sizeof out->reason, "worker exited with code %d before reporting",
             WIFEXITED(wst) ? WEXITSTATUS(wst) : -1);
  }
  return false;
}
