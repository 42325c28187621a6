#!/usr/bin/env bash
# Do two builds produce the same models? Runs the same prune, quantize and compress commands on
# LeNet-5 with each binary and compares the output files byte for byte (and the compress
# reports' numbers). For refactors that must not change results (docs/benchmarks.md).
#   bench/compare_builds.sh OLD_BINARY NEW_BINARY
# Build an older commit beside the tree: git worktree add /tmp/old REV && cmake -S /tmp/old -B /tmp/old/build
#   -G Ninja -DNNCOMPRESS_TESTS=OFF && cmake --build /tmp/old/build --target nncompress
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -eq 2 ] || { echo "usage: $0 OLD_BINARY NEW_BINARY" >&2; exit 2; }
work=build/bench/compare_builds
rm -rf "$work" && mkdir -p "$work"
M=models/lenet5-mnist.onnx
D=models/data/mnist-test.npz
cat >"$work/recipe.yaml" <<'R'
steps:
  - pass: prune.channels
    target-macs: 0.5
    epochs: 1
  - pass: quant.int8
R
outputs() {  # BINARY DIR
  local B=$1 O=$2 Q=(--quiet --threads 1)
  mkdir -p "$O"
  "$B" "${Q[@]}" prune $M -o "$O/channels.onnx" --ratio 0.5 --prune-first-conv
  "$B" "${Q[@]}" prune $M -o "$O/taylor.onnx" --ratio 0.4 --criterion taylor --data $D --limit 500
  "$B" "${Q[@]}" prune $M -o "$O/magnitude.onnx" --method magnitude --sparsity 0.8 --data $D --limit 1000 --epochs 1 --seed 1
  "$B" "${Q[@]}" prune $M -o "$O/gradual.onnx" --method magnitude --sparsity 0.8 --gradual --data $D --limit 1000 --epochs 2 --seed 1
  "$B" "${Q[@]}" prune $M -o "$O/autoprune.onnx" --method autoprune --sparsity 0.9 --data $D --limit 1000 --epochs 1 --seed 1
  "$B" "${Q[@]}" prune $M -o "$O/autoprune-channels.onnx" --method autoprune --granularity channels --target-macs 0.5 \
    --data $D --limit 1000 --epochs 1 --seed 1
  "$B" "${Q[@]}" quantize $M -o "$O/int8.onnx" --calib $D --calib-limit 500 --calibration entropy
  "$B" "${Q[@]}" quantize "$O/magnitude.onnx" -o "$O/focused.onnx" --method focused --bits 5 --data $D --limit 1000 --epochs 1
  "$B" "${Q[@]}" quantize $M -o "$O/mixed.onnx" --method mixed --calib $D --calib-limit 300 --avg-bits 4
  "$B" "${Q[@]}" compress $M -o "$O/compress.onnx" --recipe "$work/recipe.yaml" --data $D --limit 1000 --seed 2 \
    --report "$O/compress.json" --json >/dev/null
}
outputs "$1" "$work/old" >"$work/old.log"
outputs "$2" "$work/new" >"$work/new.log"
same=0 differ=0
for f in "$work"/old/*.onnx; do
  b=$(basename "$f")
  if cmp -s "$f" "$work/new/$b"; then same=$((same + 1)); else differ=$((differ + 1)); echo "differs: $b"; fi
done
python3 - "$work" <<'P'
import json, sys
a, b = (json.load(open(f"{sys.argv[1]}/{d}/compress.json")) for d in ("old", "new"))
for k in ("before", "after", "accuracy", "sizes"):
    print(f"compress report {k}: {'same' if a[k] == b[k] else 'DIFFERS'}")
P
echo "$same files identical, $differ differ"
