#!/usr/bin/env bash
# Issue 7's acceptance run: `compress` with the default recipe (prune.channels to half the MACs +
# 3 epochs of fine-tuning, then int8) on ResNet-20 / Fashion-MNIST, timed, then the report's
# numbers checked against `inspect`, `eval` and onnxruntime-node on the output model.
#   bench/compress_resnet20.sh [TRAIN-LIMIT]   (default 20000 training images; 0 = all 60,000)
# NPROC=2 runs it as 2 data-parallel ranks (docs/distributed.md), in build/bench/compress-resnet20-nproc2.
set -euo pipefail
cd "$(dirname "$0")/.."
limit=${1:-20000}
work=build/bench/compress-resnet20${NPROC:+-nproc$NPROC}
mkdir -p "$work"
ranks=()
[ -n "${NPROC:-}" ] && ranks=(--nproc "$NPROC")
train=/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
test=models/data/fmnist-test.npz
SECONDS=0
code=0
./build/nncompress --quiet "${ranks[@]}" compress models/resnet20-fmnist.onnx -o "$work/out.onnx" --data "$train" --limit "$limit" \
  --val "$test" --seed 1 --report "$work/report.json" >"$work/summary.md" || code=$?
echo "compress exit $code in $SECONDS s (limit $limit${NPROC:+, $NPROC ranks})"
./build/nncompress --quiet inspect --json "$work/out.onnx" >"$work/inspect.json"
./build/nncompress --quiet eval "$work/out.onnx" --data "$test" --json >"$work/eval.json"
/usr/bin/python3 - "$work" <<'PY'
import json, subprocess, sys
import numpy as np
work = sys.argv[1]
r, ins, ev = (json.load(open(f"{work}/{n}.json")) for n in ("report", "inspect", "eval"))
d = np.load("models/data/fmnist-test.npz")
np.save(f"{work}/x.npy", (d["x"][:, None] / 255.0).astype(np.float32))
subprocess.run(["node", "tools/ort/run.js", f"{work}/out.onnx", f"{work}/ort", f"input={work}/x.npy"], check=True, capture_output=True)
ort = float((np.load(f"{work}/ort/logits.npy").argmax(1) == d["y"]).mean())
a = r["after"]
print(f"top-1 {100 * r['accuracy']['top1_before']:.2f}% -> {100 * r['accuracy']['top1_after']:.2f}% "
      f"(eval {100 * ev['top1']:.2f}%, onnxruntime {100 * ort:.2f}%); MACs {r['before']['macs']:,} -> {a['macs']:,} "
      f"(inspect {ins['macs']:,}); params {a['params']:,} (inspect {ins['params']:,}); "
      f"file {r['sizes']['input_file_bytes']:,} -> {r['sizes']['output_file_bytes']:,} B ({r['sizes']['size_ratio']:.2f}x)")
print("steps: " + ", ".join(f"{s['pass']} {s['seconds']:.0f} s" for s in r["steps"]))
ok = abs(r["accuracy"]["top1_after"] - ev["top1"]) < 1e-9 and a["macs"] == ins["macs"] and a["params"] == ins["params"] \
    and abs(ort - ev["top1"]) <= 0.001
print("report matches inspect, eval and onnxruntime (within 0.1 pp):", ok)
PY
