#!/usr/bin/env bash
# Latency of two models in onnxruntime-node, measured in alternation: PAIRS times (default 5)
# model A then model B, each the median of 200 runs; prints every median, the median of each
# model's, and the median of the A/B ratios (the speed-up of B). Alternating keeps the drift of a
# shared machine out of the ratio.
#   bench/latency_pairs.sh A.onnx B.onnx [BATCH [THREADS [PAIRS]]]   (default batch 1, 1 thread)
set -euo pipefail
cd "$(dirname "$0")/.."
a=$1 b=$2 batch=${3:-1} threads=${4:-1} pairs=${5:-5}
work=build/bench/latency_pairs
mkdir -p "$work"
./build/nncompress inspect --json "$a" >"$work/inspect.json"
feeds=$(/usr/bin/python3 bench/ort_feeds.py "$work/inspect.json" "$batch" "$work")
for _ in $(seq "$pairs"); do
  for m in "$a" "$b"; do
    # shellcheck disable=SC2086  # the feeds are NAME=FILE words without spaces
    node tools/ort/run.js "$m" "$work/out" --threads "$threads" --repeat 200 $feeds |
      /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["median_ms"])'
  done
done | /usr/bin/python3 bench/pair_stats.py ms "batch $batch, $threads threads"
