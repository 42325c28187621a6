#!/usr/bin/env bash
# Eval throughput of nncompress vs onnxruntime-node on a torchvision model (random weights),
# 224x224, the same thread count, median of 5 runs each, the runs alternating. Needs a build in
# build/ (tools/test.sh or cmake).
#   bench/eval_throughput.sh [THREADS]   (default: all cores; env NNCOMPRESS: the binary, build/nncompress)
# MODEL=mobilenet_v2 (default resnet18; or the path of a one-input .onnx, e.g. models/vit-fmnist.onnx)
# and BATCH=1 (default 32) choose the row; SAMPLES (default 48) how many samples our eval reads (at
# least 6 batches): fast models need more for a steady state (vit-fmnist at batch 1: 48 samples are 0.06 s).
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${1:-$(nproc)}
model_name=${MODEL:-resnet18}
batch=${BATCH:-32}
source bench/eval_model.sh
work=build/bench/eval_throughput/$model_name-b$batch
mkdir -p "$work"
"${NNCOMPRESS:-./build/nncompress}" --quiet inspect --json "$model" >"$work/inspect.json"
input_name=$(/usr/bin/python3 bench/eval_inputs.py "$work/inspect.json" "$work" "$batch" "${SAMPLES:-48}")
# Runs alternate between the two runtimes so that load from elsewhere on the host (this is a VM)
# hits both alike. Ours: eval --json's steady_samples_per_second (the first batch, which creates
# oneDNN's primitives, left out); ONNX Runtime: the median of 20 batches after a warm-up run.
ours=() ort=()
for i in 1 2 3 4 5; do
  ours+=("$("${NNCOMPRESS:-./build/nncompress}" --quiet --threads "$threads" eval "$model" --data "$work/batches.npz" --batch "$batch" --json |
    /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["steady_samples_per_second"])')")
  ort+=("$(node tools/ort/run.js "$model" "$work/ort_out" --threads "$threads" --repeat 20 "$input_name=$work/batch.npy" |
    /usr/bin/python3 -c "import json,sys; print($batch * 1000 / json.load(sys.stdin)['median_ms'])")")
done
/usr/bin/python3 - "$model_name" "$batch" "$threads" "${ours[*]}" "${ort[*]}" <<'PY'
import statistics, sys
name, batch, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
ours, ort = ([float(v) for v in a.split()] for a in sys.argv[4:6])
a, b = statistics.median(ours), statistics.median(ort)
runs = lambda v: ", ".join(f"{x:.1f}" for x in v)
print(f"{name} batch {batch}, {threads} threads, median of 5 alternating runs: nncompress {a:.1f} samples/s ({runs(ours)}), "
      f"onnxruntime-node {b:.1f} samples/s ({runs(ort)}), ratio {a / b:.2f}")
PY
