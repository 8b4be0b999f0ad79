#!/usr/bin/env bash
# Live search benchmark (issue 14): `kgen tune specs/gemm.lua` over the enlarged space with the
# default strategy (knn, budget 10% of the space) against today's exhaustive tune of the old,
# pruned space (bench/gemm_pruned.lua: today's spec with the pruning constraints of commit 3132d6c),
# one after the other on the same machine (each
# compiles on every CPU and measures on it: run side by side they would measure each other;
# KG_LIVE_TOGETHER=1 starts them together instead).  Prints both wall times and, per problem, both winners with their p50
# and the ratio to the best baseline measured in the same run's final rounds (the machine may be
# shared: compare the ratios, not the raw times).
#   bench/gemm_live.sh [KGEN] [OUT_DIR] [PROBLEM...]
# defaults: build/kgen, a temporary folder, m256_k256_n256 and m16_k1024_n8192.
# Target: each problem's knn winner is within 3% of the exhaustive winner or better, and the knn
# tune takes less wall time.  The two winners are then measured head to head (kgen bench --set
# OLD --set NEW, 5 rounds side by side: the arms ran at different moments of a machine whose speed
# drifts), which decides "within 3%".  PROBLEM may be "all": every problem.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
kgen=${1:-$root/build/kgen}
out=${2:-$(mktemp -d)}
shift 2 || shift $# || true
problems=("$@")
((${#problems[@]})) || problems=(m256_k256_n256 m16_k1024_n8192)
if [[ ${problems[0]} == all ]]; then
  mapfile -t problems < <("$kgen" show "$root/specs/gemm.lua" | sed -n 's/^  \(m[0-9]*_k[0-9]*_n[0-9]*\) .*/\1/p')
fi
mkdir -p "$out/old/specs"
cp "$root/bench/gemm_pruned.lua" "$out/old/specs/gemm.lua"
ln -sfn "$root/templates" "$out/old/templates"
args=()
for p in "${problems[@]}"; do args+=(--problem "$p"); done
arm() { # name spec extra...
  local name=$1 spec=$2 s
  shift 2
  s=$(date +%s)
  "$kgen" tune "$spec" "${args[@]}" "$@" --out "$out/$name" --db "$out/$name.db" > "$out/$name.txt" 2> "$out/$name.err"
  echo $(($(date +%s) - s)) > "$out/$name.wall"
}
# today's exhaustive tune measures every variant in full (--screen-time 0, as before screening
# existed); KG_LIVE_SCREENED=1 adds a third arm, the old space exhaustively with today's default
# screening, for the comparison at equal measurement.
if [[ ${KG_LIVE_TOGETHER:-0} == 1 ]]; then
  arm old "$out/old/specs/gemm.lua" --strategy exhaustive --screen-time 0 &
  arm new "$root/specs/gemm.lua" &
  wait
else
  arm old "$out/old/specs/gemm.lua" --strategy exhaustive --screen-time 0
  arm new "$root/specs/gemm.lua"
fi
arms=(old new)
if [[ ${KG_LIVE_SCREENED:-0} == 1 ]]; then
  arm old_screened "$out/old/specs/gemm.lua" --strategy exhaustive
  arms+=(old_screened)
fi
echo "old space: $("$kgen" show "$out/old/specs/gemm.lua" | sed -n 's/^space *//p')"
echo "new space: $("$kgen" show "$root/specs/gemm.lua" | sed -n 's/^space *//p')"
echo "wall time: exhaustive (old space, full measurement) $(cat "$out/old.wall") s, $(sed -n 's/ search:.*//p' "$out/new.err" | head -1) (new space, 10%, screening) $(cat "$out/new.wall") s"
[[ -f $out/old_screened.wall ]] && echo "wall time: exhaustive (old space, screening) $(cat "$out/old_screened.wall") s"
for p in "${problems[@]}"; do
  for a in "${arms[@]}"; do
    jq -r --arg p "$p" --arg a "$a" '.problems[] | select(.name == $p) |
      (.baselines | map(select(.status == "ok")) | min_by(.p50_ns)) as $b |
      "\($p) \($a): winner \(.winner.params | to_entries | map("\(.key)=\(.value)") | join(",")) p50 \(.winner.p50_ns / 1000 | . * 10 | round / 10) us, best baseline \($b.name) \($b.p50_ns / 1000 | . * 10 | round / 10) us, ratio \(.winner.p50_ns / $b.p50_ns | . * 1000 | round / 1000)"' \
      "$out/$a/gemm/"*.json
  done
done
# head to head: both winners of each problem measured side by side in one run
winner() { # arm problem -> the winner's parameters, a=1,b=2
  jq -r --arg p "$2" '.problems[] | select(.name == $p) | .winner.params | to_entries |
    map("\(.key)=\(.value)") | join(",")' "$out/$1/gemm/"*.json
}
h2h_p50() { # problem parameters -> that variant's p50 (ns) in the head-to-head report
  jq -r --arg s "$2" '.problems[0].top[] | select((.params | to_entries |
    map("\(.key)=\(.value)") | join(",")) == $s) | .p50_ns' "$out/h2h_$1.json"
}
within=0
for p in "${problems[@]}"; do
  o=$(winner old "$p") n=$(winner new "$p")
  if [[ $o == "$n" ]]; then
    echo "$p head to head: the same winner"
    within=$((within + 1))
    continue
  fi
  "$kgen" bench "$root/specs/gemm.lua" --problem "$p" --set "$o" --set "$n" --rounds 5 --quiet \
    --json "$out/h2h_$p.json" > /dev/null 2> "$out/h2h_$p.err"
  to=$(h2h_p50 "$p" "$o") tn=$(h2h_p50 "$p" "$n")
  r=$(echo "scale=3; $tn / $to" | bc)
  ok=$(echo "$tn <= 1.03 * $to" | bc)
  within=$((within + ok))
  printf '%s head to head (5 rounds side by side): old %.1f us, new %.1f us, new/old %s%s\n' "$p" \
    "$(echo "$to / 1000" | bc -l)" "$(echo "$tn / 1000" | bc -l)" "$r" "$( ((ok)) && echo ' (within 3%)' || echo ' (MISSED)')"
done
echo "within 3% of the exhaustive winner or better: $within of ${#problems[@]} problems"
