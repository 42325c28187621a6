#!/usr/bin/env bash
# The reference detector compressed (issue 20): int8 alone, then channels pruned to half the MACs,
# fine-tuned by YOLOv8's loss, and int8 after it; the mAP of each in nncompress and in
# onnxruntime-node (bench/detector_map.py), and batch-1 latency against the float model in
# onnxruntime-node (bench/latency_pairs.sh, 1 thread).
#   [LIMIT=N] [ROUND_TO=K] bench/detector.sh [FINETUNE_EPOCHS (default 10)] [EPOCH_SAMPLES (default 8000)]
# LIMIT: the mAPs on the first N test canvases (the numpy reference takes minutes on all 1,000).
# ROUND_TO: pruned channel counts are multiples of K (default 8): ONNX Runtime's blocked
# convolutions need multiples of its block (16 with AVX-512), and without them the pruned float
# model ran slower than the original (docs/benchmarks.md, "The reference detector").
# Needs build/data/detect-train.npz (tools/models/make_detection_dataset.py).
set -euo pipefail
cd "$(dirname "$0")/.."
epochs=${1:-10} samples=${2:-8000}
nnc=./build/nncompress
work=build/bench/detector
mkdir -p "$work"
model=models/yolo-detect.onnx train=build/data/detect-train.npz test=models/data/detect-test.npz
[ -f "$train" ] || /usr/bin/python3 tools/models/make_detection_dataset.py
# Percentile ranges (99.99th): with min-max ranges the pruned, fine-tuned model lost 2.9 points in
# int8, and no set of float layers fixed it (the outliers are in its activations).
"$nnc" --quiet quantize "$model" --method int8 --calibration percentile --calib "$train" -o "$work/int8.onnx" --json >"$work/int8.json"
# Pruned without fine-tuning, then fine-tuned as the detector was trained (Adam, one-cycle), with
# weight decay (without it: -1.47 points pruned, -1.90 after int8; with it -1.06 and -1.38):
# `prune` fine-tunes with SGD only; its --data here only measures mAP before and after.
"$nnc" prune "$model" --method channels --target-macs 0.5 --round-to "${ROUND_TO:-8}" --data "$train" --limit 512 \
  -o "$work/pruned-raw.onnx" --json >"$work/pruned.json"
"$nnc" finetune "$work/pruned-raw.onnx" --data "$train" --val "$test" --epochs "$epochs" --epoch-samples "$samples" \
  --batch 32 --optimizer adam --lr 1e-3 --schedule onecycle --weight-decay 5e-4 --seed 1 -o "$work/pruned.onnx" \
  --json >"$work/pruned-finetune.json"
"$nnc" --quiet quantize "$work/pruned.onnx" --method int8 --calibration percentile --calib "$train" -o "$work/pruned-int8.onnx" --json >"$work/pruned-int8.json"
for m in "$model" "$work/int8.onnx" "$work/pruned.onnx" "$work/pruned-int8.onnx"; do
  /usr/bin/python3 bench/detector_map.py "$m" "$test" "${LIMIT:-0}"
done
echo "int8 alone:"
bench/latency_pairs.sh "$model" "$work/int8.onnx" 1 1 5
echo "pruned to half the MACs, fine-tuned, int8:"
bench/latency_pairs.sh "$model" "$work/pruned-int8.onnx" 1 1 5
