#!/usr/bin/env bash
# Issue 15's targets, each measured side by side in one run: `kgen tune` of the target problems
# (search, then final rounds that interleave the finalists with every baseline, oneDNN included),
# then one table from the reports.
#   linear + bias + act, 512 x 1024 x 1024:  fused >= 1.0x oneDNN with the same post-op (best of 1, 2 threads)
#   conv + BN + ReLU, the seed's shape:      fused >= 1.0x oneDNN convolution with post-ops
#   attention, S = 1024, d = 64:             fused >= 1.5x the unfused three-step form (speedup_factor)
#   MoE step, rho = 0.99:                    >= 1.5x the full-rebuild baseline per step (rho = 0 reported)
# Usage: bench/fusion_targets.sh [OUT_DIR]
# Env: KGEN (default build/kgen); ATTN_BUDGET, MOE_BUDGET (variants searched per problem, default
# 48: their spaces take ~1 min of JIT per 20 points on 2 cores); ONLY (a subset of "linear conv
# attention moe").  The winners land in OUT_DIR/tuned/<kernel>/ (a tuned/ entry for these problems).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
kgen=${KGEN:-$root/build/kgen}
out=${1:-$(mktemp -d)}
only=${ONLY:-"linear conv attention moe"}
mkdir -p "$out"
command -v jq > /dev/null || { echo "fusion_targets.sh: jq is needed (apt-get install jq)" >&2; exit 2; }

tune() { # spec extra...
  local spec=$1 s
  shift
  s=$(date +%s)
  echo "== kgen tune specs/$spec.lua $*" >&2
  "$kgen" tune "$root/specs/$spec.lua" "$@" --out "$out/tuned" --db "$out/$spec.db" > "$out/$spec.txt" 2> "$out/$spec.err" ||
    { echo "kgen tune $spec failed: see $out/$spec.err" >&2; tail -3 "$out/$spec.err" >&2; return 1; }
  echo "   $(($(date +%s) - s)) s" >&2
}
report() { ls "$out/tuned/$1/"*.json 2> /dev/null | head -1; }

for w in $only; do
  case $w in
    linear) tune fusion_linear --problem linear_relu_m512_k1024_n1024 --problem linear_gelu_tanh_m512_k1024_n1024 ;;
    conv) tune fusion_conv --problem seed_b4_c128_k128_28x28_r3_relu ;;
    attention) tune fusion_attention --problem attention_b4_s1024_d64 --problem attention_causal_b4_s1024_d64 \
      --strategy knn --budget "${ATTN_BUDGET:-48}" ;;
    moe) tune moe_step --problem rho99 --problem rho0 --strategy knn --budget "${MOE_BUDGET:-48}" ;;
    *) echo "fusion_targets.sh: unknown target $w" >&2; exit 2 ;;
  esac
done

# One row per problem: the winner's p50 and the baseline the target names, measured in the same
# final rounds.  ratio = baseline p50 / winner p50 (above 1: the winner is faster).
row() { # kernel problem baseline-regex target label
  local f
  f=$(report "$1") || true
  [[ -n $f ]] || return 0
  jq -r --arg p "$2" --arg b "$3" --arg t "$4" --arg l "$5" '
    .problems[] | select(.name == $p) |
    ([.baselines[] | select((.name | test("^(" + $b + ")$")) and (.p50_ns // 0) > 0)] | min_by(.p50_ns)) as $base |
    (.winner.p50_ns) as $w |
    ($base.p50_ns / $w) as $r |
    "| \($l) | \($p) | \($w / 1e6 | . * 1000 | round / 1000) ms (\(.winner.params | to_entries | map("\(.key)=\(.value)") | join(","))) | \($base.name) \($base.p50_ns / 1e6 | . * 1000 | round / 1000) ms | \($r * 1000 | round / 1000)x | \($t) | \(if $t == "-" then "reported" elif $r >= ($t | tonumber) then "met" else "missed" end) | \(.memory_reduction // "-" | if type == "number" then . * 100 | round / 100 else . end) |"' "$f"
}
echo
echo "machine: $("$kgen" show "$root/specs/stream.lua" | sed -n 's/^machine *//p')"
echo "| target | problem | fused (winner) | baseline (same rounds) | baseline / fused | target | verdict | memory reduction |"
echo "|---|---|---|---|---|---|---|---|"
row fusion_linear linear_relu_m512_k1024_n1024 "onednn|onednn_2t" 1.0 "linear+relu vs oneDNN"
row fusion_linear linear_gelu_tanh_m512_k1024_n1024 "onednn|onednn_2t" 1.0 "linear+gelu vs oneDNN"
row fusion_linear linear_relu_m512_k1024_n1024 "unfused|unfused_2t" - "linear+relu vs kgen unfused"
row fusion_conv seed_b4_c128_k128_28x28_r3_relu "onednn|onednn_2t" 1.0 "conv+BN+ReLU vs oneDNN"
row fusion_conv seed_b4_c128_k128_28x28_r3_relu "unfused" - "conv+BN+ReLU vs kgen unfused"
row fusion_attention attention_b4_s1024_d64 "unfused|unfused_2t" 1.5 "attention vs unfused"
row fusion_attention attention_b4_s1024_d64 "onednn|onednn_2t" - "attention vs oneDNN"
row fusion_attention attention_causal_b4_s1024_d64 "unfused|unfused_2t" - "causal attention vs unfused"
row moe_step rho99 rebuild 1.5 "MoE step rho 0.99 vs rebuild"
row moe_step rho0 rebuild - "MoE step rho 0 vs rebuild"
echo
echo "reports: $out/tuned/<kernel>/*.json; logs: $out/<spec>.err"
