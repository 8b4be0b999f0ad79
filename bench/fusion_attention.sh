#!/bin/sh
# fusion_attention.sh - the attention target of specs/fusion_attention.lua on this machine:
# full attention at b = 4, s = 1024, d = 64 (and its causal form, and s = 256), fused against the
# unfused three-step form (target >= 1.5x), OpenBLAS unfused and oneDNN, side by side.
#
#   bench/fusion_attention.sh [KGEN] [VARIANT]   (KGEN: build/kgen; VARIANT: --set parameters of a
#                                                 single-threaded variant, default below)
#
# 1. Thread CPU time (bench/fusion_attention_cpu.c compiled against the variant `kgen emit`
#    writes, with the JIT's flags): variant and 1-thread baselines interleaved, best of 7 each.
#    Figures taken while other processes share the cores stay comparable.
# 2. `kgen bench` of the same variant (wall clock, the harness's rounds, all six baselines).
# The memory reduction is the spec's: 1 - fused bytes / unfused bytes (kgen show prints both).
# Timings on a shared machine are noisy: compare the ratios to the same-run baselines.
set -eu
KGEN=${1:-build/kgen}
SET=${2:-bq=96,bk=256,mr=6,nr=64,ku=4,threads=1}
[ -x "$KGEN" ] || { echo "fusion_attention.sh: $KGEN not found (build first)" >&2; exit 2; }
ROOT=$(cd "$(dirname "$0")/.." && pwd)
T=$(mktemp -d /tmp/kgen-fa-XXXXXX)
trap 'rm -rf "$T"' EXIT
export KGEN_ROOT="$ROOT"
CC=${CC:-clang-16}

"$KGEN" emit "$ROOT/specs/fusion_attention.lua" --set "$SET" -o "$T/variant.c"
"$CC" -O3 -march=native -fopenmp -std=gnu17 -I"$ROOT/templates" -DKG_VARIANT="\"$T/variant.c\"" \
  "$ROOT/bench/fusion_attention_cpu.c" -o "$T/cpu" -lm -ldl
echo "variant $SET, thread CPU time (ms, best of 7), 1 thread each:"
for shape in "1024 0" "1024 1" "256 0"; do
  set -- $shape
  "$T/cpu" 4 "$1" 64 2 "$2" 7
done
"$KGEN" bench "$ROOT/specs/fusion_attention.lua" --set "$SET" --problem attention_b4_s1024_d64 \
  --problem attention_causal_b4_s1024_d64 --rounds 3 --json "$T/bench.json"
