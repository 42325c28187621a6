#!/usr/bin/env bash
# Sets up, builds, and runs the main job on the shipped default model and data: inspect and
# evaluate LeNet-5 on its MNIST test split, then prune it to half its MACs (channels removed for
# real) and report size and accuracy before/after. (The `compress` pipeline will take this place.)
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/build.sh
mkdir -p out
./build/nncompress inspect models/lenet5-mnist.onnx
./build/nncompress eval models/lenet5-mnist.onnx --data models/data/mnist-test.npz
./build/nncompress prune models/lenet5-mnist.onnx -o out/lenet5-mnist-pruned.onnx --target-macs 0.5 \
  --prune-first-conv --data models/data/mnist-test.npz
