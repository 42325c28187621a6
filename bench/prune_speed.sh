#!/usr/bin/env bash
# Does channel pruning make models faster in a standard runtime? ONNX Runtime (onnxruntime-node)
# latency of a model before and after `prune --target-macs F`, batch 32 and batch 1, median of 20
# runs each, same thread count.
#   bench/prune_speed.sh [MODEL.onnx [TARGET_MACS [THREADS]]]   (default: torchvision resnet18, 0.5)
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-}
target=${2:-0.5}
threads=${3:-$(nproc)}
if [ -z "$model" ]; then
  /usr/bin/python3 tools/export_torchvision.py --out build/testmodels resnet18 >/dev/null
  model=build/testmodels/resnet18.onnx
fi
work=build/bench/prune_speed
mkdir -p "$work"
./build/nncompress --quiet prune "$model" -o "$work/pruned.onnx" --target-macs "$target" --json >"$work/prune.json"
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
  for m in "$model" "$work/pruned.onnx"; do
    node tools/ort/run.js "$m" "$work/out" --threads "$threads" --repeat 20 "$input=$work/x$batch.npy" |
      /usr/bin/python3 -c "import json,sys; print('$batch', '$m', json.load(sys.stdin)['median_ms'])"
  done
done | /usr/bin/python3 -c "
import json, sys
rows = [l.split() for l in sys.stdin]
p = json.load(open('$work/prune.json'))
print(f'MACs kept {p[\"macs_after\"] / p[\"macs_before\"]:.3f}, params kept {p[\"params_after\"] / p[\"params_before\"]:.3f}')
for i in range(0, len(rows), 2):
    (b, _, base), (_, _, pruned) = rows[i], rows[i + 1]
    print(f'batch {b}: original {float(base):.1f} ms, pruned {float(pruned):.1f} ms, speed-up {float(base) / float(pruned):.2f}x')
"
