#!/bin/sh
# ship_bench.sh - the shipped library's figures, each beside a baseline from the same run:
#  1. dispatch overhead: kgen_sgemm on hot small shapes against a direct call of the variant it
#     chose (bench/ship/dispatch.c, interleaved blocks), and the first use's cost;
#  2. what idle helper threads cost the program's next step (bench/ship/after.c): work on every
#     core right after gemm calls against the same work after as long busy on the calling
#     thread alone (helpers asleep), with the library's
#     default helper spin and with KGEN_SPIN_US=20000 (the 20 ms spin gemm's helpers had before
#     the library shared one team);
#  3. shipped quality on the tuned problems: the library's call (bench/ship/quality.c, measured
#     as kgen bench measures: warm-up, samples of >= 20 us, disturbed samples retaken) against
#     `kgen bench` of the variant the library chose for that problem, alternated ROUNDS times
#     (default 3) so drift hits both alike; medians and the ratio library / kgen bench (the
#     issue's target: within 3%);
#  4. shipped quality on 20 shapes absent from tuned/: the library against the best shipped
#     variant for each shape (quality.c without arguments).
# Ships tuned/ into a temporary project, builds and installs it (Release), removed at the end.
# Usage: bench/ship_bench.sh [KGEN_BIN]; env ROUNDS, SHAPES ("m,n,k ..." tuned problems),
# SKIP_UNTUNED=1 skips part 4.  Needs jq.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
kgen=${1:-$root/build/kgen}
rounds=${ROUNDS:-3}
shapes=${SHAPES:-"64,64,64 128,128,128 256,256,256 1024,1024,1024 1,4096,4096 16,4096,4096"}
tmp=$(mktemp -d /tmp/kgen-ship-bench-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
(cd "$root" && "$kgen" ship --out "$tmp/dist" >/dev/null)
cmake -S "$tmp/dist" -B "$tmp/build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$tmp/build" -j2 >/dev/null
cmake --install "$tmp/build" --prefix "$tmp/p" >/dev/null
export PKG_CONFIG_PATH="$tmp/p/lib/pkgconfig"
lib="$tmp/p/lib/libkgen.so"
for b in dispatch quality after; do
  cc -O2 "$root/bench/ship/$b.c" $(pkg-config --cflags --libs kgen) -pthread -ldl -Wl,-rpath,"$tmp/p/lib" -o "$tmp/$b"
done
echo "machine: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg) (shared: figures are noisy; compare the ratios)"

echo "== 1. dispatch overhead"
for m in 4 16; do "$tmp/dispatch" "$lib" $m; done

echo "== 2. the next step after gemm calls: idle helpers' cost"
"$tmp/after"
KGEN_SPIN_US=20000 "$tmp/after"

echo "== 3. tuned problems: the library's call vs kgen bench of the variant it chose ($rounds alternating rounds)"
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
printf '%-20s %12s %12s %8s  %s\n' problem "library ns" "kgen ns" ratio variant
for shape in $shapes; do
  IFS=, read -r m n k <<EOS
$shape
EOS
  prob="m${m}_k${k}_n${n}"
  : > "$tmp/lib.txt"
  : > "$tmp/kg.txt"
  params=
  for r in $(seq "$rounds"); do
    set -- $("$tmp/quality" "$lib" "$m" "$n" "$k")
    echo "$1" >> "$tmp/lib.txt"
    params=$2
    (cd "$root" && "$kgen" bench specs/gemm.lua --set "$params" --problem "$prob" --rounds 1 --quiet \
      --json "$tmp/kg.json" >/dev/null 2>&1) || { echo "$prob: kgen bench failed" >&2; continue; }
    jq -r '.problems[0].winner.p50_ns' "$tmp/kg.json" >> "$tmp/kg.txt"
  done
  l=$(median < "$tmp/lib.txt")
  g=$(median < "$tmp/kg.txt")
  printf '%-20s %12.0f %12.0f %8.3f  %s\n' "$prob" "$l" "$g" "$(echo "$l $g" | awk '{ print $1 / $2 }')" "$params"
done

if [ "${SKIP_UNTUNED:-0}" != 1 ]; then
  echo "== 4. shapes absent from tuned/: the library vs the best shipped variant"
  "$tmp/quality" "$lib"
fi
