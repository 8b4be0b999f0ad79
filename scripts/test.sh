#!/usr/bin/env bash
# Set up (scripts/setup.sh), build and run the whole test suite with ctest.
#   scripts/test.sh [BUILD_DIR] [extra cmake args...]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build}
"$root/scripts/setup.sh" "$@"
case "$build" in /*) ;; *) build="$root/$build" ;; esac
# LLVM keeps process-lifetime allocations that LeakSanitizer would report; ASan still checks
# every access.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0}
# KG_CTEST_ARGS: extra ctest arguments (e.g. -E NAME to leave tests out; .ci/run's sanitizer pass).
# shellcheck disable=SC2086
ctest --test-dir "$build" --output-on-failure -j1 ${KG_CTEST_ARGS:-}
