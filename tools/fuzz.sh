#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz/) with clang in build-fuzz/ and fuzzes each for a
# bounded time, after replaying every regression input in tests/fuzz/regressions/.
#   tools/fuzz.sh [SECONDS_PER_TARGET]    default 60 (the CI run); docs/benchmarks.md has a long run
# Seeds: the ONNX backend node-test models (libonnx-testdata) listed in
# tests/fuzz/seeds/onnx_testdata_seeds.txt and the small files in tests/fuzz/seeds/. A crash
# stops the run with exit 1 and leaves build-fuzz/crash-* to add to tests/fuzz/regressions/ once
# fixed.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
bash tools/setup.sh  # clang-14 and libFuzzer's runtime among the rest
targets=(fuzz_onnx_load fuzz_arrays fuzz_manifest)
cmake -S . -B build-fuzz -G Ninja -DCMAKE_CXX_COMPILER=clang++-14 -DNNCOMPRESS_FUZZ=ON -DNNCOMPRESS_TESTS=OFF >/dev/null
cmake --build build-fuzz -j "$(nproc)" --target "${targets[@]}"
# LibTorch and protobuf keep process-lifetime singletons that LeakSanitizer would report.
export ASAN_OPTIONS="detect_leaks=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"

corpus=build-fuzz/corpus
mkdir -p "$corpus/fuzz_onnx_load" "$corpus/fuzz_arrays" "$corpus/fuzz_manifest"
# Loading a seed costs ~0.1 s (the forked shape inference under ASan): the 175 node tests that
# add coverage, not all 933 (tests/fuzz/seeds/onnx_testdata_seeds.txt says how they were chosen).
grep -v '^#' tests/fuzz/seeds/onnx_testdata_seeds.txt | while read -r name; do
  [[ -e "$corpus/fuzz_onnx_load/$name.onnx" ]] ||
    cp "/usr/share/libonnx-testdata/data/node/$name/model.onnx" "$corpus/fuzz_onnx_load/$name.onnx"
done
cp tests/fuzz/seeds/fuzz_onnx_load/* "$corpus/fuzz_onnx_load/"
cp tests/fuzz/seeds/fuzz_arrays/* "$corpus/fuzz_arrays/"
cp tests/fuzz/seeds/fuzz_manifest/* "$corpus/fuzz_manifest/"

for target in "${targets[@]}"; do
  regressions=(tests/fuzz/regressions/"$target"/*)
  if [[ -e "${regressions[0]}" ]]; then
    echo "fuzz: $target replays ${#regressions[@]} regression inputs"
    "build-fuzz/$target" "${regressions[@]}" 2>build-fuzz/"$target"-regressions.log ||
      { tail -30 build-fuzz/"$target"-regressions.log; exit 1; }
  fi
  echo "fuzz: $target for $seconds s"
  "build-fuzz/$target" -max_total_time="$seconds" -timeout=30 -rss_limit_mb=4096 -print_final_stats=1 \
    -artifact_prefix="build-fuzz/crash-$target-" "$corpus/$target" 2>build-fuzz/"$target".log ||
    { tail -40 build-fuzz/"$target".log; exit 1; }
  grep -E "stat::number_of_executed_units|stat::peak_rss_mb|cov:" build-fuzz/"$target".log | tail -3
done
