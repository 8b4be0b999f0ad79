/*
 * kg_shard.h - tuning split over several processes or nodes (`kgen tune --shard I/N`, a Slurm
 * job array) and merged again (`kgen merge`).
 *
 * The work of a tuning run is the list of (variant, problem) pairs: the selected points (in the
 * run's shuffled order, kg_tune.h) times the selected problems.  Shard I of N measures the I-th of
 * N contiguous blocks of that list taken point-major (pair k = pos * nproblems + p goes to shard
 * floor(k * N / total)): the blocks are disjoint, cover every pair, differ in size by at most one,
 * and each shard compiles only about 1/N of the variants (a variant is split between two shards
 * only at a block's edge).  Because the points are shuffled, each block is a random sample of the
 * space.  Shards do not run the final rounds: `kgen merge` collects every shard's measurements
 * into one database and runs them on the machine it runs on, so the winner is decided side by
 * side on one machine, never across machines.
 *
 * Each shard's database records what it ran in a table `shards` (one row): its index and count,
 * the run's key (kernel, spec and template hash, machine id, backend, mode), the spec's path,
 * strategy, budget, seed and problems, and whether it finished.  The merge checks these against
 * each other and against the spec before it trusts the rows.
 */
#ifndef KG_SHARD_H
#define KG_SHARD_H

#include <stdbool.h>
#include <stdint.h>

#include "kg_db.h"
#include "kg_status.h"

#define KG_SHARD_MAX 4096

/** What one shard ran (its `shards` row).  Strings are copies. */
typedef struct kg_shard_info {
  int index, count; /**< shard index (0..count-1) of count */
  char kernel[128];
  uint64_t spec_hash, template_hash;
  char machine_id[128];
  char backend[8], mode[8];
  char spec_path[4096]; /**< absolute path of the spec the shard loaded */
  char strategy[16];
  long budget;
  uint64_t seed;
  char problems[4096]; /**< comma-separated problem names; "" = every problem of the spec */
  char kgen_version[32];
  bool done; /**< the shard finished (written last, after its final measurement) */
} kg_shard_info;

/** Parse "I/N" (0 <= I < N <= KG_SHARD_MAX) into *index, *count.  Errors: KG_EINVAL naming arg. */
kg_status kg_shard_parse(const char *arg, int *index, int *count, kg_ctx *ctx);

/** The shard (0..count-1) that measures pair (pos, p): position pos of nsel selected points,
 *  report problem p of np.  count <= 1: 0. */
int kg_shard_of(long pos, int p, long nsel, int np, int count);

/** Record info (with info->done) as the shard row of the database at db_path (created with the
 *  tuning schema when missing).  A database that already records another shard (other index,
 *  count, kernel or hashes) is refused with KG_EINVAL naming both.  Errors: KG_EDB, KG_EINVAL. */
kg_status kg_shard_mark(const char *db_path, const kg_shard_info *info, kg_ctx *ctx);

/** Read the shard row of the database at db_path into *info.  Errors: KG_ENOTFOUND (no such
 *  file), KG_EINVAL (not a shard database: no shard row), KG_EDB. */
kg_status kg_shard_read(const char *db_path, kg_shard_info *info, kg_ctx *ctx);

/** Copy the search's rows of shard database src (those under info's key; not its "final:" rows)
 *  into the database at dst_path (created when missing), replacing rows with the same key.
 *  *copied gets the number of rows.  Errors: KG_EDB. */
kg_status kg_shard_import(const char *dst_path, const char *src_path, const kg_shard_info *info, long *copied,
                          kg_ctx *ctx);

#endif
