#!/usr/bin/env bash
# Sets up, builds, and runs the main job on the shipped default model and data: inspect and
# evaluate LeNet-5 on its MNIST test split. (The `compress` pipeline will take this place.)
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/build.sh
./build/nncompress inspect models/lenet5-mnist.onnx
./build/nncompress eval models/lenet5-mnist.onnx --data models/data/mnist-test.npz
