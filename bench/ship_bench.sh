#!/bin/sh
# ship_bench.sh - the shipped library's figures: ship tuned/ into a temporary project, build,
# install, and run bench/ship/dispatch.c (dispatch overhead against a direct call of the chosen
# variant, first-call cost; baselines from the same run).  Usage: bench/ship_bench.sh [KGEN_BIN]
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
kgen=${1:-$root/build/kgen}
tmp=$(mktemp -d /tmp/kgen-ship-bench-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
(cd "$root" && "$kgen" ship --out "$tmp/dist")
cmake -S "$tmp/dist" -B "$tmp/build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$tmp/build" -j2 >/dev/null
cmake --install "$tmp/build" --prefix "$tmp/p" >/dev/null
export PKG_CONFIG_PATH="$tmp/p/lib/pkgconfig"
cc -O2 "$root/bench/ship/dispatch.c" $(pkg-config --cflags --libs kgen) -ldl -Wl,-rpath,"$tmp/p/lib" -o "$tmp/dispatch"
for m in 4 16; do "$tmp/dispatch" "$tmp/p/lib/libkgen.so" $m; done
cc -O2 "$root/bench/ship/quality.c" $(pkg-config --cflags --libs kgen) -ldl -Wl,-rpath,"$tmp/p/lib" -o "$tmp/quality"
"$tmp/quality" "$tmp/p/lib/libkgen.so"
# The tuned problems: the library's call beside `kgen bench` of the winner the library picks.
for shape in "64 64 64" "256 256 256" "1024 1024 1024"; do
  set -- $shape
  lib=$("$tmp/quality" "$tmp/p/lib/libkgen.so" "$1" "$2" "$3")
  params=$("$tmp/dispatch" "$tmp/p/lib/libkgen.so" "$1" 2>/dev/null | sed -n 's/^  params //p')
  echo "m$1_k$3_n$2: library p50 ${lib} ns; kgen bench of its winner (${params:-see kgen_explain}):"
  [ -n "$params" ] && (cd "$root" && "$kgen" bench specs/gemm.lua --set "$params" --problem "m$1_k$3_n$2" --rounds 3 2>/dev/null | grep "^m$1_k$3_n$2" || true)
done
