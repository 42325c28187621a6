#!/usr/bin/env bash
# Sets up the machine, builds nncompress and runs the test suite.
#   tools/test.sh                 the whole suite in build/
#   tools/test.sh --sanitize      AddressSanitizer + UBSan build in build-asan/, the tests labelled
#                                 `sanitize` (the input-facing slice CI runs; tests/CMakeLists.txt)
#   tools/test.sh --sanitize-all  the whole suite under the sanitizers (~45 min on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-}
case "$mode" in
  ""|--sanitize|--sanitize-all) ;;
  *) echo "usage: tools/test.sh [--sanitize | --sanitize-all]" >&2; exit 2 ;;
esac
build_dir=build
ctest_args=()
if [[ "$mode" == "--sanitize" ]]; then
  # Only what the slice runs: under ASan every linked binary costs a minute of CI.
  bash tools/build.sh --sanitize nncompress nncompress_unit_tests nncompress_conformance_tests \
    nncompress_node_conformance nncompress_mutant_tests
elif [[ -n "$mode" ]]; then
  bash tools/build.sh --sanitize
fi
if [[ -n "$mode" ]]; then
  build_dir=build-asan
  # LibTorch and protobuf keep process-lifetime singletons that LeakSanitizer would report.
  export ASAN_OPTIONS="detect_leaks=0"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
  # pytest leaves out the cases marked heavy (tests/integration/conftest.py): the main suite runs them.
  export NNCOMPRESS_SANITIZE=1
  [[ "$mode" == "--sanitize" ]] && ctest_args+=(-L sanitize)
else
  bash tools/build.sh
fi
cd "$build_dir"
ctest --output-on-failure -j "$(nproc)" "${ctest_args[@]}"
