#!/usr/bin/env bash
# Structured AutoPrune against criterion-based channel pruning on ResNet-20 / Fashion-MNIST with
# the same budget: every method keeps <= 50% of the MACs (channel counts multiples of 8) and
# trains the same epochs on the same images with the same learning rate, batch and seed. The
# criteria prune first and fine-tune all epochs; AutoPrune searches for 2/3 of them and
# fine-tunes under fixed gates for the last third. Test top-1 on the 10k test images.
#   bench/resnet20_channel_methods.sh [METHOD ...]   (default: l1 bn-scale taylor autoprune)
# Env: NNCOMPRESS (build/nncompress), EXTRA (more prune options, e.g. "--search-fraction 0.34"), EPOCHS (3), LIMIT (20000 training images), SEED (1), TARGET (0.5), ROUND_TO (8).
set -euo pipefail
cd "$(dirname "$0")/.."
methods=("$@")
[ ${#methods[@]} -eq 0 ] && methods=(l1 bn-scale taylor autoprune)
epochs=${EPOCHS:-3}
limit=${LIMIT:-20000}
seed=${SEED:-1}
target=${TARGET:-0.5}
nnc=${NNCOMPRESS:-./build/nncompress}
work=build/bench/resnet20_channel_methods
mkdir -p "$work"
train=/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
echo "| method | MACs kept | params kept | top-1 before -> after | seconds |"
echo "|---|---:|---:|---|---:|"
for m in "${methods[@]}"; do
  if [ "$m" = autoprune ]; then how=(--method autoprune --granularity channels)
  else how=(--method channels --criterion "$m"); fi
  start=$(date +%s)
  "$nnc" --quiet prune models/resnet20-fmnist.onnx -o "$work/$m.onnx" "${how[@]}" ${EXTRA:-} --target-macs "$target" \
    --round-to "${ROUND_TO:-8}" --data "$train" --limit "$limit" --val models/data/fmnist-test.npz --epochs "$epochs" \
    --lr 0.02 --batch 128 --seed "$seed" --json >"$work/$m.json"
  /usr/bin/python3 - "$work/$m.json" "$m" $(( $(date +%s) - start )) <<'PY'
import json, sys
j, m, s = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3]
print(f"| {m} | {j['macs_after'] / j['macs_before']:.3f} | {j['params_after'] / j['params_before']:.3f} | "
      f"{100 * j['top1_before']:.2f}% -> {100 * j['top1_after']:.2f}% ({100 * (j['top1_after'] - j['top1_before']):+.2f} pp) | {s} |")
PY
done
