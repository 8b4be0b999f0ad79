#!/usr/bin/env bash
# The instruction stream of a shipped winner's hottest loop, through llvm-mca (issue 16: which
# bound stops a kernel).  Compiles the standalone winner (tuned/<kernel>/<machine>/<problem>.c)
# with the flags its header names, finds the loop (a label and the backward branch to it) with the
# most instructions matching PATTERN, and runs llvm-mca on it for this CPU (or MCPU).  Prints the
# loop, llvm-mca's summary (cycles per iteration, IPC, the busiest ports) and, when PER_ITER is
# given ("8 FMA"), that work per cycle.
#   bench/mca.sh WINNER.c [PATTERN] [PER_ITER]
# PATTERN: an extended regex over the mnemonics (default vfmadd|vpmaddubsw|vpdpbusd|vpmaddwd).
# Env: CC (default clang-16), MCA (default llvm-mca-16), MCPU (default: llvm-mca's host CPU).
# A static model: it assumes every load hits L1, so it bounds the loop's compute, not its memory.
set -euo pipefail
src=${1:?usage: bench/mca.sh WINNER.c [PATTERN] [PER_ITER]}
pattern=${2:-'vfmadd|vpmaddubsw|vpdpbusd|vpmaddwd'}
per_iter=${3:-}
cc=${CC:-clang-16}
mca=${MCA:-llvm-mca-16}
command -v "$cc" > /dev/null || { echo "mca.sh: $cc not found" >&2; exit 2; }
command -v "$mca" > /dev/null || { echo "mca.sh: $mca not found (Debian: llvm-16)" >&2; exit 2; }
flags=$(sed -n 's/^ \*   cc \(.*\) -c .*/\1/p' "$src" | head -1)
[[ -n $flags ]] || { echo "mca.sh: $src names no build flags (not a kgen winner?)" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# shellcheck disable=SC2086
"$cc" $flags -fno-asynchronous-unwind-tables -S -o "$tmp/w.s" "$src"
# Loops: a local label .LBBf_b and a later jump back to it.  Keep the densest in matching mnemonics
# (an innermost loop: an outer one dilutes its inner loops with its own code; ties: the one with
# more matches); print its body as llvm-mca input.
awk -v pat="$pattern" '
  /^\.LBB[0-9_]+:/ { lab = substr($1, 1, length($1) - 1); start[lab] = NR }
  { line[NR] = $0 }
  /^[ \t]+j[a-z]+[ \t]+\.LBB[0-9_]+/ {
    t = $2
    if (t in start && start[t] < NR) {
      n = 0; len = 0
      for (i = start[t] + 1; i <= NR; i++) {
        if (line[i] ~ /^[ \t]+[a-z]/) { len++; split(line[i], f, /[ \t,]+/); if (f[2] ~ "^(" pat ")") n++ }
      }
      d = len ? n / len : 0
      if (n > 0 && (d > bestd || (d == bestd && n > best))) { best = n; bestd = d; from = start[t]; to = NR }
    }
  }
  END {
    if (!best) exit 1
    for (i = from + 1; i <= to; i++) if (line[i] ~ /^[ \t]+[a-z]/) print line[i]
  }' "$tmp/w.s" > "$tmp/loop.s" || { echo "mca.sh: no loop with /$pattern/ in $src" >&2; exit 1; }
echo "== $(basename "$src"): hottest loop, $(wc -l < "$tmp/loop.s") instructions, $(grep -Ec "^[[:space:]]+($pattern)" "$tmp/loop.s") matching /$pattern/"
sed 's/^[ \t]*/  /' "$tmp/loop.s"
mcpu=()
[[ -n ${MCPU:-} ]] && mcpu=(-mcpu="$MCPU")
"$mca" "${mcpu[@]}" -iterations=200 -resource-pressure=true -timeline=false -bottleneck-analysis "$tmp/loop.s" > "$tmp/mca.txt" 2>&1 || {
  cat "$tmp/mca.txt" >&2
  exit 1
}
echo "== llvm-mca ($("$mca" --version | sed -n 's/.*LLVM version \([0-9.]*\).*/\1/p'), cpu ${MCPU:-host})"
sed -n '/^Iterations:/,/^Block RThroughput/p' "$tmp/mca.txt"
sed -n '/^Cycles with backend pressure/,/Memory Dependencies/p' "$tmp/mca.txt"
cycles=$(sed -n 's/^Total Cycles: *//p' "$tmp/mca.txt")
iters=$(sed -n 's/^Iterations: *//p' "$tmp/mca.txt")
awk -v c="$cycles" -v i="$iters" 'BEGIN { printf "cycles per iteration: %.2f\n", c / i }'
if [[ -n $per_iter ]]; then
  # shellcheck disable=SC2086 # "N UNIT": two words
  set -- $per_iter
  awk -v c="$cycles" -v i="$iters" -v w="$1" -v u="$2" 'BEGIN { printf "%s per cycle: %.2f\n", u, w * i / c }'
fi
