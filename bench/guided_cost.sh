#!/usr/bin/env bash
# Cost per evaluation of a guided search, batched or not (issue 14): `kgen tune` of one problem with
# the default guided strategy (knn) and --propose 1 (one compile and one worker per point, the
# session-5 loop) against --propose B (B points compiled together, measured in one worker with one
# kg_create and reference), and the exhaustive loop (64 per worker) on the same number of points.
# The arms run one after the other, in the order 1, B, exhaustive, then again in reverse, so that a
# drift of the (shared) machine's load hits both orders; prints each arm's wall time per evaluation
# and the ratios.  No final rounds (--rounds 0): the search phase only.
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
  "$kgen" tune "$spec" --problem "$problem" --budget "$evals" --rounds 0 --quiet --no-warm-start \
    --out "$out/$label.$RANDOM" --db "$out/$label.$RANDOM.db" "$@" > /dev/null
  e=$(date +%s.%N)
  echo "$label $(echo "$e - $s" | bc)" >> "$out/times"
}
for order in forward reverse; do
  if [ $order = forward ]; then
    arm propose1 --strategy knn --propose 1; arm "propose$b" --strategy knn --propose "$b"; arm exhaustive --strategy exhaustive
  else
    arm exhaustive --strategy exhaustive; arm "propose$b" --strategy knn --propose "$b"; arm propose1 --strategy knn --propose 1
  fi
done
echo "$(basename "$spec" .lua) $problem, $evals evaluations per arm, no final rounds; load: $(cut -d' ' -f1-3 /proc/loadavg)"
awk -v n="$evals" -v b="$b" '{t[$1] += $2; c[$1]++}
  END {
    for (k in t) printf "%-12s %6.1f s per run, %6.2f s per evaluation (%d runs)\n", k, t[k] / c[k], t[k] / c[k] / n, c[k]
    printf "ratio propose1 / propose%d: %.2f; propose%d / exhaustive: %.2f\n", b, t["propose1"] / t["propose" b],
      b, t["propose" b] / t["exhaustive"]
  }' "$out/times"
