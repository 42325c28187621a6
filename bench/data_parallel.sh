#!/usr/bin/env bash
# Data-parallel fine-tuning of ResNet-20 on Fashion-MNIST (1 epoch, global batch 64), alternating
# in each round: one process on 2 threads, one on 1 thread, and 2 local ranks x 1 thread with
# SyncBatchNorm (the default) and with each rank's own BatchNorm statistics. Prints the median
# samples/s of each, the all-reduce traffic per step, and the accuracy of each run's model.
#   bench/data_parallel.sh [SAMPLES] [ROUNDS]   (default 8192 training images, 5 rounds)
set -euo pipefail
cd "$(dirname "$0")/.."
samples=${1:-8192}
rounds=${2:-5}
bin=${NNCOMPRESS:-./build/nncompress}
work=build/bench/data-parallel
mkdir -p "$work"
train=/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
val=models/data/fmnist-test.npz
common=(finetune models/resnet20-fmnist.onnx --data "$train" --limit "$samples" --val "$val" --seed 1 --json)
: >"$work/runs.jsonl"
for round in $(seq "$rounds"); do
  for setup in one-2threads one-1thread two-sync two-local; do
    case $setup in
      one-2threads) args=(--threads 2 "${common[@]}" --batch 64) ;;
      one-1thread) args=(--threads 1 "${common[@]}" --batch 64) ;;
      two-sync) args=(--nproc 2 "${common[@]}" --batch 32) ;;
      two-local) args=(--nproc 2 --dist-batchnorm local "${common[@]}" --batch 32) ;;
    esac
    "$bin" --quiet "${args[@]}" -o "$work/$setup.onnx" |
      /usr/bin/python3 -c 'import json,sys; j=json.load(sys.stdin); j["setup"]=sys.argv[1]; print(json.dumps(j))' "$setup" \
        >>"$work/runs.jsonl"
  done
  echo "round $round of $rounds done" >&2
done
/usr/bin/python3 - "$work/runs.jsonl" "$samples" <<'PY'
import json, statistics, sys
runs = [json.loads(line) for line in open(sys.argv[1])]
samples = int(sys.argv[2])
steps = samples // 64
by = {}
for r in runs:
    by.setdefault(r["setup"], []).append(r)
base = statistics.median(r["samples_per_second"] for r in by["one-2threads"])
print(f"ResNet-20, {samples} samples, global batch 64 ({steps} steps), median of {len(by['one-2threads'])} alternating rounds")
print("| setup | samples/s | vs 1 process x 2 threads | val top-1 | all-reduces per step | bytes per step | all-reduce ms per step |")
print("|---|---:|---:|---:|---:|---:|---:|")
for name, label in [("one-2threads", "1 process x 2 threads, batch 64"), ("one-1thread", "1 process x 1 thread, batch 64"),
                    ("two-sync", "2 ranks x 1 thread, batch 32 each, SyncBatchNorm"),
                    ("two-local", "2 ranks x 1 thread, batch 32 each, local BatchNorm")]:
    rs = by[name]
    sps = statistics.median(r["samples_per_second"] for r in rs)
    top1 = statistics.median(r["best_val_top1"] for r in rs)
    dp = rs[0]["data_parallel"]
    per_step = lambda key: statistics.median(r["data_parallel"][key] for r in rs) / steps
    comm = (f"{per_step('exchanges'):.0f} | {per_step('exchanged_bytes'):,.0f} | {1000 * per_step('exchange_seconds'):.1f}"
            if dp["ranks"] > 1 else "— | — | —")
    print(f"| {label} | {sps:.0f} | {sps / base:.2f}x | {100 * top1:.2f}% | {comm} |")
PY
