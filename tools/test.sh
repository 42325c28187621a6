#!/usr/bin/env bash
# Sets up the machine, builds nncompress and runs the whole test suite.
#   tools/test.sh             Release-like build in build/
#   tools/test.sh --sanitize  AddressSanitizer + UBSan build in build-asan/
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
build_dir=build
cmake_args=()
if [[ "${1:-}" == "--sanitize" ]]; then
  build_dir=build-asan
  cmake_args+=(-DNNCOMPRESS_SANITIZE=ON)
  # LibTorch and protobuf keep process-lifetime singletons that LeakSanitizer would flag.
  export ASAN_OPTIONS="detect_leaks=0:abort_on_error=0"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
fi
cmake -S . -B "$build_dir" -G Ninja "${cmake_args[@]}" >/dev/null
cmake --build "$build_dir" -j "$(nproc)"
cd "$build_dir"
ctest --output-on-failure -j "$(nproc)"
