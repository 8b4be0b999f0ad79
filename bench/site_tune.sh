#!/usr/bin/env bash
# Site tuning against a full tune, side by side (issue 12).  Needs jq.
#   bench/site_tune.sh KERNEL [BUDGET] [FULL_TUNED_DIR]
# 1. installs the build's library into a temporary prefix (KGEN_INSTALL_TUNE=OFF) and runs
#    kgen-site-tune --kernel KERNEL --budget BUDGET (default 120) there, timing it;
# 2. unless FULL_TUNED_DIR (a `kgen tune --out` root holding KERNEL's result for this machine;
#    a tune of some problems compares those only) is given, runs the full
#    `kgen tune specs/KERNEL.lua --out <tmp>/full`, timing it;
# 3. per problem, measures the site file's choice (or, for a problem it left undecided, the
#    library's shipped choice as the site file records it: skipped here) and the full tune's winner
#    side by side in one `kgen bench --set A --set B --problem P` run, and prints each ratio
#    (full p50 / site p50: 1.0 = as fast) and their geometric mean, with the two wall times.
# On a shared machine the figures are noisy: both variants of a problem are measured in the same
# run, interleaved (kgen's final rounds), so their ratio is the figure to read.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
kernel=${1:?usage: bench/site_tune.sh KERNEL [BUDGET] [FULL_TUNED_DIR]}
budget=${2:-120}
full=${3:-}
build=${KGEN_BUILD:-$root/build}
work=$(mktemp -d /tmp/kgen-site-bench-XXXXXX)
KGEN_INSTALL_TUNE=OFF cmake --install "$build" --prefix "$work/p" > /dev/null
t0=$(date +%s.%N)
"$work/p/bin/kgen-site-tune" --kernel "$kernel" --budget "$budget" --export "$work/exp" 2> "$work/site.log" || true
t1=$(date +%s.%N)
site_s=$(echo "$t1 - $t0" | bc)
tail -n 1 "$work/site.log"
id=$(jq -r .machine.id "$work/p/share/kgen/site/$kernel.json")
if [ -z "$full" ]; then
  t0=$(date +%s.%N)
  "$build/kgen" tune "$root/specs/$kernel.lua" --out "$work/full" --quiet > /dev/null
  t1=$(date +%s.%N)
  full_s=$(echo "$t1 - $t0" | bc)
  full="$work/full"
else
  full_s=$(jq -r .elapsed_s "$full/$kernel/$id.json")
fi
params() { jq -r "to_entries | sort_by(.key) | map(\"\(.key)=\(.value)\") | join(\",\")"; }
logsum=0
n=0
printf '%-28s %-44s %-44s %8s\n' problem "site choice" "full tune's winner" "full/site"
for p in $(jq -r '.problems[].name' "$work/p/share/kgen/site/$kernel.json"); do
  a=$(jq -c ".problems[] | select(.name == \"$p\") | .winner.params" "$work/p/share/kgen/site/$kernel.json" | params)
  b=$(jq -c ".problems[] | select(.name == \"$p\") | .winner.params" "$full/$kernel/$id.json" | params)
  [ -n "$b" ] || { echo "$p: not in the full tune (tuned with --problem): skipped"; continue; }
  if [ "$a" = "$b" ]; then
    r=1
  else
    "$build/kgen" bench "$root/specs/$kernel.lua" --problem "$p" --set "$a" --set "$b" --json "$work/b.json" \
      --quiet > /dev/null 2>&1 || { echo "$p: bench failed"; continue; }
    pa=$(jq -r --arg s "$a" '.problems[0].top[] | select((.params | to_entries | sort_by(.key) | map("\(.key)=\(.value)") | join(",")) == $s) | .p50_ns' "$work/b.json" | head -n1)
    pb=$(jq -r --arg s "$b" '.problems[0].top[] | select((.params | to_entries | sort_by(.key) | map("\(.key)=\(.value)") | join(",")) == $s) | .p50_ns' "$work/b.json" | head -n1)
    [ -n "$pa" ] && [ -n "$pb" ] || { echo "$p: a variant failed"; continue; }
    r=$(echo "$pb / $pa" | bc -l)
  fi
  printf '%-28s %-44s %-44s %8.3f\n' "$p" "$a" "$b" "$r"
  logsum=$(echo "$logsum + l($r)" | bc -l)
  n=$((n + 1))
done
[ "$n" -gt 0 ] && printf 'geometric mean full/site over %d problems: %.3f (>= 0.95: site reaches 95%% of the full tune)\n' \
  "$n" "$(echo "e($logsum / $n)" | bc -l)"
printf 'wall: site tuning %.0f s (budget %s s), full tune %.0f s: site = %.1f%% of full\n' "$site_s" "$budget" \
  "$full_s" "$(echo "100 * $site_s / $full_s" | bc -l)"
echo "work folder: $work"
