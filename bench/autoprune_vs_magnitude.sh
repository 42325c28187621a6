#!/usr/bin/env bash
# AutoPrune against gradual magnitude pruning (AGP) on LeNet-5 / MNIST with the same fine-tuning
# budget: same epochs, learning rate, batch, seed and distillation from the dense model, at the
# same final sparsity. Prints one row per (sparsity, method) with the test top-1 of each seed and
# their median.
#   bench/autoprune_vs_magnitude.sh [SPARSITY ...]   (default: 0.982 0.99; 0.982 = 51.8x fewer non-zeros)
# Env: EPOCHS (20), SEEDS ("1 2 3"), THREADS (1), METHODS ("autoprune magnitude").
set -euo pipefail
cd "$(dirname "$0")/.."
sparsities=("$@")
[ ${#sparsities[@]} -eq 0 ] && sparsities=(0.982 0.99)
epochs=${EPOCHS:-20}
seeds=${SEEDS:-1 2 3}
threads=${THREADS:-1}
[ -f build/data/mnist-train.npz ] || /usr/bin/python3 tools/models/make_datasets.py --train-only --build-dir build
work=build/bench/autoprune
mkdir -p "$work"
echo "| sparsity | method | non-zeros (fewer) | top-1 per seed | median top-1 |"
echo "|---:|---|---:|---|---:|"
for s in "${sparsities[@]}"; do
  for method in ${METHODS:-autoprune magnitude}; do
    extra=()
    [ "$method" = magnitude ] && extra=(--gradual)
    results=()
    for seed in $seeds; do
      ./build/nncompress --quiet --threads "$threads" prune models/lenet5-mnist.onnx -o "$work/$method-$s-$seed.onnx" \
        --method "$method" "${extra[@]}" --sparsity "$s" --data build/data/mnist-train.npz --val models/data/mnist-test.npz \
        --epochs "$epochs" --lr 0.02 --batch 64 --distill --seed "$seed" --json >"$work/$method-$s-$seed.json"
      results+=("$work/$method-$s-$seed.json")
    done
    /usr/bin/python3 - "$s" "$method" "${results[@]}" <<'PY'
import json, statistics, sys
s, method, files = sys.argv[1], sys.argv[2], sys.argv[3:]
runs = [json.load(open(f)) for f in files]
top1 = [100 * r["top1_after"] for r in runs]
nz = runs[0]["nonzeros_after"]
print(f"| {s} | {method} | {nz:,} ({runs[0]['nonzeros_before'] / nz:.1f}x) | {', '.join(f'{t:.2f}' for t in top1)} | {statistics.median(top1):.2f}% |")
PY
  done
done
