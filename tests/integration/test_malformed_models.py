"""Feeds the loader malformed files (missing, directory, empty, text, truncated at random points,
random bytes, wrong field types, broken tensors, undefined values) and checks that `inspect` and
`convert` exit with code 2 and a one-line error, never crash, and leave no output file behind."""
import os
import random
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from harness import run


def tiny_model(**overrides):
    w = numpy_helper.from_array(np.random.RandomState(0).randn(4, 3, 3, 3).astype(np.float32), "w")
    conv = helper.make_node("Conv", ["x", "w"], ["y"], name="conv", pads=[1, 1, 1, 1])
    relu = helper.make_node("Relu", [overrides.get("relu_input", "y")], ["z"], name="relu")
    g = helper.make_graph([conv, relu], "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                          [helper.make_tensor_value_info("z", TensorProto.FLOAT, [1, 4, 8, 8])], [w])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return tmp_path_factory.mktemp("malformed")


@pytest.fixture(scope="module")
def valid_path(work):
    path = work / "valid.onnx"
    path.write_bytes(tiny_model().SerializeToString())
    return path


def malformed_cases(work):
    """name -> path of each malformed input."""
    rng = random.Random(1234)

    def write(name, data):
        path = work / name
        path.write_bytes(data)
        return path

    valid = tiny_model().SerializeToString()
    cases = {"missing file": work / "does-not-exist.onnx", "directory": work,
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
    cases["model without a graph"] = write("nograph.onnx", onnx.ModelProto(ir_version=8).SerializeToString())
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
    return cases


def test_the_valid_model_inspects_fine(nncompress, valid_path):
    code, _, err = run([nncompress, "inspect", valid_path])
    assert code == 0, err


def test_every_malformed_input_exits_2_with_one_line_and_no_output(nncompress, work):
    cases = malformed_cases(work)
    assert len(cases) >= 20
    out = work / "out"
    out.mkdir()

    def try_case(item):
        what, path = item
        code, _, err = run([nncompress, "inspect", path])
        target = out / (os.path.basename(path) + ".converted.onnx")
        convert_code, _, _ = run([nncompress, "convert", path, "-o", target])
        return what, code, [l for l in err.splitlines() if l.strip()], convert_code, target.exists()

    failures = []
    # Each run loads LibTorch (~0.8 s): run the cases side by side.
    with ThreadPoolExecutor(max_workers=4) as pool:
        for what, code, lines, convert_code, written in pool.map(try_case, cases.items()):
            if not (code == 2 and len(lines) == 1 and lines[0].startswith("error:")):
                failures.append(f"inspect, {what}: exit {code}, {lines[:2]}")
            if not (convert_code == 2 and not written):
                failures.append(f"convert, {what}: exit {convert_code}, written {written}")
    assert not failures, failures
    assert os.listdir(out) == [], "no temporary files left behind"


def test_output_problems_with_a_valid_input(nncompress, work, valid_path):
    code, _, err = run([nncompress, "convert", valid_path, "-o", "/nonexistent-dir/out.onnx"])
    assert code == 2 and err.startswith("error:"), err
    before = valid_path.read_bytes()
    code, _, err = run([nncompress, "convert", valid_path, "-o", valid_path])
    assert code == 2 and valid_path.read_bytes() == before, "output == input refused, input intact"
    code, _, err = run([nncompress, "convert", valid_path, "-o", os.path.join(work, "..", work.name, "valid.onnx")])
    assert code == 2, "output == input through another path refused"


def test_usage(nncompress, valid_path):
    assert run([nncompress, "inspect", valid_path, "--no-such-option"])[0] == 2
    assert run([nncompress])[0] == 2
    code, out, _ = run([nncompress, "convert", "--help"])
    assert code == 0 and "--output" in out
    code, out, _ = run([nncompress, "--version"])
    assert code == 0 and out.startswith("nncompress ")
