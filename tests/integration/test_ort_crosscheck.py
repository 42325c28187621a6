#!/usr/bin/python3
"""The executor against ONNX Runtime (onnxruntime-node): seven torchvision models, exported with
random weights (fixed seed), run in both on the same random batch; outputs agree within 1e-4
relative (max |nncompress - ORT| / max |ORT|)."""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np

from harness import ROOT, check, finish, run

MODELS = ["resnet18", "mobilenet_v2", "squeezenet1_1", "shufflenet_v2_x1_0", "densenet121", "googlenet",
          "efficientnet_b0"]

ap = argparse.ArgumentParser()
ap.add_argument("--nncompress", required=True)
ap.add_argument("--models", required=True, help="folder for the exported models")
args = ap.parse_args()
root = ROOT
subprocess.run([sys.executable, os.path.join(root, "tools", "export_torchvision.py"), "--out", args.models, *MODELS],
               check=True)
work = tempfile.mkdtemp(prefix="nncompress_ort_")
x = np.random.RandomState(42).randn(2, 3, 224, 224).astype(np.float32)
x_path = os.path.join(work, "x.npy")
np.save(x_path, x)

for name in MODELS:
    model = os.path.join(args.models, name + ".onnx")
    ours, theirs = os.path.join(work, name, "nncompress"), os.path.join(work, name, "ort")
    code, _, err = run([args.nncompress, "--quiet", "run", model, "-i", x_path, "-o", ours])
    check(code == 0, f"{name}: nncompress run exits 0 {err.strip()[:300]}")
    code, _, err = run(["node", os.path.join(root, "tools", "ort", "run.js"), model, theirs, f"input={x_path}"])
    check(code == 0, f"{name}: onnxruntime-node runs it {err.strip()[:300]}")
    if not (os.path.exists(os.path.join(ours, "logits.npy")) and os.path.exists(os.path.join(theirs, "logits.npy"))):
        continue
    a, b = np.load(os.path.join(ours, "logits.npy")), np.load(os.path.join(theirs, "logits.npy"))
    check(a.shape == b.shape == (2, 1000), f"{name}: output shapes {a.shape} and {b.shape}")
    rel = float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-12))
    check(rel <= 1e-4, f"{name}: relative difference {rel:.2e} <= 1e-4")
finish()
