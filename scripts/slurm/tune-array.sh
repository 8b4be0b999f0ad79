#!/usr/bin/env bash
# tune-array.sh - tune a spec on a Slurm cluster: a job array of N shards (`kgen tune SPEC --shard
# I/N`, I = $SLURM_ARRAY_TASK_ID) and a merge job that starts when every shard succeeded
# (--dependency=afterok), runs the final rounds on a node of the same class and writes
# OUT/<kernel>/<machine-id>.json.  Every job asks for the node constraint of the machine class to
# tune, and a whole node (--exclusive) so that measurements do not share cores, unless
# --cpus-per-task says otherwise.
#
#   scripts/slurm/tune-array.sh SPEC -n N [options] [-- kgen tune options...]
#     -n, --shards N         number of shards (array tasks 0..N-1)
#     --constraint FEATURE   node constraint of the machine class (sbatch --constraint)
#     --partition P          sbatch --partition
#     --time T               time limit of each job (sbatch --time)
#     --account A            sbatch --account
#     --cpus-per-task C      C cores per shard instead of a whole node (shards may share a node)
#     --out DIR              output root (default tuned)
#     --work DIR             shard databases and job logs (default OUT/slurm/<spec name>)
#     --kgen PATH            the kgen binary (default: kgen on PATH); must exist on the nodes
#     --dry-run              print the two sbatch commands instead of submitting them
#   Options after -- go to every shard; the merge gets those it takes too (--min-time, --timeout,
#   --rounds, --finalists, --mem-limit, --profile, --cpu, --quiet).
#
# Prints the array's and the merge's job ids.  A failed shard keeps the merge from running
# (afterok): resubmit the shard (its database resumes with --resume), then run the merge command
# printed at the end, or `kgen merge --allow-partial` to merge the shards that finished.
set -euo pipefail

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }

spec="" shards="" constraint="" partition="" time_limit="" account="" cpus="" out=tuned work="" kgen="" dry=0
extra=()
while (($#)); do
  case $1 in
  -n | --shards) shards=$2; shift 2 ;;
  --constraint) constraint=$2; shift 2 ;;
  --partition) partition=$2; shift 2 ;;
  --time) time_limit=$2; shift 2 ;;
  --account) account=$2; shift 2 ;;
  --cpus-per-task) cpus=$2; shift 2 ;;
  --out) out=$2; shift 2 ;;
  --work) work=$2; shift 2 ;;
  --kgen) kgen=$2; shift 2 ;;
  --dry-run) dry=1; shift ;;
  -h | --help) usage; exit 0 ;;
  --) shift; extra=("$@"); break ;;
  -*) echo "tune-array.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  *)
    [ -z "$spec" ] || { echo "tune-array.sh: one SPEC only ($spec, $1)" >&2; exit 2; }
    spec=$1; shift ;;
  esac
done
[ -n "$spec" ] || { echo "tune-array.sh: missing SPEC (see --help)" >&2; exit 2; }
[ -f "$spec" ] || { echo "tune-array.sh: $spec: no such spec" >&2; exit 2; }
[[ "$shards" =~ ^[1-9][0-9]*$ ]] || { echo "tune-array.sh: -n N: a positive number of shards, not '$shards'" >&2; exit 2; }
if [ -z "$kgen" ]; then kgen=$(command -v kgen || true); fi
[ -n "$kgen" ] && [ -x "$kgen" ] || { echo "tune-array.sh: no kgen binary (--kgen PATH)" >&2; exit 2; }
command -v sbatch >/dev/null || ((dry)) || { echo "tune-array.sh: sbatch not found (not a Slurm login node?)" >&2; exit 2; }

abs() { (cd "$(dirname "$1")" && printf '%s/%s' "$(pwd)" "$(basename "$1")"); }
spec=$(abs "$spec")
kgen=$(abs "$kgen")
mkdir -p "$out"
out=$(cd "$out" && pwd)
name=$(basename "$spec" .lua)
work=${work:-$out/slurm/$name}
mkdir -p "$work"
work=$(cd "$work" && pwd)

# Options the merge takes as well (kgen merge --help).
merge_extra=()
for ((i = 0; i < ${#extra[@]}; i++)); do
  case ${extra[i]} in
  --min-time | --timeout | --rounds | --finalists | --mem-limit | --profile | --cpu)
    merge_extra+=("${extra[i]}" "${extra[i + 1]:-}"); i=$((i + 1)) ;;
  --quiet) merge_extra+=(--quiet) ;;
  esac
done

common=(--parsable --chdir="$work")
[ -n "$constraint" ] && common+=(--constraint="$constraint")
[ -n "$partition" ] && common+=(--partition="$partition")
[ -n "$time_limit" ] && common+=(--time="$time_limit")
[ -n "$account" ] && common+=(--account="$account")
if [ -n "$cpus" ]; then common+=(--cpus-per-task="$cpus"); else common+=(--exclusive); fi

dbs=()
for ((i = 0; i < shards; i++)); do dbs+=("$work/shard-$i-of-$shards.db"); done
q() { (($#)) && printf '%q ' "$@"; return 0; } # nothing for no arguments (not '')
shard_cmd="$(q "$kgen" tune "$spec" --out "$out") --shard \"\$SLURM_ARRAY_TASK_ID/$shards\" --db \"$work/shard-\$SLURM_ARRAY_TASK_ID-of-$shards.db\" --resume $(q ${extra[@]+"${extra[@]}"})"
merge_cmd="$(q "$kgen" merge "${dbs[@]}" --out "$out" ${merge_extra[@]+"${merge_extra[@]}"})"

array=(sbatch "${common[@]}" --job-name="kgen-tune-$name" --array="0-$((shards - 1))"
  --output="$work/shard-%a-of-$shards.log" --wrap="$shard_cmd")
if ((dry)); then
  q "${array[@]}"; echo
  q sbatch "${common[@]}" --job-name="kgen-merge-$name" --dependency=afterok:ARRAY_JOB_ID --kill-on-invalid-dep=yes \
    --output="$work/merge.log" --wrap="$merge_cmd"; echo
  exit 0
fi
array_id=$("${array[@]}")
array_id=${array_id%%;*}
merge_id=$(sbatch "${common[@]}" --job-name="kgen-merge-$name" --dependency=afterok:"$array_id" \
  --kill-on-invalid-dep=yes --output="$work/merge.log" --wrap="$merge_cmd")
merge_id=${merge_id%%;*}
echo "array $array_id: $shards shards of $spec (logs $work/shard-*-of-$shards.log)"
echo "merge $merge_id after them (log $work/merge.log): $merge_cmd"
echo "watch: squeue -j $array_id,$merge_id"
