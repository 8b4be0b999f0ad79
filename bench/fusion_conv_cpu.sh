#!/bin/bash
# fusion_conv_cpu.sh - single-threaded fusion_conv variants against the unfused sequence and
# oneDNN (1 thread) in thread CPU time (bench/fusion_conv_cpu.c), on the seed's problem and the
# two ResNet-50 layers of specs/fusion_conv.lua.  Needs build/kgen and clang-16.
#   bench/fusion_conv_cpu.sh [--set a=1,b=2]... [reps]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
sets=()
while [ $# -gt 0 ] && [ "$1" = --set ]; do sets+=("$2"); shift 2; done
reps=${1:-7}
[ ${#sets[@]} -gt 0 ] || sets=(algo=direct,nv=2,owb=14,kc=0 algo=direct,nv=4,owb=6,kc=0 algo=im2col,nv=2,owb=14,kc=256)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# b c h w k r s stride pad relu
problems=("4 128 28 28 128 3 3 1 1 1" "4 256 56 56 64 1 1 1 0 1" "4 128 56 56 128 3 3 2 1 1")
for set in "${sets[@]}"; do
  "$root/build/kgen" emit "$root/specs/fusion_conv.lua" --set "$set,threads=1" -o "$tmp/v.c"
  clang-16 -O3 -march=native -fopenmp -std=gnu17 -I"$root/templates" -DKG_VARIANT_SOURCE="\"$tmp/v.c\"" \
    "$root/bench/fusion_conv_cpu.c" -o "$tmp/b" -ldl -lm
  for pr in "${problems[@]}"; do
    # shellcheck disable=SC2086
    echo "$set | $pr | $("$tmp/b" $pr "$reps")"
  done
done
