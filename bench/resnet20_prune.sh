#!/usr/bin/env bash
# Issue 5's ResNet-20 acceptance: channel pruning to keep <= 50% of the MACs, fine-tuning on the
# Fashion-MNIST training set, top-1 on the test split before and after, and onnxruntime-node
# latency of the original and pruned models (batch 32 and 1, bench/prune_speed.sh; criterion l1).
#   bench/resnet20_prune.sh [CRITERION [EPOCHS]]   (default: l1, 8; env ROUND_TO, default 1)
# Latency below is for --round-to 1; odd channel counts are slower in ONNX Runtime (see
# docs/benchmarks.md: --round-to 8 is what makes the pruned model faster).
set -euo pipefail
cd "$(dirname "$0")/.."
criterion=${1:-l1}
epochs=${2:-8}
work=build/bench/resnet20_prune
mkdir -p "$work"
train=/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
./build/nncompress --quiet prune models/resnet20-fmnist.onnx -o "$work/pruned-$criterion.onnx" --method channels \
  --criterion "$criterion" --target-macs 0.5 --round-to "${ROUND_TO:-1}" --data "$train" --val models/data/fmnist-test.npz --epochs "$epochs" \
  --lr 0.02 --batch 128 --seed 1 --json >"$work/prune-$criterion.json"
/usr/bin/python3 - "$work/prune-$criterion.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
print(f"MACs {j['macs_before']:,} -> {j['macs_after']:,} ({j['macs_after'] / j['macs_before']:.3f}), "
      f"params {j['params_before']:,} -> {j['params_after']:,}, "
      f"top-1 {100 * j['top1_before']:.2f}% -> {100 * j['top1_after']:.2f}% ({100 * (j['top1_before'] - j['top1_after']):.2f} pp)")
PY
# Latency depends on the architecture only: prune_speed.sh prunes the same way (l1) without training.
[ "$criterion" = l1 ] && bench/prune_speed.sh models/resnet20-fmnist.onnx 0.5 "${THREADS:-$(nproc)}"
