#!/usr/bin/env bash
# `quantize --ort-latency` on PaddleOCR's cls and det (as bench/user_models_ort.sh quantizes them),
# REPEATS times each: the speedup of the int8 model over the float one as the flag measures it
# (ONNX Runtime's C library from onnxruntime-node, 1 thread, RUNS alternated runs per call), to set
# beside bench/user_models_ort.sh's numbers from node.
#   bench/ort_latency_flag.sh [REPEATS [RUNS]]   (default: 3 calls, 100 runs)
set -euo pipefail
cd "$(dirname "$0")/.."
repeats=${1:-3}
runs=${2:-100}
work=build/bench/ort_latency_flag
mkdir -p "$work"
/usr/bin/python3 - "$work" "$repeats" "$runs" <<'PY'
import json, os, statistics, subprocess, sys
sys.path.insert(0, "tests/integration")
from test_ort_latency import LIBRARY as lib
from test_user_models import OCR, images

work, repeats, runs = sys.argv[1], int(sys.argv[2]), sys.argv[3]
models = {"cls": ("ch_ppocr_mobile_v2.0_cls_infer.onnx", (1, 3, 48, 192)),
          "det": ("ch_PP-OCRv4_det_infer.onnx", (1, 3, 640, 640))}
for name, (file, shape) in models.items():
    det = name == "det"
    calib = images(f"{work}/{name}_calib.npy", (8 if det else 16,) + shape[1:], seed=1, det=det)
    spec = "x=" + ",".join(map(str, shape))
    rows = []
    for _ in range(repeats):
        r = subprocess.run(["./build/nncompress", "--quiet", "--threads", "1", "quantize", os.path.join(OCR, file), "-o",
                            f"{work}/{name}_int8.onnx", "--calib", calib, "--input-shape", spec, "--ort-library", lib,
                            "--ort-runs", runs, "--json"], check=True, capture_output=True, text=True)
        rows.append(json.loads(r.stdout)["onnxruntime_latency"])
    print(f"{name}: float {statistics.median(r['before_ms'] for r in rows):.3f} ms, int8 "
          f"{statistics.median(r['after_ms'] for r in rows):.3f} ms, speedups "
          + ", ".join(f"{r['speedup']:.2f}x" for r in rows) + f" (ONNX Runtime {rows[0]['version']})")
PY
