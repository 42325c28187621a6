#!/usr/bin/python3
"""inspect --json on torchvision resnet18 and mobilenet_v2 (exported at 224x224 by
tools/export_torchvision.py): params equal python3-onnx's count, MACs within 1% of fvcore's."""
import argparse
import json
import os
import subprocess
import sys

from harness import ROOT, check, finish, run

# fvcore's counts of multiply-accumulates at 224x224.
FVCORE_MACS = {"resnet18": 1.814e9, "mobilenet_v2": 0.300e9}

ap = argparse.ArgumentParser()
ap.add_argument("--nncompress", required=True)
ap.add_argument("--models", required=True, help="folder for the exported models")
args = ap.parse_args()

root = ROOT
subprocess.run([sys.executable, os.path.join(root, "tools", "export_torchvision.py"), "--out", args.models,
                *FVCORE_MACS], check=True)

for name, macs in FVCORE_MACS.items():
    path = os.path.join(args.models, name + ".onnx")
    facts = json.load(open(os.path.join(args.models, name + ".json")))
    code, out, err = run([args.nncompress, "inspect", "--json", path])
    check(code == 0, f"{name}: inspect exits 0 (stderr: {err.strip()[:200]})")
    if code != 0:
        continue
    j = json.loads(out)
    for key in ("nodes", "params", "macs", "file_bytes", "layers"):
        check(key in j, f"{name}: JSON has '{key}'")
    check(j["params"] == facts["params"], f"{name}: params {j['params']:,} == python3-onnx's {facts['params']:,}")
    check(abs(j["macs"] - macs) / macs < 0.01, f"{name}: MACs {j['macs'] / 1e9:.4f} G within 1% of {macs / 1e9:.3f} G")
    check(j["file_bytes"] == os.path.getsize(path), f"{name}: file_bytes is the file's size")
    check(sum(l["params"] for l in j["layers"]) == j["params"], f"{name}: layer params sum to the total")
    check(sum(l["macs"] or 0 for l in j["layers"]) == j["macs"], f"{name}: layer MACs sum to the total")
    check(all({"name", "op", "params", "macs"} <= set(l) for l in j["layers"]), f"{name}: every layer has name/op/params/macs")
    check(j["onnx_check"] == "passed", f"{name}: ONNX checker passes")
finish()
