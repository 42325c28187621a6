#!/usr/bin/env bash
# Sets up the machine, builds nncompress and runs the whole test suite.
#   tools/test.sh             in build/
#   tools/test.sh --sanitize  AddressSanitizer + UBSan build in build-asan/
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/build.sh "$@"
build_dir=build
if [[ "${1:-}" == "--sanitize" ]]; then
  build_dir=build-asan
  # LibTorch and protobuf keep process-lifetime singletons that LeakSanitizer would report.
  export ASAN_OPTIONS="detect_leaks=0"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
  # pytest leaves out the cases marked heavy (tests/integration/conftest.py): the main suite runs them.
  export NNCOMPRESS_SANITIZE=1
fi
cd "$build_dir"
ctest --output-on-failure -j "$(nproc)"
