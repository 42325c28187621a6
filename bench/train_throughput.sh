#!/usr/bin/env bash
# Training throughput (samples/s) of ResNet-20 (or $ARCH) on Fashion-MNIST, batch 128: nncompress finetune
# vs Debian's python3-torch doing the same SGD step (forward, cross-entropy, backward, update) on
# the same data with the same threads. Median of 3 runs of 20 batches each.
#   bench/train_throughput.sh [THREADS]   (default: all cores; env NNCOMPRESS: the binary, build/nncompress)
# ARCH=mobilenetv2 measures MobileNetV2 (width 0.5) instead.
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${1:-$(nproc)}
arch=${ARCH:-resnet20}
/usr/bin/python3 tools/models/export_architectures.py --out build/archs "$arch" 2>/dev/null
data=/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
ours=()
for i in 1 2 3; do
  ours+=("$("${NNCOMPRESS:-./build/nncompress}" --quiet --threads "$threads" finetune "build/archs/$arch.onnx" --data "$data" --limit 2560 \
    --epochs 1 --batch 128 --lr 0.1 -o build/bench-train.onnx --json |
    /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["samples_per_second"])')")
done
/usr/bin/python3 - "$threads" "$arch" "${ours[@]}" <<'PY'
import gzip, statistics, struct, sys, time
import numpy as np, torch
sys.path.insert(0, "tools/models")
from export_architectures import ARCHS
threads, arch, ours = int(sys.argv[1]), sys.argv[2], [float(v) for v in sys.argv[3:]]
torch.set_num_threads(threads)
raw = gzip.open("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz").read()
x = torch.from_numpy(np.frombuffer(raw, np.uint8, offset=16)[:2560 * 784].reshape(-1, 1, 28, 28).astype(np.float32) / 255)
y = torch.from_numpy(np.frombuffer(gzip.open("/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz").read(), np.uint8,
                                   offset=8)[:2560].astype(np.int64))
runs = []
for _ in range(3):
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
    runs.append(2560 / (time.time() - t0))
theirs, mine = statistics.median(runs), statistics.median(ours)
print(f"{arch} training, batch 128, {threads} threads: nncompress {mine:.1f} samples/s (runs: "
      f"{', '.join(f'{v:.1f}' for v in ours)}), python3-torch {theirs:.1f} samples/s (runs: "
      f"{', '.join(f'{v:.1f}' for v in runs)}), ratio {mine / theirs:.2f}")
PY
