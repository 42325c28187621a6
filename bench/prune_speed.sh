#!/usr/bin/env bash
# Does channel pruning make models faster in a standard runtime? ONNX Runtime (onnxruntime-node)
# latency of a model before and after `prune --target-macs F` (or of a model pruned elsewhere,
# e.g. fine-tuned by bench/resnet20_channel_methods.sh), batch 32 and batch 1, median of 20 runs
# each, same thread count.
#   bench/prune_speed.sh [MODEL.onnx [TARGET_MACS [THREADS [PRUNED.onnx]]]]   (default: torchvision resnet18, 0.5)
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-}
target=${2:-0.5}
threads=${3:-$(nproc)}
pruned=${4:-}
if [ -z "$model" ]; then
  /usr/bin/python3 tools/export_torchvision.py --out build/testmodels resnet18 >/dev/null
  model=build/testmodels/resnet18.onnx
fi
work=build/bench/prune_speed
mkdir -p "$work"
if [ -z "$pruned" ]; then
  pruned=$work/pruned.onnx
  ./build/nncompress --quiet prune "$model" -o "$pruned" --target-macs "$target" --json >/dev/null
fi
./build/nncompress inspect --json "$model" >"$work/before.json"
./build/nncompress inspect --json "$pruned" >"$work/after.json"
for batch in 1 32; do /usr/bin/python3 bench/ort_feeds.py "$work/before.json" "$batch" "$work" >"$work/feeds$batch"; done
for batch in 32 1; do
  for m in "$model" "$pruned"; do
    # shellcheck disable=SC2046  # the feeds are NAME=FILE words without spaces
    node tools/ort/run.js "$m" "$work/out" --threads "$threads" --repeat 20 $(cat "$work/feeds$batch") |
      /usr/bin/python3 -c "import json,sys; print('$batch', '$m', json.load(sys.stdin)['median_ms'])"
  done
done | /usr/bin/python3 -c "
import json, sys
rows = [l.split() for l in sys.stdin]
before, after = json.load(open('$work/before.json')), json.load(open('$work/after.json'))
print(f'MACs kept {after[\"macs\"] / before[\"macs\"]:.3f}, params kept {after[\"params\"] / before[\"params\"]:.3f}')
for i in range(0, len(rows), 2):
    (b, _, base), (_, _, pruned) = rows[i], rows[i + 1]
    print(f'batch {b}: original {float(base):.1f} ms, pruned {float(pruned):.1f} ms, speed-up {float(base) / float(pruned):.2f}x')
"
