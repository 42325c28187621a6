#!/usr/bin/python3
"""quantize --method int8: every calibration method keeps LeNet-5's accuracy, the file shrinks about
4x, python3-onnx's full checker accepts the model, and onnxruntime-node's int8 kernels give the
same answers as nncompress's own evaluation (the oracle for "standard ONNX"). Symmetric mode keeps
its Relu (removing it is only exact with a zero point at 0). ResNet-20 checks BatchNorm folding,
MobileNetV2 that its Clip(0, 6)s are absorbed like Relu.
Bad options and data are errors with exit code 2."""
import argparse
import json
import os
import tempfile

import numpy as np
import onnx

from harness import LENET5, MNIST_TEST, ROOT, check, finish, run

ap = argparse.ArgumentParser()
ap.add_argument("--nncompress", required=True)
args = ap.parse_args()
work = tempfile.mkdtemp(prefix="nncompress_int8_")
RESNET20 = os.path.join(ROOT, "models", "resnet20-fmnist.onnx")
FMNIST_TEST = os.path.join(ROOT, "models", "data", "fmnist-test.npz")
MNIST_TRAIN = os.path.join(ROOT, "build", "data", "mnist-train.npz")


def ort_agreement(model, test, limit, label):
    """Top-1 agreement and max logit difference between onnxruntime-node and nncompress."""
    d = np.load(test)
    x_path = os.path.join(work, f"x-{label}.npy")
    np.save(x_path, (d["x"][:limit, None] / 255.0).astype(np.float32))
    ours, theirs = os.path.join(work, f"ours-{label}"), os.path.join(work, f"ort-{label}")
    c1, _, e1 = run([args.nncompress, "--quiet", "run", model, "-i", x_path, "-o", ours])
    c2, _, e2 = run(["node", os.path.join(ROOT, "tools", "ort", "run.js"), model, theirs, f"input={x_path}"])
    check(c1 == 0 and c2 == 0, f"{label}: both runtimes run the int8 model {e1.strip()[:200]} {e2.strip()[:200]}")
    if c1 or c2:
        return 0.0, float("inf")
    a, b = np.load(os.path.join(ours, os.listdir(ours)[0])), np.load(os.path.join(theirs, os.listdir(theirs)[0]))
    return float((a.argmax(1) == b.argmax(1)).mean()), float(np.abs(a - b).max())


for method, extra in (("minmax", []), ("percentile", []), ("entropy", []), ("minmax", ["--symmetric"])):
    label = method + ("-symmetric" if extra else "")
    out = os.path.join(work, f"{label}.onnx")
    code, stdout, err = run([args.nncompress, "--quiet", "quantize", LENET5, "-o", out, "--calib", MNIST_TRAIN,
                             "--calib-limit", "500", "--calibration", method, "--data", MNIST_TEST, "--json", *extra])
    check(code == 0, f"{label}: quantize exits 0 {err.strip()[:300]}")
    if code != 0:
        continue
    j = json.loads(stdout)
    check(j["top1_after"] >= j["top1_before"] - 0.005, f"{label}: top-1 {j['top1_before']:.4f} -> {j['top1_after']:.4f}")
    check(os.path.getsize(out) < 0.3 * os.path.getsize(LENET5), f"{label}: file {os.path.getsize(out):,} B vs {os.path.getsize(LENET5):,} B")
    m = onnx.load(out)
    onnx.checker.check_model(m, full_check=True)
    int8 = [t for t in m.graph.initializer if t.data_type == onnx.TensorProto.INT8 and len(t.dims) >= 2]
    check(len(int8) == 4, f"{label}: the 4 weight tensors are int8 initializers ({len(int8)})")
    relus = sum(n.op_type == "Relu" for n in m.graph.node)
    check(relus == (1 if extra else 0), f"{label}: {relus} Relu left (symmetric keeps it, uint8 absorbs it)")
    agreement, diff = ort_agreement(out, MNIST_TEST, 2004, label)
    check(agreement >= 0.995 and diff < 0.1, f"{label}: onnxruntime agrees on {100 * agreement:.2f}% of top-1, max logit diff {diff:.3g}")

def quantize_fmnist(model, label):
    """Quantizes a Fashion-MNIST model (300 calibration images); checks that top-1 on 1,000 test
    images drops at most 1 pp and that onnxruntime-node agrees on 99% of 500. Returns the JSON
    summary and the model, or None."""
    out = os.path.join(work, f"{label}.onnx")
    code, stdout, err = run([args.nncompress, "--quiet", "quantize", model, "-o", out, "--calib", FMNIST_TEST, "--calib-limit", "300",
                             "--data", FMNIST_TEST, "--limit", "1000", "--json"])
    check(code == 0, f"{label}: quantize exits 0 {err.strip()[:300]}")
    if code != 0:
        return None
    j = json.loads(stdout)
    check(j["top1_after"] >= j["top1_before"] - 0.01, f"{label}: top-1 {j['top1_before']:.4f} -> {j['top1_after']:.4f}")
    agreement, diff = ort_agreement(out, FMNIST_TEST, 500, label)
    check(agreement >= 0.99, f"{label}: onnxruntime agrees on {100 * agreement:.2f}% of top-1 (max logit diff {diff:.3g})")
    m = onnx.load(out)
    int32 = {t.name for t in m.graph.initializer if t.data_type == onnx.TensorProto.INT32}
    bias_dqs = [n for n in m.graph.node if n.op_type == "DequantizeLinear" and n.input[0] in int32]
    check(bias_dqs and all(len(n.input) == 2 for n in bias_dqs),
          f"{label}: {len(bias_dqs)} int32 biases, read without the optional zero point (0 for int32)")
    return j, m


# BatchNorm folding on ResNet-20: no BatchNormalization left, accuracy kept, ORT agrees.
result = quantize_fmnist(RESNET20, "resnet20")
if result:
    j, m = result
    check(j["folded_batchnorms"] >= 19 and not any(n.op_type == "BatchNormalization" for n in m.graph.node),
          f"resnet20: {j['folded_batchnorms']} BatchNorms folded, none left")
    ratio = os.path.getsize(RESNET20) / j["file_bytes"]
    check(ratio >= 3.7, f"resnet20: file {ratio:.2f}x smaller (the int8 weights alone would be 4x)")

# MobileNetV2's Relu6 is Clip(0, 6) with bounds from Constant nodes: uint8 absorbs every one (the
# QuantizeLinear after the convolution clamps the same), so ORT can run each conv as one integer op.
MOBILENETV2 = os.path.join(ROOT, "models", "mobilenetv2-fmnist.onnx")
clips_before = sum(n.op_type == "Clip" for n in onnx.load(MOBILENETV2).graph.node)
result = quantize_fmnist(MOBILENETV2, "mobilenetv2")
if result:
    j, m = result
    read = {i for n in m.graph.node for i in n.input}
    left = [n.name for n in m.graph.node if n.op_type == "Clip" or (n.op_type == "Constant" and n.output[0] not in read)]
    check(clips_before == 35 and j["removed_clips"] == clips_before and not left,
          f"mobilenetv2: {j['removed_clips']} of {clips_before} Clips absorbed; Clips or unread Constants left: {left[:5]}")

code, _, err = run([args.nncompress, "quantize", LENET5, "-o", os.path.join(work, "x.onnx"), "--calib", os.path.join(work, "none.npz")])
check(code == 2 and "none.npz" in err, f"missing calibration data: exit {code}")
code, _, err = run([args.nncompress, "quantize", LENET5, "-o", os.path.join(work, "x.onnx"), "--calib", FMNIST_TEST,
                    "--calibration", "median"])
check(code == 2, f"unknown calibration method: exit {code}")
np.save(os.path.join(work, "wrong.npy"), np.zeros((4, 3, 32, 32), np.float32))
code, _, err = run([args.nncompress, "quantize", LENET5, "-o", os.path.join(work, "x.onnx"), "--calib", os.path.join(work, "wrong.npy")])
check(code == 2 and "shape" in err, f"calibration data of the wrong shape: exit {code}, {err.strip()[:200]}")
check(not os.path.exists(os.path.join(work, "x.onnx")), "no output written on errors")
finish()
