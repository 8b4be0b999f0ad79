#!/usr/bin/env bash
# Build the libFuzzer targets (fuzz/) with clang-16 + ASan + UBSan and run each for SECONDS.
#   scripts/fuzz.sh [SECONDS] [TARGET...]       default 30 s; targets: spec template set json
# Seed corpora: specs/ and tests/specs/ (spec, template), --set strings, tuned/ reports (json).
# Corpora grow in build-fuzz/corpus/<target>; a crash leaves build-fuzz/crash-* and exits 1.
# Prints each target's executions, coverage and crashes.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
secs=${1:-30}
shift || true
targets=("$@")
((${#targets[@]})) || targets=(spec template set json)
build="$root/build-fuzz"

if ! dpkg-query -W -f='${Status}' libclang-rt-16-dev 2>/dev/null | grep -q "install ok installed"; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends libclang-rt-16-dev >/dev/null
fi
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKG_FUZZ=ON \
  -DCMAKE_C_COMPILER=clang-16 -DCMAKE_CXX_COMPILER=clang++-16 >/dev/null
cmake --build "$build" -j"$(nproc)" --target $(printf 'fuzz_%s ' "${targets[@]}") >/dev/null

seed() { # target -> seed folder
  local t=$1 d="$build/seeds/$1"
  rm -rf "$d" && mkdir -p "$d"
  case $t in
    spec) cp "$root"/specs/*.lua "$root"/tests/specs/*.lua "$d"/ ;;
    template) cp "$root"/templates/*.c "$root"/tests/specs/*.c "$d"/ ;;
    set) printf 'a=1,b=2' >"$d/1"; printf 'mode=safe' >"$d/2"; printf 'a=4,b=1,mode=fast' >"$d/3"
         printf 'b=9' >"$d/4"; printf 'a=,=1,,' >"$d/5" ;;
    json) find "$root/tuned" -name '*.json' -size -200k -exec cp {} "$d"/ \;
          printf '%s' '{"problems": [{"name": "small", "winner": {"params": {"mode": "ok", "pad": 0}, "p50_ns": 90,
            "ci95_ns": [80, 100]}}, {"name": "large", "winner": null}]}' >"$d/small.json" ;;
  esac
  echo "$d"
}

export KGEN_ROOT="$root" ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
status=0
for t in "${targets[@]}"; do
  corpus="$build/corpus/$t"
  mkdir -p "$corpus"
  s=$(seed "$t")
  log="$build/fuzz_$t.log"
  maxlen=16384
  [ "$t" = json ] && maxlen=262144 # shipped reports are larger than the default
  if (cd "$build" && "./fuzz_$t" -max_total_time="$secs" -timeout=60 -rss_limit_mb=4096 -max_len=$maxlen \
        "$corpus" "$s" >"$log" 2>&1); then
    verdict="0 crashes"
  else
    verdict="CRASH (see $log)"
    status=1
  fi
  stats=$(grep -E '^#[0-9]+' "$log" | tail -n1 | sed -E 's/^#([0-9]+)\s+\w+\s+/\1 executions, /' || true)
  echo "fuzz_$t: ${secs} s, ${stats:-no stats}; $verdict"
done
exit $status
