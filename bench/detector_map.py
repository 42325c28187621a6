#!/usr/bin/python3
"""mAP of a detector in onnxruntime-node and in nncompress on the same canvases (same decoder:
tests/integration/detection_reference.py is an independent numpy implementation of nncompress's).
  bench/detector_map.py MODEL [DATA (default models/data/detect-test.npz)] [LIMIT]"""
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
from harness import ort_detection_map  # noqa: E402

model = sys.argv[1]
data = sys.argv[2] if len(sys.argv) > 2 else os.path.join(ROOT, "models", "data", "detect-test.npz")
limit = int(sys.argv[3]) if len(sys.argv) > 3 else 0
ours = json.loads(subprocess.run([os.path.join(ROOT, "build", "nncompress"), "--quiet", "eval", model, "--data", data,
                                  "--limit", str(limit), "--json"], check=True, capture_output=True, text=True).stdout)
theirs = ort_detection_map(model, data, os.path.join(ROOT, "build", "bench", "detector_map"), limit)
print(f"{os.path.basename(model)}: nncompress mAP@0.5 {100 * ours['map50']:.2f}%, mAP@.5:.95 {100 * ours['map50_95']:.2f}%; "
      f"onnxruntime-node mAP@0.5 {100 * theirs[0]:.2f}%, mAP@.5:.95 {100 * theirs[1]:.2f}%")
