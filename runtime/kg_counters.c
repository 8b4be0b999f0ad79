/*
 * kg_counters.c - perf_event_open counters, names encoded by libpfm4.
 *
 * Each event is its own fd (no group): software and hardware events mix freely and a failing
 * event never takes others down.  libpfm4 encodes generic perf names ("cycles", "task-clock",
 * "LLC-load-misses", via its "perf" PMU table) and PMU-specific ones when it detects that PMU;
 * a small built-in table of generic events is the fallback when libpfm4 cannot be initialised
 * or does not know a generic name.  Counts are scaled by time_enabled / time_running.
 */
#include "kg_counters.h"

#include <errno.h>
#include <linux/perf_event.h>
#include <math.h>
#include <perfmon/pfmlib_perf_event.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

struct kg_event {
  char name[128];
  int fd;       /* -1 when unavailable */
  char why[64]; /* "" when available */
};

struct kg_counters {
  int n;
  struct kg_event ev[KG_MAX_EVENTS];
};

static pthread_once_t pfm_once = PTHREAD_ONCE_INIT;
static int pfm_ok;

static void pfm_init_once(void) { pfm_ok = pfm_initialize() == PFM_SUCCESS; }

/* Generic perf events by their `perf list` names; the fallback when libpfm4 cannot encode. */
static const struct {
  const char *name;
  uint32_t type;
  uint64_t config;
} builtin[] = {
    {"cycles", PERF_TYPE_HARDWARE, PERF_COUNT_HW_CPU_CYCLES},
    {"cpu-cycles", PERF_TYPE_HARDWARE, PERF_COUNT_HW_CPU_CYCLES},
    {"instructions", PERF_TYPE_HARDWARE, PERF_COUNT_HW_INSTRUCTIONS},
    {"cache-references", PERF_TYPE_HARDWARE, PERF_COUNT_HW_CACHE_REFERENCES},
    {"cache-misses", PERF_TYPE_HARDWARE, PERF_COUNT_HW_CACHE_MISSES},
    {"branches", PERF_TYPE_HARDWARE, PERF_COUNT_HW_BRANCH_INSTRUCTIONS},
    {"branch-instructions", PERF_TYPE_HARDWARE, PERF_COUNT_HW_BRANCH_INSTRUCTIONS},
    {"branch-misses", PERF_TYPE_HARDWARE, PERF_COUNT_HW_BRANCH_MISSES},
    {"ref-cycles", PERF_TYPE_HARDWARE, PERF_COUNT_HW_REF_CPU_CYCLES},
    {"LLC-load-misses", PERF_TYPE_HW_CACHE,
     PERF_COUNT_HW_CACHE_LL | (PERF_COUNT_HW_CACHE_OP_READ << 8) | (PERF_COUNT_HW_CACHE_RESULT_MISS << 16)},
    {"L1-dcache-load-misses", PERF_TYPE_HW_CACHE,
     PERF_COUNT_HW_CACHE_L1D | (PERF_COUNT_HW_CACHE_OP_READ << 8) | (PERF_COUNT_HW_CACHE_RESULT_MISS << 16)},
    {"task-clock", PERF_TYPE_SOFTWARE, PERF_COUNT_SW_TASK_CLOCK},
    {"cpu-clock", PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CPU_CLOCK},
    {"context-switches", PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CONTEXT_SWITCHES},
    {"cs", PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CONTEXT_SWITCHES},
    {"cpu-migrations", PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CPU_MIGRATIONS},
    {"migrations", PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CPU_MIGRATIONS},
    {"page-faults", PERF_TYPE_SOFTWARE, PERF_COUNT_SW_PAGE_FAULTS},
    {"faults", PERF_TYPE_SOFTWARE, PERF_COUNT_SW_PAGE_FAULTS},
    {"minor-faults", PERF_TYPE_SOFTWARE, PERF_COUNT_SW_PAGE_FAULTS_MIN},
    {"major-faults", PERF_TYPE_SOFTWARE, PERF_COUNT_SW_PAGE_FAULTS_MAJ},
};

static long perf_open(struct perf_event_attr *a) {
  return syscall(SYS_perf_event_open, a, 0 /* this thread */, -1 /* any cpu */, -1 /* no group */,
                 PERF_FLAG_FD_CLOEXEC);
}

/* Encode `name` into *a: libpfm4 first, then the built-in table.  0 on success. */
static int encode(const char *name, struct perf_event_attr *a, char *why, size_t cap) {
  memset(a, 0, sizeof *a);
  pthread_once(&pfm_once, pfm_init_once);
  int r = PFM_ERR_NOINIT;
  if (pfm_ok) {
    pfm_perf_encode_arg_t arg;
    memset(&arg, 0, sizeof arg);
    arg.attr = a;
    arg.size = sizeof arg;
    r = pfm_get_os_event_encoding(name, PFM_PLM0 | PFM_PLM3, PFM_OS_PERF_EVENT_EXT, &arg);
    if (r == PFM_SUCCESS) return 0;
    memset(a, 0, sizeof *a);
  }
  for (size_t i = 0; i < sizeof builtin / sizeof builtin[0]; i++) {
    if (strcmp(builtin[i].name, name) == 0) {
      a->type = builtin[i].type;
      a->config = builtin[i].config;
      return 0;
    }
  }
  snprintf(why, cap, "unknown event (libpfm4: %s)", pfm_ok ? pfm_strerror(r) : "not initialised");
  return -1;
}

/* Open an encoded event for the calling thread, disabled.  Returns the fd or -1 with `why`. */
static int open_attr(struct perf_event_attr *a, char *why, size_t cap) {
  a->size = sizeof *a;
  a->disabled = 1;
  a->inherit = 1; /* threads the variant creates later (OpenMP) are counted too */
  a->exclude_hv = 1;
  a->read_format = PERF_FORMAT_TOTAL_TIME_ENABLED | PERF_FORMAT_TOTAL_TIME_RUNNING;
  long fd = perf_open(a);
  if (fd < 0 && (errno == EACCES || errno == EPERM) && !a->exclude_kernel) {
    a->exclude_kernel = 1; /* perf_event_paranoid >= 2 without privileges: user mode only */
    fd = perf_open(a);
  }
  if (fd >= 0) return (int)fd;
  switch (errno) {
  case ENOENT:
  case EOPNOTSUPP:
  case ENODEV:
  case EINVAL: snprintf(why, cap, "not supported by this PMU (%s)", strerror(errno)); break;
  case EACCES:
  case EPERM: snprintf(why, cap, "permission denied (perf_event_paranoid)"); break;
  default: snprintf(why, cap, "perf_event_open: %s", strerror(errno));
  }
  return -1;
}

kg_status kg_counters_open(const char *const *names, int n, kg_counters **out, kg_ctx *ctx) {
  if (!out) return kg_ctx_set(ctx, KG_EINVAL, "kg_counters_open: out is NULL");
  *out = NULL;
  if (n < 0 || n > KG_MAX_EVENTS || (n > 0 && !names))
    return kg_ctx_set(ctx, KG_EINVAL, "kg_counters_open: %d events (at most %d)", n, KG_MAX_EVENTS);
  kg_counters *c = calloc(1, sizeof *c);
  if (!c) return kg_ctx_set(ctx, KG_ENOMEM, "kg_counters_open: out of memory");
  c->n = n;
  for (int i = 0; i < n; i++) {
    struct kg_event *e = &c->ev[i];
    e->fd = -1;
    snprintf(e->name, sizeof e->name, "%s", names[i] ? names[i] : "");
    struct perf_event_attr a;
    if (!names[i] || !names[i][0]) {
      snprintf(e->why, sizeof e->why, "empty event name");
      continue;
    }
    if (encode(names[i], &a, e->why, sizeof e->why) != 0) continue;
    e->fd = open_attr(&a, e->why, sizeof e->why);
  }
  *out = c;
  return KG_OK;
}

void kg_counters_free(kg_counters *c) {
  if (!c) return;
  for (int i = 0; i < c->n; i++)
    if (c->ev[i].fd >= 0) close(c->ev[i].fd);
  free(c);
}

int kg_counters_count(const kg_counters *c) { return c ? c->n : 0; }

const char *kg_counters_name(const kg_counters *c, int i) { return c && i >= 0 && i < c->n ? c->ev[i].name : ""; }

bool kg_counters_available(const kg_counters *c, int i) { return c && i >= 0 && i < c->n && c->ev[i].fd >= 0; }

const char *kg_counters_why(const kg_counters *c, int i) { return c && i >= 0 && i < c->n ? c->ev[i].why : ""; }

void kg_counters_start(kg_counters *c) {
  if (!c) return;
  for (int i = 0; i < c->n; i++) {
    if (c->ev[i].fd < 0) continue;
    ioctl(c->ev[i].fd, PERF_EVENT_IOC_RESET, 0);
    ioctl(c->ev[i].fd, PERF_EVENT_IOC_ENABLE, 0);
  }
}

void kg_counters_stop(kg_counters *c, double *values) {
  if (!c) return;
  for (int i = 0; i < c->n; i++)
    if (c->ev[i].fd >= 0) ioctl(c->ev[i].fd, PERF_EVENT_IOC_DISABLE, 0);
  for (int i = 0; i < c->n; i++) {
    values[i] = NAN;
    if (c->ev[i].fd < 0) continue;
    uint64_t buf[3]; /* value, time_enabled, time_running */
    if (read(c->ev[i].fd, buf, sizeof buf) != (ssize_t)sizeof buf) continue;
    if (buf[2] == 0) {
      /* Never scheduled: a count of 0 here means "not measured" unless it was never enabled
       * long enough to tick (enabled == 0), where 0 is the true count. */
      values[i] = buf[1] == 0 ? (double)buf[0] : NAN;
    } else if (buf[2] < buf[1]) {
      values[i] = (double)buf[0] * ((double)buf[1] / (double)buf[2]); /* multiplexed */
    } else {
      values[i] = (double)buf[0];
    }
  }
}

bool kg_counters_hardware_available(void) {
  static int cached = -1;
  if (cached >= 0) return cached;
  struct perf_event_attr a;
  memset(&a, 0, sizeof a);
  a.type = PERF_TYPE_HARDWARE;
  a.config = PERF_COUNT_HW_INSTRUCTIONS;
  a.exclude_kernel = 1; /* the least privilege any user can have */
  char why[64];
  int fd = open_attr(&a, why, sizeof why);
  if (fd >= 0) close(fd);
  cached = fd >= 0;
  return cached;
}
