#!/usr/bin/env bash
# Issue 6's mixed-precision acceptance: weights at an average of B bits, allocated per layer by
# measured sensitivity (exact knapsack), against uniform B-bit weights on the same path, both
# post-training (no fine-tuning), on a Fashion-MNIST model. Sensitivity on the first CALIB
# training images; top-1 on the 10,000 test images; encoded bytes (codes + float32 scales),
# their Huffman-coded size, the file size, and onnxruntime-node's top-1 agreement with
# nncompress on each output model.
#   bench/mixed_precision.sh [MODEL [CALIB [BITS...]]]   (default: models/resnet20-fmnist.onnx, 1000, 3 4)
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-models/resnet20-fmnist.onnx}
calib=${2:-1000}
shift $(($# < 2 ? $# : 2))
widths=("$@")
[ ${#widths[@]} -eq 0 ] && widths=(3 4)
name=$(basename "$model" .onnx)
work=build/bench/mixed/$name
mkdir -p "$work"
train=/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
test=models/data/fmnist-test.npz
for bits in "${widths[@]}"; do
  ./build/nncompress --quiet quantize "$model" -o "$work/uniform$bits.onnx" --method mixed --min-bits "$bits" \
    --max-bits "$bits" --calib "$train" --calib-limit "$calib" --data "$test" --json >"$work/uniform$bits.json"
  ./build/nncompress --quiet quantize "$model" -o "$work/mixed$bits.onnx" --method mixed --avg-bits "$bits" \
    --calib "$train" --calib-limit "$calib" --data "$test" --json >"$work/mixed$bits.json"
done
/usr/bin/python3 - "$work" "$model" "${widths[@]}" <<'PY'
import json, os, subprocess, sys
import numpy as np
work, model, widths = sys.argv[1], sys.argv[2], sys.argv[3:]
d = np.load("models/data/fmnist-test.npz")
np.save(f"{work}/x.npy", (d["x"][:, None] / 255.0).astype(np.float32))

def agreement(path):
    subprocess.run(["./build/nncompress", "--quiet", "run", path, "-i", f"{work}/x.npy", "-o", f"{work}/ours"], check=True)
    subprocess.run(["node", "tools/ort/run.js", path, f"{work}/ort", f"input={work}/x.npy"], check=True, capture_output=True)
    ours = np.load(os.path.join(f"{work}/ours", os.listdir(f"{work}/ours")[0]))
    ort = np.load(os.path.join(f"{work}/ort", os.listdir(f"{work}/ort")[0]))
    return (ours.argmax(1) == ort.argmax(1)).mean()

print(f"{os.path.basename(model)}: float top-1 {100 * json.load(open(f'{work}/uniform{widths[0]}.json'))['top1_before']:.2f}%, "
      f"file {os.path.getsize(model):,} B")
print("| weights | avg bits | bits per layer | top-1 | encoded B | Huffman B | file B | ORT agreement |")
print("|---|---:|---|---:|---:|---:|---:|---:|")
for bits in widths:
    for kind in ("uniform", "mixed"):
        q = json.load(open(f"{work}/{kind}{bits}.json"))
        per_layer = " ".join(str(l["bits"]) for l in q["layers"])
        print(f"| {kind} {bits} | {q['average_bits']:.3f} | {per_layer} | {100 * q['top1_after']:.2f}% | "
              f"{q['weights_encoded_bytes']:,} | {q['weights_huffman_bytes']:,} | {q['file_bytes']:,} | "
              f"{100 * agreement(f'{work}/{kind}{bits}.onnx'):.2f}% |")
PY
