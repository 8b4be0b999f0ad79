#!/bin/sh
# The MoE step (specs/moe_step.lua) against its rebuild baseline, measured side by side in one
# `kgen bench` run (final rounds interleaved): ms per step, the ratio rebuild / variant, and the
# phase shares of each, for rho = 0.99 (target: >= 1.5x) and rho = 0 (reported), plus rho = 0.9.
# Usage: bench/moe_step.sh [SET...]   (default: the spec's defaults and two threads)
# Env: KGEN (default build/kgen), OUT (default /tmp/kgen-moe-bench), PROBLEMS (default "rho99 rho0 rho90").
set -eu
KGEN=${KGEN:-build/kgen}
OUT=${OUT:-/tmp/kgen-moe-bench}
PROBLEMS=${PROBLEMS:-"rho99 rho0 rho90"}
mkdir -p "$OUT"
[ $# -gt 0 ] || set -- "select=quickselect" "threads=2"
sets=""
for s in "$@"; do sets="$sets --set $s"; done
probs=""
for p in $PROBLEMS; do probs="$probs --problem $p"; done
# shellcheck disable=SC2086
"$KGEN" bench specs/moe_step.lua $sets $probs --timeout 300 --json "$OUT/moe.json" --md "$OUT/moe.md"
command -v jq >/dev/null || { echo "jq missing: see $OUT/moe.md"; exit 0; }
echo
echo "per problem: each variant's ms per step and the ratio rebuild / variant; the phase shares of the winner and of rebuild"
jq -r '.problems[] as $p | ($p.baselines[] | select(.name == "rebuild")) as $b
  | "\($p.name): rebuild \($b.p50_ns / 1e6 | . * 1000 | round / 1000) ms/step",
    ($p.top[] | "  \(.params | to_entries | map("\(.key)=\(.value)") | join(","))  \(.p50_ns / 1e6 | . * 1000 | round / 1000) ms/step  rebuild/variant \($b.p50_ns / .p50_ns | . * 100 | round / 100)x"),
    "  phases winner:  \(($p.winner.phases // {}) | to_entries | map("\(.key) \(.value * 100 | round)%") | join(", "))",
    "  phases rebuild: \(($b.phases // {}) | to_entries | map("\(.key) \(.value * 100 | round)%") | join(", "))"' "$OUT/moe.json"

# Thread CPU time (bench/moe_step_cpu.c), single-threaded variants, no OpenMP (the rebuild's
# gather then runs on the calling thread too): the figure a loaded machine cannot distort by
# descheduling.  CPU_SETS (default: the blocked and the gemm_ukr.h matmul) on rho = 0.99 and 0.
CPU_SETS=${CPU_SETS:-"select=quickselect select=quickselect,ymm=ukr,mr=16,nr=16"}
CC=${CC:-clang-16}
for s in $CPU_SETS; do
  tag=$(echo "$s" | tr -c 'a-z0-9\n' '_')
  "$KGEN" emit specs/moe_step.lua --set "$s" -o "$OUT/cpu_$tag.c"
  "$CC" -O3 -march=native -Wno-unknown-pragmas -I templates -DMOE_VARIANT="\"$OUT/cpu_$tag.c\"" \
    bench/moe_step_cpu.c -o "$OUT/cpu_$tag" -lm
  echo "== $s"
  for rho in 99 0; do "$OUT/cpu_$tag" 8192 1024 1024 0 1024 16 "$rho" 4; done
done
