/*
 * kgen_pool.c - the shipped library's one team of helper threads (kg_team.h, copied from
 * templates/ by `kgen ship`), shared by every variant compiled with KG_SHARED_TEAM: however
 * many variants a program calls, the library starts at most usable cores - 1 helpers, and they
 * spin only KGEN_SPIN_NS after their last job (then sleep on a condition variable), so a
 * program's next step, on a machine with few cores, gets its cores back within ~0.1 ms.
 * Started at the first parallel call; never stopped (its helpers sleep; the process's exit
 * ends them).  Its threads are named "kgen-team" (/proc/<pid>/task/<tid>/comm).
 */
#define _GNU_SOURCE
#include "kgen_rt.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#define KG_SHARED_TEAM 1
#include "kg_team.h"

#define KGEN_SPIN_NS 100000 /* default idle spin of a helper, ns; KGEN_SPIN_US overrides */

static atomic_int kgr_team_busy; /* 1 while a caller holds the team (one locked op a call) */
static kg_team *kgr_team;         /* while holding it */
static int kgr_team_failed;

void kgr_team_run(kg_team_job job, void *arg, int nth) {
  if (nth < 2 || atomic_exchange_explicit(&kgr_team_busy, 1, memory_order_acquire)) {
    job(arg, 0, 1); /* another caller holds the team: this share runs alone */
    return;
  }
  if (!kgr_team && !kgr_team_failed) {
    int64_t spin = KGEN_SPIN_NS;
    const char *env = getenv("KGEN_SPIN_US");
    if (env && *env) spin = (int64_t)atol(env) * 1000;
    if (spin < 0) spin = 0;
    kgr_team = kg_team_new(kgr_usable_cores(), spin);
    kgr_team_failed = !kgr_team;
    for (int i = 0; kgr_team && i < kgr_team->nth - 1; i++) pthread_setname_np(kgr_team->h[i].thread, "kgen-team");
  }
  if (kgr_team) kg_team_run(kgr_team, job, arg, nth);
  else job(arg, 0, 1);
  atomic_store_explicit(&kgr_team_busy, 0, memory_order_release);
}
