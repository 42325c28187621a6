#!/usr/bin/env bash
# Sets up the machine (tools/setup.sh) and builds nncompress.
#   tools/build.sh             RelWithDebInfo build in build/ (the CLI is build/nncompress)
#   tools/build.sh --sanitize  AddressSanitizer + UBSan build in build-asan/
#   tools/build.sh [--sanitize] TARGET ...   only these targets (and what they link)
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
build_dir=build
cmake_args=()
if [[ "${1:-}" == "--sanitize" ]]; then
  build_dir=build-asan
  cmake_args+=(-DNNCOMPRESS_SANITIZE=ON)
  shift
fi
targets=()
[[ $# -gt 0 ]] && targets=(--target "$@")
cmake -S . -B "$build_dir" -G Ninja "${cmake_args[@]}" >/dev/null
cmake --build "$build_dir" -j "$(nproc)" "${targets[@]}"
