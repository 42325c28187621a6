#!/usr/bin/python3
"""prune --method channels on the seven torchvision models: the pruned model is smaller, loads in
onnxruntime-node with unchanged output shapes and the same outputs as nncompress computes for it;
with --ratio 0 the outputs equal the original's."""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

from harness import LENET5, MNIST_TEST, ROOT, check, finish, run

MODELS = ["resnet18", "mobilenet_v2", "densenet121", "googlenet", "squeezenet1_1", "shufflenet_v2_x1_0",
          "efficientnet_b0"]
ap = argparse.ArgumentParser()
ap.add_argument("--nncompress", required=True)
ap.add_argument("--models", required=True)
args = ap.parse_args()
root = ROOT
subprocess.run([sys.executable, os.path.join(root, "tools", "export_torchvision.py"), "--out", args.models, *MODELS],
               check=True)
work = tempfile.mkdtemp(prefix="nncompress_prune_")
x_path = os.path.join(work, "x.npy")
np.save(x_path, np.random.RandomState(5).randn(2, 3, 224, 224).astype(np.float32))


def outputs(model, runtime, tag):
    out = os.path.join(work, tag)
    if runtime == "nncompress":
        code, _, err = run([args.nncompress, "--quiet", "run", model, "-i", x_path, "-o", out])
    else:
        code, _, err = run(["node", os.path.join(root, "tools", "ort", "run.js"), model, out, f"input={x_path}"])
    path = os.path.join(out, "logits.npy")
    return (np.load(path) if code == 0 and os.path.exists(path) else None), err.strip()[:300]


for name in MODELS:
    model = os.path.join(args.models, name + ".onnx")
    pruned = os.path.join(work, name + "-pruned.onnx")
    code, out, err = run([args.nncompress, "--quiet", "prune", model, "-o", pruned, "--ratio", "0.3", "--json"])
    check(code == 0, f"{name}: prune exits 0 {err.strip()[:300]}")
    if code != 0:
        continue
    j = json.loads(out)
    if name in ("resnet18", "mobilenet_v2", "densenet121", "googlenet"):
        check(j["groups_pruned"] > 0 and j["params_after"] < j["params_before"] and j["macs_after"] < j["macs_before"],
              f"{name}: {j['groups_pruned']} groups pruned, params {j['params_before']:,} -> {j['params_after']:,}, "
              f"MACs {j['macs_before']:,} -> {j['macs_after']:,}")
    ours, err1 = outputs(pruned, "nncompress", name + "-ours")
    theirs, err2 = outputs(pruned, "ort", name + "-ort")
    check(ours is not None, f"{name}: nncompress runs the pruned model {err1}")
    check(theirs is not None, f"{name}: onnxruntime-node runs the pruned model {err2}")
    if ours is not None and theirs is not None:
        check(ours.shape == theirs.shape == (2, 1000), f"{name}: output shape unchanged {ours.shape}")
        rel = float(np.abs(ours - theirs).max() / max(np.abs(theirs).max(), 1e-12))
        check(rel <= 1e-4, f"{name}: pruned outputs agree with onnxruntime-node ({rel:.1e})")

# Global pruning to a target: the result meets it closely and still agrees with ORT.
for flag, key in (("--target-macs", "macs"), ("--target-params", "params")):
    model = os.path.join(args.models, "mobilenet_v2.onnx")
    out = os.path.join(work, f"mobilenet_v2{flag}.onnx")
    code, stdout, err = run([args.nncompress, "--quiet", "prune", model, "-o", out, flag, "0.5", "--json"])
    j = json.loads(stdout) if code == 0 else {}
    frac = j[f"{key}_after"] / j[f"{key}_before"] if j else 1
    check(code == 0 and 0.45 <= frac <= 0.5, f"mobilenet_v2 {flag} 0.5: {key} kept {frac:.4f} {err.strip()[:200]}")
    ours, _ = outputs(out, "nncompress", f"mnv2{flag}-ours")
    theirs, _ = outputs(out, "ort", f"mnv2{flag}-ort")
    check(ours is not None and theirs is not None and np.allclose(ours, theirs, rtol=1e-4, atol=1e-4 * np.abs(theirs).max()),
          f"mobilenet_v2 {flag}: pruned outputs agree with onnxruntime-node")
code, _, err = run([args.nncompress, "prune", os.path.join(args.models, "resnet18.onnx"), "-o", os.path.join(work, "x.onnx"),
                    "--target-macs", "0.01"])
check(code == 2 and "cannot reach" in err and not os.path.exists(os.path.join(work, "x.onnx")),
      f"unreachable target: exit {code}, {err.strip()}")

# --ratio 0 changes nothing that matters: the outputs equal the original model's.
for name in ("resnet18", "densenet121"):
    model = os.path.join(args.models, name + ".onnx")
    same = os.path.join(work, name + "-ratio0.onnx")
    code, _, err = run([args.nncompress, "--quiet", "prune", model, "-o", same, "--ratio", "0"])
    a, _ = outputs(model, "nncompress", name + "-orig")
    b, _ = outputs(same, "nncompress", name + "-ratio0")
    check(code == 0 and a is not None and b is not None and np.array_equal(a, b), f"{name}: --ratio 0 gives identical outputs")
# Data-driven criterion: taylor needs labeled data, and uses it.
lenet, mnist = LENET5, MNIST_TEST
code, _, err = run([args.nncompress, "prune", lenet, "-o", os.path.join(work, "t0.onnx"), "--criterion", "taylor"])
check(code == 2 and "labeled data" in err, f"taylor without data: exit {code}, {err.strip()}")
code, out, err = run([args.nncompress, "--quiet", "prune", lenet, "-o", os.path.join(work, "t1.onnx"), "--criterion", "taylor",
                      "--ratio", "0.5", "--prune-first-conv", "--data", mnist, "--limit", "512", "--json"])
j = json.loads(out) if code == 0 else {}
check(code == 0 and j["groups_pruned"] == 3 and j["top1_after"] is not None and j["top1_after"] > 0.5,
      f"taylor with data prunes LeNet-5's 3 groups, top-1 {j.get('top1_before')} -> {j.get('top1_after')} {err.strip()[:200]}")
finish()
