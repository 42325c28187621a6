#!/usr/bin/env bash
# Steady-state eval throughput of two nncompress binaries on one torchvision model (random
# weights, 224x224), measured in alternation: PAIRS times (default 5) binary A then binary B;
# prints each run, the medians and the median of the per-pair speed-ups of B (bench/pair_stats.py).
# For changes to the executor: build the older commit beside the tree (see bench/compare_builds.sh).
#   bench/eval_builds.sh A_BINARY B_BINARY [BATCH [THREADS [PAIRS]]]   (default batch 1, 1 thread)
# MODEL=mobilenet_v2 (default), resnet18 or the path of a one-input .onnx (e.g. models/vit-fmnist.onnx);
# SAMPLES (default 48) how many samples each eval reads (fast models need more, see eval_throughput.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
a=$1 b=$2 batch=${3:-1} threads=${4:-1} pairs=${5:-5}
model_name=${MODEL:-mobilenet_v2}
source bench/eval_model.sh
work=build/bench/eval_builds/$model_name-b$batch
mkdir -p "$work"
"$a" --quiet inspect --json "$model" >"$work/inspect.json"
/usr/bin/python3 bench/eval_inputs.py "$work/inspect.json" "$work" "$batch" "${SAMPLES:-48}" >/dev/null
for _ in $(seq "$pairs"); do
  for bin in "$a" "$b"; do
    "$bin" --quiet --threads "$threads" eval "$model" --data "$work/batches.npz" --batch "$batch" --json |
      /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["steady_samples_per_second"])'
  done
done | /usr/bin/python3 bench/pair_stats.py samples/s "$model_name batch $batch, $threads threads"
