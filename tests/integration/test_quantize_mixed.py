#!/usr/bin/python3
"""quantize --method mixed: LeNet-5 at an average of 4 bits per weight meets its budget, keeps its
accuracy, stores sub-8-bit layers as packed bit planes so the file shrinks about 8x, and
onnxruntime-node computes the same outputs; uniform 3-bit and 8-bit (int8 DequantizeLinear) go
through the same path; with --int4-qdq the weights are INT4/INT8 DequantizeLinear at opset 21,
which onnxruntime-node runs with the same outputs; the output is byte-identical across runs; bad
budgets exit 2. The
`sensitivity` command reports each layer alone over bit widths and sparsities."""
import argparse
import filecmp
import json
import os
import tempfile

from harness import LENET5, MNIST_TEST, check, check_same_as_ort, finish, run

ap = argparse.ArgumentParser()
ap.add_argument("--nncompress", required=True)
args = ap.parse_args()
work = tempfile.mkdtemp(prefix="nncompress_mixed_")


def quantize(out, *options):
    return run([args.nncompress, "--quiet", "quantize", LENET5, "-o", out, "--method", "mixed", "--calib", MNIST_TEST,
                "--calib-limit", "300", "--data", MNIST_TEST, "--json", *options])


def op_types(path):
    import onnx
    return {n.op_type for n in onnx.load(path).graph.node}


mixed = os.path.join(work, "mixed.onnx")
code, stdout, err = quantize(mixed, "--avg-bits", "4")
check(code == 0, f"mixed precision at 4 bits exits 0 {err.strip()[:300]}")
if code == 0:
    j = json.loads(stdout)
    layers = j["layers"]
    elements = sum(l["weights"] for l in layers)
    check(sum(l["weights"] * l["bits"] for l in layers) <= 4 * elements, f"average bits {j['average_bits']:.3f} <= 4")
    check(all(2 <= l["bits"] <= 8 and len(l["kl_by_bits"]) == 7 for l in layers), "widths 2..8, 7 measurements each")
    check(j["top1_after"] >= j["top1_before"] - 0.01, f"top-1 {j['top1_before']:.4f} -> {j['top1_after']:.4f}")
    check(j["file_bytes"] < os.path.getsize(LENET5) / 6, f"file {j['file_bytes']:,} B vs {os.path.getsize(LENET5):,} B")
    check(j["weights_encoded_bytes"] <= elements / 2 + 4 * sum(l["channels"] for l in layers) + len(layers),
          f"encoded {j['weights_encoded_bytes']:,} B")
    check("BitShift" in op_types(mixed), "sub-8-bit weights are packed bit planes")
    check_same_as_ort(args.nncompress, mixed, MNIST_TEST, work, "mixed 4-bit model")
    again = os.path.join(work, "again.onnx")
    quantize(again, "--avg-bits", "4")
    check(filecmp.cmp(mixed, again, shallow=False), "same input and options: byte-identical output")

uniform3 = os.path.join(work, "uniform3.onnx")
code, stdout, err = quantize(uniform3, "--min-bits", "3", "--max-bits", "3")
check(code == 0 and all(l["bits"] == 3 for l in json.loads(stdout)["layers"]), f"uniform 3-bit {err.strip()[:200]}")
if code == 0:
    check_same_as_ort(args.nncompress, uniform3, MNIST_TEST, work, "uniform 3-bit model")

uniform8 = os.path.join(work, "uniform8.onnx")
code, stdout, err = quantize(uniform8, "--min-bits", "8", "--max-bits", "8")
check(code == 0, f"uniform 8-bit exits 0 {err.strip()[:200]}")
if code == 0:
    ops = op_types(uniform8)
    check("DequantizeLinear" in ops and "BitShift" not in ops, f"8-bit weights are int8 DequantizeLinear: {sorted(ops)}")
    check_same_as_ort(args.nncompress, uniform8, MNIST_TEST, work, "uniform 8-bit model")

# int4 Q/DQ: the 4-bit-and-below layers as INT4, the wider ones as INT8, opset 21, IR version 10.
int4 = os.path.join(work, "int4.onnx")
code, stdout, err = quantize(int4, "--avg-bits", "5", "--int4-qdq")
check(code == 0, f"--int4-qdq exits 0 {err.strip()[:300]}")
if code == 0:
    import onnx
    proto = onnx.load(int4)
    types = {i.name: i.data_type for i in proto.graph.initializer if i.name.endswith("_quantized")}
    bits = {l["name"]: l["bits"] for l in json.loads(stdout)["layers"]}
    check(proto.ir_version >= 10 and [o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")] == [21],
          f"IR {proto.ir_version}, opset {[o.version for o in proto.opset_import]}")
    want = {22 if b <= 4 else 3 for b in bits.values()}  # INT4 = 22, INT8 = 3
    check(len(types) == 4 and set(types.values()) == want and "BitShift" not in op_types(int4),
          f"weights by width {sorted(bits.values())}: initializer types {sorted(types.values())}")
    check(os.path.getsize(int4) < os.path.getsize(LENET5) / 5, f"file {os.path.getsize(int4):,} B")
    check_same_as_ort(args.nncompress, int4, MNIST_TEST, work, "int4 Q/DQ model")

for options, what in [((), "no budget"), (("--avg-bits", "4", "--max-bytes", "1000"), "two budgets"),
                      (("--max-bytes", "100"), "a budget below the scales")]:
    code, _, err = quantize(os.path.join(work, "bad.onnx"), *options)
    check(code == 2 and "budget" in err, f"{what}: exit 2 with a message ({code}: {err.strip()[:150]})")
check(not os.path.exists(os.path.join(work, "bad.onnx")), "no output written on bad options")
code, stdout, err = run([args.nncompress, "--quiet", "sensitivity", LENET5, "--data", MNIST_TEST, "--limit", "300",
                         "--bits", "2,8", "--json"])
check(code == 0, f"sensitivity --method quant exits 0 {err.strip()[:200]}")
if code == 0:
    j = json.loads(stdout)
    check(len(j["layers"]) == 4 and all(len(l["points"]) == 2 for l in j["layers"]), "4 layers x 2 bit widths")
    check(all(l["points"][0]["kl"] > l["points"][1]["kl"] >= 0 for l in j["layers"]), "2 bits hurt more than 8 bits")
    check(all(l["points"][1]["agreement"] >= 0.99 for l in j["layers"]), "8-bit layers agree with the original")
code, stdout, err = run([args.nncompress, "--quiet", "sensitivity", LENET5, "--data", MNIST_TEST, "--limit", "300",
                         "--method", "prune", "--sparsities", "0.1,0.99", "--json"])
check(code == 0, f"sensitivity --method prune exits 0 {err.strip()[:200]}")
if code == 0:
    layers = json.loads(stdout)["layers"]
    check(all(l["points"][0]["top1"] > l["points"][1]["top1"] for l in layers), "99% sparsity costs more than 10%")
code, _, err = run([args.nncompress, "sensitivity", LENET5, "--data", MNIST_TEST, "--bits", "2.5"])
check(code == 2, f"fractional bits: exit 2 ({err.strip()[:120]})")
finish()
