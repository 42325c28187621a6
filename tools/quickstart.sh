#!/usr/bin/env bash
# Sets up, builds, and runs the main job on the shipped default model and data: inspect LeNet-5,
# evaluate it on its MNIST test split, then `compress` it with the default recipe (channel pruning
# to half the MACs with 3 epochs of fine-tuning on the MNIST training split, then int8 Q/DQ) under
# a quality gate of at most 1 pp top-1 loss. The model and its report (JSON, Markdown, HTML) land in out/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/build.sh
/usr/bin/python3 tools/models/make_datasets.py --train-only --build-dir build
mkdir -p out
./build/nncompress inspect models/lenet5-mnist.onnx
./build/nncompress eval models/lenet5-mnist.onnx --data models/data/mnist-test.npz
./build/nncompress compress models/lenet5-mnist.onnx -o out/lenet5-mnist-compressed.onnx \
  --data build/data/mnist-train.npz --val models/data/mnist-test.npz \
  --report out/lenet5-mnist-report.json --max-accuracy-drop 1
