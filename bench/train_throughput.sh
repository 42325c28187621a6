#!/usr/bin/env bash
# Training throughput (samples/s) of ResNet-20 (or $ARCH) on Fashion-MNIST, batch 128: nncompress finetune
# vs Debian's python3-torch doing the same SGD step (forward, cross-entropy, backward, update) on
# the same data with the same threads. RUNS (default 5) alternating pairs of 20 batches each; medians.
#   bench/train_throughput.sh [THREADS]   (default: all cores; env NNCOMPRESS: the binary, build/nncompress)
# ARCH=mobilenetv2 measures MobileNetV2 (width 0.5) instead.
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${1:-$(nproc)}
arch=${ARCH:-resnet20}
runs=${RUNS:-5}
/usr/bin/python3 tools/models/export_architectures.py --out build/archs "$arch" 2>/dev/null
data=/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz

ours_once() {
  "${NNCOMPRESS:-./build/nncompress}" --quiet --threads "$threads" finetune "build/archs/$arch.onnx" --data "$data" --limit 2560 \
    --epochs 1 --batch 128 --lr 0.1 -o build/bench-train.onnx --json |
    /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["samples_per_second"])'
}

theirs_once() {
  /usr/bin/python3 - "$threads" "$arch" <<'PY'
import gzip, sys, time
import numpy as np, torch
sys.path.insert(0, "tools/models")
from export_architectures import ARCHS
threads, arch = int(sys.argv[1]), sys.argv[2]
torch.set_num_threads(threads)
raw = gzip.open("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz").read()
x = torch.from_numpy(np.frombuffer(raw, np.uint8, offset=16)[:2560 * 784].reshape(-1, 1, 28, 28).astype(np.float32) / 255)
y = torch.from_numpy(np.frombuffer(gzip.open("/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz").read(), np.uint8,
                                   offset=8)[:2560].astype(np.int64))
torch.manual_seed(0)
model = ARCHS[arch]().train()
opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
perm = torch.randperm(len(x))
t0 = time.time()
for b in range(20):
    idx = perm[b * 128:(b + 1) * 128]
    opt.zero_grad()
    loss = torch.nn.functional.cross_entropy(model(x[idx]), y[idx])
    loss.backward()
    opt.step()
print(2560 / (time.time() - t0))
PY
}

ours=() theirs=()
for _ in $(seq "$runs"); do
  ours+=("$(ours_once)")
  theirs+=("$(theirs_once)")
done
/usr/bin/python3 - "$arch" "$threads" "${ours[*]}" "${theirs[*]}" <<'PY'
import statistics, sys
arch, threads = sys.argv[1], sys.argv[2]
ours, theirs = ([float(v) for v in s.split()] for s in sys.argv[3:5])
mine, other = statistics.median(ours), statistics.median(theirs)
fmt = lambda runs: ", ".join(f"{v:.1f}" for v in runs)
print(f"{arch} training, batch 128, {threads} threads: nncompress {mine:.1f} samples/s (runs: {fmt(ours)}), "
      f"python3-torch {other:.1f} samples/s (runs: {fmt(theirs)}), ratio {mine / other:.2f}")
PY
