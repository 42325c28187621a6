#!/usr/bin/env bash
# Issue 6's LeNet-5 pipeline: AutoPrune to 98.2% weight sparsity (20 epochs, distillation from the
# dense model, seed 1), then focused quantization to 5 bits (one shot). Prints top-1 of the dense,
# pruned and quantized models on the MNIST test split, the encoded size against the dense float32
# bytes, and onnxruntime-node's top-1 agreement with nncompress on the final model.
#   bench/lenet5_autoprune_focused.sh      (reuses build/bench/autoprune/autoprune-0.982-1.onnx when present)
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f build/data/mnist-train.npz ] || /usr/bin/python3 tools/models/make_datasets.py --train-only --build-dir build
work=build/bench/autoprune
mkdir -p "$work"
pruned=$work/autoprune-0.982-1.onnx
if [ ! -f "$pruned" ]; then
  ./build/nncompress --quiet --threads "${THREADS:-1}" prune models/lenet5-mnist.onnx -o "$pruned" --method autoprune \
    --sparsity 0.982 --data build/data/mnist-train.npz --val models/data/mnist-test.npz --epochs 20 --lr 0.02 --batch 64 \
    --distill --seed 1 --json >"$work/autoprune-0.982-1.json"
fi
./build/nncompress --quiet quantize "$pruned" -o "$work/focused5.onnx" --method focused --bits 5 \
  --data models/data/mnist-test.npz --json >"$work/focused5.json"
/usr/bin/python3 - "$work" <<'PY'
import json, os, subprocess, sys
import numpy as np
work = sys.argv[1]
q = json.load(open(f"{work}/focused5.json"))
dense = json.loads(subprocess.run(["./build/nncompress", "--quiet", "eval", "models/lenet5-mnist.onnx", "--data",
                                   "models/data/mnist-test.npz", "--json"], capture_output=True, text=True, check=True).stdout)
params = json.loads(subprocess.run(["./build/nncompress", "inspect", "--json", "models/lenet5-mnist.onnx"],
                                   capture_output=True, text=True, check=True).stdout)["params"]
d = np.load("models/data/mnist-test.npz")
np.save(f"{work}/x.npy", (d["x"][:, None] / 255.0).astype(np.float32))
subprocess.run(["./build/nncompress", "--quiet", "run", f"{work}/focused5.onnx", "-i", f"{work}/x.npy", "-o", f"{work}/ours"], check=True)
subprocess.run(["node", "tools/ort/run.js", f"{work}/focused5.onnx", f"{work}/ort", f"input={work}/x.npy"], check=True, capture_output=True)
a, b = np.load(f"{work}/ours/logits.npy"), np.load(f"{work}/ort/logits.npy")
enc = q["model_encoded_bytes"]
print(f"dense top-1 {100 * dense['top1']:.2f}%, pruned {100 * q['top1_before']:.2f}%, 5-bit focused {100 * q['top1_after']:.2f}% "
      f"({100 * (dense['top1'] - q['top1_after']):.2f} pp below dense)")
print(f"encoded {enc:,} B (weights Huffman {q['weights_huffman_bytes']:,} + other {q['other_parameter_bytes']:,}) vs dense "
      f"{4 * params:,} B: {4 * params / enc:.1f}x smaller; fixed-width weights {q['weights_encoded_bytes']:,} B")
print(f"onnxruntime-node top-1 agreement {100 * (a.argmax(1) == b.argmax(1)).mean():.2f}%, max logit diff {np.abs(a - b).max():.2e}")
PY
