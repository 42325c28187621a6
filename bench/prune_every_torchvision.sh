#!/usr/bin/env bash
# Issue 20's pruning check in full: every classification architecture of torchvision 0.14 (random
# weights, opset 13; inception_v3 at 299x299) pruned with --target-macs 0.6 and real removal, the
# result run in ONNX Runtime with the original's output shape and nncompress's outputs. CI runs
# one model per block that needs its own rule (ctest cli_prune_every_torchvision). Needs a build;
# exports to build/testmodels/opset13-{224,299} (the largest, regnet_y_128gf and vit_h_14, take
# ~2.5 GB each in memory). Extra arguments go to pytest (-k to pick models).
#   bench/prune_every_torchvision.sh [-k EXPRESSION]
set -euo pipefail
cd "$(dirname "$0")/.."
NNCOMPRESS_ALL_TORCHVISION=1 /usr/bin/python3 -m pytest -v -p no:cacheprovider tests/integration/test_prune_every_torchvision.py \
  --nncompress build/nncompress --models build/testmodels "$@"
