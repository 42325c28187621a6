#!/usr/bin/env bash
# Issue 6's int8 acceptance on a Fashion-MNIST model: post-training int8 with 1,000 calibration
# images from the training set, top-1 on the 10,000 test images before and after (nncompress),
# onnxruntime-node's top-1 and its agreement with nncompress on the int8 model, file sizes, and
# onnxruntime-node latency (median of 20 runs) of both models at batch 32 and 1.
#   bench/int8_ptq.sh [MODEL [CALIBRATION [THREADS]]]   (default: models/resnet20-fmnist.onnx, entropy, all cores)
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-models/resnet20-fmnist.onnx}
method=${2:-entropy}
threads=${3:-$(nproc)}
name=$(basename "$model" .onnx)
work=build/bench/int8/$name
mkdir -p "$work"
train=/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
./build/nncompress --quiet quantize "$model" -o "$work/int8.onnx" --calib "$train" --calib-limit 1000 \
  --calibration "$method" --data models/data/fmnist-test.npz --json >"$work/quantize.json"
/usr/bin/python3 - "$work" "$model" "$threads" <<'PY'
import json, os, subprocess, sys
import numpy as np
work, model, threads = sys.argv[1], sys.argv[2], sys.argv[3]
q = json.load(open(f"{work}/quantize.json"))
d = np.load("models/data/fmnist-test.npz")
x = (d["x"][:, None] / 255.0).astype(np.float32)
np.save(f"{work}/x.npy", x)
subprocess.run(["./build/nncompress", "--quiet", "run", f"{work}/int8.onnx", "-i", f"{work}/x.npy", "-o", f"{work}/ours"], check=True)
subprocess.run(["node", "tools/ort/run.js", f"{work}/int8.onnx", f"{work}/ort", f"input={work}/x.npy"], check=True, capture_output=True)
ours = np.load(os.path.join(f"{work}/ours", os.listdir(f"{work}/ours")[0]))
ort = np.load(os.path.join(f"{work}/ort", os.listdir(f"{work}/ort")[0]))
agree = (ours.argmax(1) == ort.argmax(1)).mean()
print(f"{os.path.basename(model)}: top-1 {100 * q['top1_before']:.2f}% -> {100 * q['top1_after']:.2f}% "
      f"({100 * (q['top1_before'] - q['top1_after']):.2f} pp), onnxruntime top-1 {100 * (ort.argmax(1) == d['y']).mean():.2f}%, "
      f"agreement {100 * agree:.2f}%")
print(f"file {os.path.getsize(model):,} B -> {q['file_bytes']:,} B ({os.path.getsize(model) / q['file_bytes']:.2f}x smaller); "
      f"{q['folded_batchnorms']} BatchNorms folded, {q['removed_relus']} Relus and {q.get('removed_clips', 0)} Clips absorbed")
for batch in (32, 1):
    np.save(f"{work}/x{batch}.npy", x[:batch])
    ms = []
    for m in (model, f"{work}/int8.onnx"):
        r = subprocess.run(["node", "tools/ort/run.js", m, f"{work}/lat", "--threads", threads, "--repeat", "20",
                            f"input={work}/x{batch}.npy"], check=True, capture_output=True, text=True)
        ms.append(json.loads(r.stdout)["median_ms"])
    print(f"onnxruntime latency batch {batch}: float {ms[0]:.2f} ms, int8 {ms[1]:.2f} ms ({ms[0] / ms[1]:.2f}x)")
PY
