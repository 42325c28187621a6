#!/usr/bin/python3
"""The shipped models: the accuracy in models/README.md is what `nncompress eval` prints, and
onnxruntime-node computes the same accuracy on the same test split (within 0.1 percentage points)."""
import argparse
import json
import os
import re
import tempfile

import numpy as np

from harness import ROOT, check, finish, run

ap = argparse.ArgumentParser()
ap.add_argument("--nncompress", required=True)
args = ap.parse_args()
root = ROOT
models_dir = os.path.join(root, "models")
work = tempfile.mkdtemp(prefix="nncompress_models_")

rows = re.findall(r"^\| (\S+\.onnx) \|.*\| ([\d.]+)% \|[^|]*\|$", open(os.path.join(models_dir, "README.md")).read(), re.M)
check(len(rows) >= 2, f"models/README.md lists {len(rows)} models")
for name, table_top1 in rows:
    model = os.path.join(models_dir, name)
    dataset = os.path.join(models_dir, "data", ("fmnist" if "fmnist" in name else "mnist") + "-test.npz")
    check(os.path.exists(model), f"{name} exists")
    code, out, err = run([args.nncompress, "--quiet", "eval", model, "--data", dataset, "--json"])
    check(code == 0, f"{name}: eval exits 0 {err.strip()[:200]}")
    if code != 0:
        continue
    ours = json.loads(out)["top1"] * 100
    check(abs(ours - float(table_top1)) < 0.005 + 1e-9, f"{name}: eval top-1 {ours:.2f}% == README's {table_top1}%")
    d = np.load(dataset)
    x = (d["x"].astype(np.float32) / 255.0)[:, None]
    x_path = os.path.join(work, name + ".x.npy")
    np.save(x_path, x)
    out_dir = os.path.join(work, name)
    code, _, err = run(["node", os.path.join(root, "tools", "ort", "run.js"), model, out_dir, f"input={x_path}"])
    check(code == 0, f"{name}: onnxruntime-node runs it {err.strip()[:200]}")
    if code == 0:
        theirs = float((np.load(os.path.join(out_dir, "logits.npy")).argmax(1) == d["y"]).mean() * 100)
        check(abs(theirs - ours) <= 0.1, f"{name}: onnxruntime-node top-1 {theirs:.2f}% within 0.1 pp of {ours:.2f}%")
finish()
