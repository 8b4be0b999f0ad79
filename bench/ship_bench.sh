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
