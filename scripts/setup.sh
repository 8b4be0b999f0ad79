#!/usr/bin/env bash
# Install the Debian 12 packages kgen needs (only those missing), then configure and build.
#   scripts/setup.sh [BUILD_DIR] [extra cmake args...]      default BUILD_DIR: build
# Runs apt-get as root (or through sudo); non-interactive.
set -euo pipefail

packages=(build-essential cmake pkg-config
  llvm-16-dev libclang-16-dev clang-16 libomp-16-dev
  liblua5.4-dev libopenblas-dev libpfm4-dev libhwloc-dev libsqlite3-dev
  libjansson-dev libxxhash-dev libcmocka-dev zlib1g-dev gnuplot-nox
  libdnnl-dev  # oneDNN: the fusion specs' `onednn` baselines (templates/kg_dnnl.h, dlopen'ed)
  libblis-dev  # gemm baseline (templates/kg_blis.h, dlopen)
  libxsmm-dev  # gemm small-matrix baseline (static archive linked into build/libkg_xsmm.so, templates/kg_xsmm.h)
  slurm-wlm munge  # slurm-wlm, munge: tests/test_slurm.c's one-node cluster (tests/slurm/)
  sqlite3 bc)  # sqlite3, bc: bench/guided_cost.sh

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "kgen setup: installing ${missing[*]}" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build}
shift || true
case "$build" in /*) ;; *) build="$root/$build" ;; esac
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
cmake --build "$build" -j"$(nproc)"
