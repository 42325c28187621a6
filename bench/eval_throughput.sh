#!/usr/bin/env bash
# Eval throughput of nncompress vs onnxruntime-node on torchvision resnet18, batch 32, 224x224,
# the same thread count, median of 5 runs each. Needs a build in build/ (tools/test.sh or cmake).
#   bench/eval_throughput.sh [THREADS]   (default: all cores; env NNCOMPRESS: the binary, build/nncompress)
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${1:-$(nproc)}
work=build/bench/eval_throughput
mkdir -p "$work"
/usr/bin/python3 tools/export_torchvision.py --out build/testmodels resnet18 >/dev/null
/usr/bin/python3 - "$work" <<'PY'
import numpy as np, sys
x = np.random.RandomState(0).randn(32, 3, 224, 224).astype(np.float32)
np.save(f"{sys.argv[1]}/batch32.npy", x)
np.savez(f"{sys.argv[1]}/batches.npz", x=np.concatenate([x] * 4))  # 4 batches of 32 per run
PY
model=build/testmodels/resnet18.onnx
ours=()
for i in 1 2 3 4 5; do
  ours+=("$("${NNCOMPRESS:-./build/nncompress}" --quiet --threads "$threads" eval "$model" --data "$work/batches.npz" --batch 32 --json |
    /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["samples_per_second"])')")
done
ort=$(node tools/ort/run.js "$model" "$work/ort_out" --threads "$threads" --repeat 20 "input=$work/batch32.npy" |
  /usr/bin/python3 -c 'import json,sys; print(32 * 1000 / json.load(sys.stdin)["median_ms"])')
/usr/bin/python3 - "$threads" "$ort" "${ours[@]}" <<'PY'
import statistics, sys
threads, ort, ours = int(sys.argv[1]), float(sys.argv[2]), [float(v) for v in sys.argv[3:]]
med = statistics.median(ours)
print(f"resnet18 batch 32, {threads} threads: nncompress {med:.1f} samples/s (runs: {', '.join(f'{v:.1f}' for v in ours)}), "
      f"onnxruntime-node {ort:.1f} samples/s (median of 20 batches), ratio {med / ort:.2f}")
PY
