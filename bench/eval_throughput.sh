#!/usr/bin/env bash
# Eval throughput of nncompress vs onnxruntime-node on torchvision resnet18, batch 32, 224x224,
# the same thread count, median of 5 runs each, the runs alternating. Needs a build in build/ (tools/test.sh or cmake).
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
np.savez(f"{sys.argv[1]}/batches.npz", x=np.concatenate([x] * 6))  # 6 batches of 32 per run
PY
model=build/testmodels/resnet18.onnx
# Runs alternate between the two runtimes so that load from elsewhere on the host (this is a VM)
# hits both alike. Ours: the steady state of 6 batches (eval --json's steady_samples_per_second,
# the first batch left out); ONNX Runtime: the median of 20 batches after a warm-up run.
ours=() ort=()
for i in 1 2 3 4 5; do
  ours+=("$("${NNCOMPRESS:-./build/nncompress}" --quiet --threads "$threads" eval "$model" --data "$work/batches.npz" --batch 32 --json |
    /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["steady_samples_per_second"])')")
  ort+=("$(node tools/ort/run.js "$model" "$work/ort_out" --threads "$threads" --repeat 20 "input=$work/batch32.npy" |
    /usr/bin/python3 -c 'import json,sys; print(32 * 1000 / json.load(sys.stdin)["median_ms"])')")
done
/usr/bin/python3 - "$threads" "${ours[*]}" "${ort[*]}" <<'PY'
import statistics, sys
threads = int(sys.argv[1])
ours, ort = ([float(v) for v in a.split()] for a in sys.argv[2:4])
a, b = statistics.median(ours), statistics.median(ort)
runs = lambda v: ", ".join(f"{x:.1f}" for x in v)
print(f"resnet18 batch 32, {threads} threads, median of 5 alternating runs: nncompress {a:.1f} samples/s ({runs(ours)}), "
      f"onnxruntime-node {b:.1f} samples/s ({runs(ort)}), ratio {a / b:.2f}")
PY
