#!/usr/bin/env bash
# Issue 17's speed check on models nobody on the team made: PaddleOCR's cls, det and rec
# (paddle2onnx; tools/setup.sh fetches them) quantized to int8 and pruned to half the MACs with
# --input-shape, then timed in onnxruntime-node at batch 1: float, int8 and pruned alternate for
# ROUNDS rounds of 20 runs each; the median of the rounds' medians is printed with the ratio.
# Calibration and timing inputs are rendered text pages (tests/integration/test_user_models.py).
#   bench/user_models_ort.sh [THREADS [ROUNDS]]   (default: 1 thread, 5 rounds)
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${1:-1}
rounds=${2:-5}
work=build/bench/user_models
mkdir -p "$work"
/usr/bin/python3 - "$work" "$threads" "$rounds" <<'PY'
import json, os, statistics, subprocess, sys
sys.path.insert(0, "tests/integration")
from test_user_models import OCR, images

work, threads, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
models = {"cls": ("ch_ppocr_mobile_v2.0_cls_infer.onnx", (1, 3, 48, 192)),
          "rec": ("ch_PP-OCRv4_rec_infer.onnx", (1, 3, 48, 320)),
          "det": ("ch_PP-OCRv4_det_infer.onnx", (1, 3, 640, 640))}
for name, (file, shape) in models.items():
    src = os.path.join(OCR, file)
    det = name == "det"
    calib = images(f"{work}/{name}_calib.npy", (8 if det else 16,) + shape[1:], seed=1, det=det)
    x = images(f"{work}/{name}_x.npy", shape, seed=2, det=det)
    spec = "x=" + ",".join(map(str, shape))
    nnc = ["./build/nncompress", "--quiet"]
    subprocess.run(nnc + ["quantize", src, "-o", f"{work}/{name}_int8.onnx", "--calib", calib, "--input-shape", spec],
                   check=True, capture_output=True)
    subprocess.run(nnc + ["prune", src, "-o", f"{work}/{name}_pruned.onnx", "--target-macs", "0.5", "--input-shape", spec],
                   check=True, capture_output=True)
    variants = {"float": src, "int8": f"{work}/{name}_int8.onnx", "pruned": f"{work}/{name}_pruned.onnx"}
    medians = {k: [] for k in variants}
    for _ in range(rounds):
        for k, m in variants.items():
            r = subprocess.run(["node", "tools/ort/run.js", m, f"{work}/out", "--threads", threads, "--repeat", "20",
                                f"x={x}"], check=True, capture_output=True, text=True)
            medians[k].append(json.loads(r.stdout)["median_ms"])
    ms = {k: statistics.median(v) for k, v in medians.items()}
    print(f"{name} {list(shape)}, {threads} thread(s): float {ms['float']:.2f} ms, int8 {ms['int8']:.2f} ms "
          f"({ms['float'] / ms['int8']:.2f}x), pruned to 0.5 MACs {ms['pruned']:.2f} ms ({ms['float'] / ms['pruned']:.2f}x)")
PY
