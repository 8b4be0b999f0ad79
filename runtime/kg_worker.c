/*
 * kg_worker.c - persistent measurement worker (see kg_worker.h).
 *
 * Two pipes: requests go down (the variant's run and verify addresses, valid in the child
 * because it was forked after the code was loaded), kg_measurements come up.  The first answer
 * reports whether kg_create succeeded.  EOF on the request pipe, or a request with run == NULL,
 * makes the worker destroy its state and exit.
 *
 * The worker never runs a variant itself: for each request it forks a child that gets a
 * copy-on-write image of the pristine state, verifies and measures the variant there, sends its
 * kg_measurement over a pipe of its own, then destroys its copy of the state (which frees every
 * block a heap-corrupting variant may have damaged) and exits.  The worker waits for that exit:
 * a child that dies after reporting is recorded as a crash of the variant.  Whatever the variant
 * changed (problem sizes, tolerances, inputs) dies with the child, so the next variant and the
 * baselines see the state kg_create made.  A child that exceeds the timeout is killed with its
 * process group (anything it forked), and the worker lives on.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "kg_worker.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kg_timer.h"

struct kg_worker {
  int pid;
  int req, resp; /* parent's ends */
  bool alive;
  kg_measure_opts opts;
};

typedef struct kg_request {
  kg_run_fn run;
  kg_verify_fn verify;
  double cutoff_ns;    /* this request's early cut-off (kg_measure_opts.cutoff_ns) */
  kg_phases_fn phases; /* the entry's kg_phases, or NULL */
} kg_request;

static bool kg_read_all(int fd, void *buf, size_t len) {
  char *b = buf;
  while (len > 0) {
    ssize_t n = read(fd, b, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    b += n;
    len -= (size_t)n;
  }
  return true;
}

/* In the child, after a successful timing: the entry's phases as {"name": ns, ...} into m->phases
 * (names that are not C identifiers, non-finite figures and what does not fit are left out). */
static void kg_worker_phases(void *state, kg_phases_fn phases, kg_measurement *m) {
  const char *names[KG_WORKER_MAX_PHASES] = {0};
  double ns[KG_WORKER_MAX_PHASES];
  int n = phases(state, names, ns, KG_WORKER_MAX_PHASES);
  if (n > KG_WORKER_MAX_PHASES) n = KG_WORKER_MAX_PHASES;
  size_t at = 0, cap = sizeof m->phases;
  char buf[sizeof m->phases];
  at += (size_t)snprintf(buf, cap, "{");
  int written = 0;
  for (int i = 0; i < n; i++) {
    const char *s = names[i];
    bool ident = s && *s && !(*s >= '0' && *s <= '9');
    for (const char *c = s; ident && *c; c++)
      ident = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '_';
    if (!ident || !(ns[i] >= 0 && ns[i] < 1e300)) continue;
    int k = snprintf(buf + at, cap - at, "%s\"%s\": %.6g", written ? ", " : "", s, ns[i]);
    if (k < 0 || (size_t)k >= cap - at - 1) break; /* room for the closing brace */
    at += (size_t)k;
    written++;
  }
  snprintf(buf + at, cap - at, "}");
  if (written) memcpy(m->phases, buf, sizeof buf);
}

/* In the worker: measure one variant in a forked child on a copy of the state. */
static void kg_worker_isolated(void *state, kg_destroy_fn destroy, const kg_request *r, const kg_measure_opts *o,
                               kg_measurement *m) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    m->status = KG_EINTERNAL;
    snprintf(m->reason, sizeof m->reason, "worker: pipe: %s", strerror(errno));
    return;
  }
  uint64_t t0 = kg_now_ns();
  pid_t pid = fork();
  if (pid < 0) {
    close(fds[0]), close(fds[1]);
    m->status = KG_EINTERNAL;
    snprintf(m->reason, sizeof m->reason, "worker: fork: %s", strerror(errno));
    return;
  }
  if (pid == 0) {
    close(fds[0]);
    kg_measure_child_setup();
    kg_measure_opts oc = *o;
    oc.cutoff_ns = r->cutoff_ns;
    kg_measure_state(state, r->run, r->verify, &oc, m);
    if (r->phases && m->status == KG_OK) kg_worker_phases(state, r->phases, m);
    if (!kg_measure_send(fds[1], m)) _exit(3);
    /* Health check: free what the state holds.  A variant that wrote past its buffers has
     * damaged the heap, and glibc aborts on it here, after the figure was sent. */
    if (destroy) destroy(state);
    _exit(0);
  }
  setpgid(pid, pid);
  close(fds[1]);
  uint64_t deadline = t0 + (uint64_t)(o->timeout_s * 1e9);
  if (kg_measure_receive(fds[0], pid, deadline, o->timeout_s, m)) {
    int wst = 0;
    kg_status st = kg_measure_reap(pid, kg_now_ns() + (uint64_t)(KG_WORKER_REAP_S * 1e9), &wst);
    char sig[64];
    if (st == KG_ETIMEOUT) {
      m->status = KG_ECRASH;
      snprintf(m->reason, sizeof m->reason,
               "did not finish within %g s after its measurement "
               "(hung while its state was freed)",
               KG_WORKER_REAP_S);
    } else if (st == KG_OK && WIFSIGNALED(wst)) {
      m->status = KG_ECRASH;
      snprintf(m->reason, sizeof m->reason,
               "died after its measurement (%s, while its state was "
               "freed: heap corruption?)",
               kg_measure_signal_name(WTERMSIG(wst), sig, sizeof sig));
    } else if (st == KG_OK && WIFEXITED(wst) && WEXITSTATUS(wst) != 0) {
      m->status = KG_ECRASH;
      snprintf(m->reason, sizeof m->reason, "exited with code %d after its measurement", WEXITSTATUS(wst));
    }
  }
  close(fds[0]);
}

static void kg_worker_main(const kg_problem *p, kg_create_fn create, kg_prepare_fn prepare, kg_destroy_fn destroy,
                           const kg_measure_opts *o, int req, int resp) {
  static kg_measurement m; /* static: keep the worker's stack small */
  kg_measure_child_setup();
  kg_measure_pin(o);
  kg_measure_limit_memory(o);
  kg_measurement_init(&m, o);
  void *state = create(p);
  if (!state) {
    m.status = KG_EINTERNAL;
    snprintf(m.reason, sizeof m.reason, "kg_create failed (problem dimensions out of range, or out of memory)");
    kg_measure_send(resp, &m);
    _exit(0);
  }
  if (prepare) prepare(state);
  m.status = KG_OK;
  if (!kg_measure_send(resp, &m)) _exit(3);
  kg_request r;
  while (kg_read_all(req, &r, sizeof r) && r.run) {
    uint64_t t0 = kg_now_ns();
    kg_measurement_init(&m, o);
    kg_worker_isolated(state, destroy, &r, o, &m);
    m.wall_s = (double)(kg_now_ns() - t0) * 1e-9;
    if (!kg_measure_send(resp, &m)) break;
  }
  if (destroy) destroy(state);
  _exit(0);
}

kg_status kg_worker_start(const kg_problem *p, kg_create_fn create, kg_prepare_fn prepare, kg_destroy_fn destroy,
                          const kg_measure_opts *opts, kg_worker **out, kg_measurement *create_failure, kg_ctx *ctx) {
  *out = NULL;
  kg_worker *w = calloc(1, sizeof *w);
  if (!w) return kg_ctx_set(ctx, KG_ENOMEM, "out of memory");
  if (opts) w->opts = *opts;
  else kg_measure_opts_default(&w->opts);
  int down[2], up[2];
  if (pipe2(down, O_CLOEXEC) != 0) {
    free(w);
    return kg_ctx_set(ctx, KG_EINTERNAL, "worker: pipe: %s", strerror(errno));
  }
  if (pipe2(up, O_CLOEXEC) != 0) {
    close(down[0]), close(down[1]), free(w);
    return kg_ctx_set(ctx, KG_EINTERNAL, "worker: pipe: %s", strerror(errno));
  }
  fflush(NULL); /* a variant that calls exit() must not replay our buffered output */
  uint64_t t0 = kg_now_ns();
  pid_t pid = fork();
  if (pid < 0) {
    close(down[0]), close(down[1]), close(up[0]), close(up[1]), free(w);
    return kg_ctx_set(ctx, KG_EINTERNAL, "worker: fork: %s", strerror(errno));
  }
  if (pid == 0) {
    close(down[1]);
    close(up[0]);
    kg_worker_main(p, create, prepare, destroy, &w->opts, down[0], up[1]);
  }
  setpgid(pid, pid);
  close(down[0]);
  close(up[1]);
  w->pid = pid;
  w->req = down[1];
  w->resp = up[0];
  w->alive = true;
  /* Writing to a worker that died must not kill us with SIGPIPE. */
  signal(SIGPIPE, SIG_IGN);
  kg_measurement hello;
  kg_measurement_init(&hello, &w->opts);
  uint64_t deadline = t0 + (uint64_t)(w->opts.timeout_s * 1e9);
  bool got = kg_measure_receive(w->resp, pid, deadline, w->opts.timeout_s, &hello);
  if (!got || hello.status != KG_OK) {
    if (got) { /* it answered "create failed" and exits */
      int wst;
      while (waitpid(pid, &wst, 0) < 0 && errno == EINTR) {
      }
    } else {
      char why[sizeof hello.reason];
      memcpy(why, hello.reason, sizeof why);
      snprintf(hello.reason, sizeof hello.reason, "kg_create: %.1000s", why);
    }
    w->alive = false;
    *create_failure = hello;
    kg_worker_stop(w);
    return KG_OK;
  }
  *out = w;
  return KG_OK;
}

kg_status kg_worker_measure(kg_worker *w, kg_run_fn run, kg_verify_fn verify, kg_measurement *out, kg_ctx *ctx) {
  return kg_worker_measure_cutoff(w, run, verify, w ? w->opts.cutoff_ns : 0, out, ctx);
}

kg_status kg_worker_measure_cutoff(kg_worker *w, kg_run_fn run, kg_verify_fn verify, double cutoff_ns,
                                   kg_measurement *out, kg_ctx *ctx) {
  return kg_worker_measure_phases(w, run, verify, NULL, cutoff_ns, out, ctx);
}

kg_status kg_worker_measure_phases(kg_worker *w, kg_run_fn run, kg_verify_fn verify, kg_phases_fn phases,
                                   double cutoff_ns, kg_measurement *out, kg_ctx *ctx) {
  if (!w || !w->alive || !run) return kg_ctx_set(ctx, KG_EINVAL, "worker: not running, or no function");
  kg_measurement_init(out, &w->opts);
  kg_request r = {run, verify, cutoff_ns, phases};
  uint64_t t0 = kg_now_ns();
  if (!kg_measure_write(w->req, &r, sizeof r)) {
    /* It died between requests: reap it and say how. */
    kg_measure_receive(w->resp, w->pid, t0, 0, out);
    w->alive = false;
    return KG_OK;
  }
  /* The worker enforces the variant's timeout and the reap itself; this deadline only catches a
   * worker that stopped answering. */
  uint64_t deadline = t0 + (uint64_t)((w->opts.timeout_s + KG_WORKER_REAP_S + 10) * 1e9);
  if (!kg_measure_receive(w->resp, w->pid, deadline, w->opts.timeout_s, out)) w->alive = false;
  out->wall_s = (double)(kg_now_ns() - t0) * 1e-9;
  return KG_OK;
}

bool kg_worker_alive(const kg_worker *w) { return w && w->alive; }

void kg_worker_stop(kg_worker *w) {
  if (!w) return;
  if (w->alive) {
    kg_request quit = {NULL, NULL, 0, NULL};
    kg_measure_write(w->req, &quit, sizeof quit);
    close(w->req);
    w->req = -1;
    /* Give it the timeout to destroy its state, then kill it. */
    kg_measurement m;
    kg_measure_receive(w->resp, w->pid, kg_now_ns() + (uint64_t)(5e9), 5, &m);
  }
  kg_measure_kill(w->pid); /* its group: nothing it started outlives it */
  if (w->req >= 0) close(w->req);
  close(w->resp);
  free(w);
}
