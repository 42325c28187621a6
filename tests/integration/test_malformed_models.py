#!/usr/bin/python3
"""Feeds the loader malformed files (missing, directory, empty, text, truncated at random points,
random bytes, wrong field types, broken tensors, undefined values) and checks that `inspect` and
`convert` exit with code 2 and a one-line error, never crash, and leave no output file behind."""
import argparse
import os
import random
import tempfile
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from harness import check, finish, run

ap = argparse.ArgumentParser()
ap.add_argument("--nncompress", required=True)
args = ap.parse_args()
nnc = args.nncompress
work = tempfile.mkdtemp(prefix="nncompress_malformed_")
rng = random.Random(1234)


def tiny_model(**overrides):
    w = numpy_helper.from_array(np.random.RandomState(0).randn(4, 3, 3, 3).astype(np.float32), "w")
    conv = helper.make_node("Conv", ["x", "w"], ["y"], name="conv", pads=[1, 1, 1, 1])
    relu = helper.make_node("Relu", [overrides.get("relu_input", "y")], ["z"], name="relu")
    g = helper.make_graph([conv, relu], "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                          [helper.make_tensor_value_info("z", TensorProto.FLOAT, [1, 4, 8, 8])], [w])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])


def write(name, data):
    path = os.path.join(work, name)
    with open(path, "wb") as f:
        f.write(data)
    return path


valid = tiny_model().SerializeToString()
valid_path = write("valid.onnx", valid)
code, _, err = run([nnc, "inspect", valid_path])
check(code == 0, f"the valid model inspects fine ({err.strip()[:200]})")

cases = {"missing file": os.path.join(work, "does-not-exist.onnx"), "directory": work,
         "empty file": write("empty.onnx", b""), "text file": write("text.onnx", b"this is not a model\n")}
for i, cut in enumerate(sorted(rng.sample(range(1, len(valid) - 1), 12))):
    cases[f"truncated at byte {cut} of {len(valid)}"] = write(f"trunc{i}.onnx", valid[:cut])
for i, n in enumerate([1, 7, 64, 500, 4096, 100000]):
    cases[f"{n} random bytes"] = write(f"random{i}.onnx", bytes(rng.getrandbits(8) for _ in range(n)))
# Wrong field types: ir_version (field 1) as a string; graph (field 7) as a varint; a graph whose
# bytes are not a GraphProto.
cases["ir_version as a string"] = write("wt1.onnx", b"\x0a\x03abc")
cases["graph as a varint"] = write("wt2.onnx", b"\x08\x08\x38\x05")
cases["graph holding garbage"] = write("wt3.onnx", b"\x08\x08\x3a\x03abc")
no_graph = onnx.ModelProto(ir_version=8)
cases["model without a graph"] = write("nograph.onnx", no_graph.SerializeToString())
cases["undefined value"] = write("undef.onnx", tiny_model(relu_input="nope").SerializeToString())
bad_tensor = tiny_model()
bad_tensor.graph.initializer[0].raw_data = b"\x00" * 10
cases["tensor with wrong byte count"] = write("badtensor.onnx", bad_tensor.SerializeToString())
neg = tiny_model()
neg.graph.initializer[0].dims[0] = -4
cases["negative tensor dimension"] = write("negdim.onnx", neg.SerializeToString())
cycle = tiny_model(relu_input="z")
cases["cycle"] = write("cycle.onnx", cycle.SerializeToString())
no_opset = tiny_model()
del no_opset.opset_import[:]
cases["no opset_import"] = write("noopset.onnx", no_opset.SerializeToString())
check(len(cases) >= 20, f"{len(cases)} malformed inputs (at least 20)")

os.makedirs(os.path.join(work, "out"))


def try_case(item):
    what, path = item
    code, _, err = run([nnc, "inspect", path])
    target = os.path.join(work, "out", os.path.basename(path) + ".converted.onnx")
    convert_code, _, _ = run([nnc, "convert", path, "-o", target])
    return what, code, [l for l in err.splitlines() if l.strip()], convert_code, os.path.exists(target)


# Each run loads LibTorch (~0.8 s): run the cases side by side.
with ThreadPoolExecutor(max_workers=4) as pool:
    for what, code, lines, convert_code, written in pool.map(try_case, cases.items()):
        check(code == 2 and len(lines) == 1 and lines[0].startswith("error:"),
              f"inspect, {what}: exit {code}, one error line: {lines[:2]}")
        check(convert_code == 2 and not written, f"convert, {what}: exit {convert_code}, no output written")
check(os.listdir(os.path.join(work, "out")) == [], "no temporary files left behind")

# Output problems, with a valid input.
code, _, err = run([nnc, "convert", valid_path, "-o", "/nonexistent-dir/out.onnx"])
check(code == 2 and err.startswith("error:"), f"unwritable output: exit {code} ({err.strip()})")
before = open(valid_path, "rb").read()
code, _, err = run([nnc, "convert", valid_path, "-o", valid_path])
check(code == 2 and open(valid_path, "rb").read() == before, f"output == input refused, input intact: exit {code}")
code, _, err = run([nnc, "convert", valid_path, "-o", os.path.join(work, "../" + os.path.basename(work), "valid.onnx")])
check(code == 2, f"output == input through another path refused: exit {code}")
code, _, _ = run([nnc, "inspect", valid_path, "--no-such-option"])
check(code == 2, f"unknown option: exit {code}")
code, _, _ = run([nnc])
check(code == 2, f"no subcommand: exit {code}")
code, out, _ = run([nnc, "convert", "--help"])
check(code == 0 and "--output" in out, "convert --help")
code, out, _ = run([nnc, "--version"])
check(code == 0 and out.startswith("nncompress "), "--version")
finish()
