#!/usr/bin/env bash
# Issue 18's torchvision check in full: vit_b_16 and swin_t (random weights) at opsets 14 and 17
# run in nncompress with ONNX Runtime's outputs, and their int8 (static, dynamic) and 4-bit
# weight-only models run in ONNX Runtime. CI runs swin_t at opset 17 only (ctest
# cli_torchvision_transformers). Needs a build; exports to build/testmodels/opset{14,17}.
#   bench/torchvision_transformers.sh
set -euo pipefail
cd "$(dirname "$0")/.."
NNCOMPRESS_ALL_TRANSFORMERS=1 /usr/bin/python3 -m pytest -v -p no:cacheprovider tests/integration/test_torchvision_transformers.py \
  --nncompress build/nncompress --models build/testmodels
