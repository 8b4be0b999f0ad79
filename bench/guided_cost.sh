#!/usr/bin/env bash
# Cost per evaluation of a guided search, batched or not (issue 14): `kgen tune` of one problem with
# the default guided strategy (knn) and --propose 1 (one compile and one worker per point, the
# session-5 loop) against --propose B (B points compiled together, measured in one worker with one
# kg_create and reference), and the exhaustive loop (64 per worker) on the same number of points.
# The arms run one after the other, in the order 1, B, exhaustive, then again in reverse, so that a
# drift of the (shared) machine's load hits both orders; prints each arm's wall time per evaluation
# and the ratios, split into compile, measuring (both from the database) and the rest.  No final rounds (--rounds 0): the search phase only.
#   bench/guided_cost.sh [KGEN] [SPEC] [PROBLEM] [EVALS] [B]
# defaults: build/kgen specs/gemm.lua m256_k256_n256 24 8
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
kgen=${1:-$root/build/kgen}
spec=${2:-$root/specs/gemm.lua}
problem=${3:-m256_k256_n256}
evals=${4:-24}
b=${5:-8}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
arm() { # label args...
  local label=$1 s e
  shift
  s=$(date +%s.%N)
  local db="$out/$label.$RANDOM.db"
  "$kgen" tune "$spec" --problem "$problem" --budget "$evals" --rounds 0 --quiet --no-warm-start \
    --out "$out/$label.$RANDOM" --db "$db" "$@" > /dev/null
  e=$(date +%s.%N)
  # wall, and from the database: compile seconds and measuring seconds (variants and baselines)
  echo "$label $(echo "$e - $s" | bc) $(sqlite3 "$db" 'SELECT coalesce(sum(compile_ms), 0) / 1000.0,
    coalesce(sum(wall_s), 0) FROM measurements' | tr '|' ' ')" >> "$out/times"
}
for order in forward reverse; do
  if [ $order = forward ]; then
    arm propose1 --strategy knn --propose 1; arm "propose$b" --strategy knn --propose "$b"; arm exhaustive --strategy exhaustive
  else
    arm exhaustive --strategy exhaustive; arm "propose$b" --strategy knn --propose "$b"; arm propose1 --strategy knn --propose 1
  fi
done
echo "$(basename "$spec" .lua) $problem, $evals evaluations per arm, no final rounds; load: $(cut -d' ' -f1-3 /proc/loadavg)"
awk -v n="$evals" -v b="$b" '{t[$1] += $2; cc[$1] += $3; m[$1] += $4; c[$1]++}
  END {
    for (k in t)
      printf "%-12s %6.1f s per run, per evaluation: %5.2f s = compile %5.2f + measuring %5.2f + the rest %5.2f (worker start, kg_create and reference, verification, database; %d runs)\n",
        k, t[k] / c[k], t[k] / c[k] / n, cc[k] / c[k] / n, m[k] / c[k] / n, (t[k] - cc[k] - m[k]) / c[k] / n, c[k]
    r1 = t["propose1"] - cc["propose1"] - m["propose1"]; rb = t["propose" b] - cc["propose" b] - m["propose" b]
    printf "wall ratio propose1 / propose%d: %.2f; the rest: %.2f\n", b, t["propose1"] / t["propose" b], r1 / rb
  }' "$out/times"
