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
shape=$(./build/nncompress inspect --json "$model" | /usr/bin/python3 -c \
  'import json,sys; print(json.load(sys.stdin)["inputs"][0]["type"])')
/usr/bin/python3 - "$work" "$shape" <<'PY'
import re, sys, numpy as np
work, shape = sys.argv[1], sys.argv[2]
dims = [int(d) if d.isdigit() else 1 for d in re.search(r"\[(.*)\]", shape).group(1).split(",")]
for batch in (1, 32):
    np.save(f"{work}/x{batch}.npy", np.random.RandomState(0).randn(batch, *dims[1:]).astype(np.float32))
PY
input=$(./build/nncompress inspect --json "$model" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["inputs"][0]["name"])')
for batch in 32 1; do
  for m in "$model" "$pruned"; do
    node tools/ort/run.js "$m" "$work/out" --threads "$threads" --repeat 20 "$input=$work/x$batch.npy" |
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
