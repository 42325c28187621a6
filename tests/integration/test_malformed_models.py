"""Feeds the loader malformed files (missing, directory, empty, text, truncated at random points,
random bytes, wrong field types, broken tensors, undefined values) and checks that `inspect` and
`convert` exit with code 2 and a one-line error, never crash, and leave no output file behind."""
import os
import random
import subprocess
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


def crash_reproducers(folder):
    """name -> (model path, exit codes of inspect and run) for the inputs that once crashed, hung
    or gave exit 1 (issue 21): windows of zero, a missing subgraph, string axes, tensors declared
    far larger than the file, a 100,000-node chain (which must load and run), external data
    through a symlink out of the folder, from a FIFO or with an overflowing range, subgraphs
    nested deeper than protobuf reads."""
    out = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])
    w = numpy_helper.from_array(np.ones((4, 3, 3, 3), np.float32), "w")
    cases = {}

    def save(name, nodes, inits=(), opset=13, inputs=None, outputs=None, codes=(2, 2)):
        g = helper.make_graph(nodes, "g", inputs or [x], outputs or [out], list(inits))
        path = folder / name
        path.write_bytes(helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)]).SerializeToString())
        cases[name] = (path, codes)

    conv = lambda **a: helper.make_node("Conv", ["x", "w"], ["y"], name="conv", **a)
    save("conv-stride-0.onnx", [conv(strides=[0, 0])], [w])
    save("conv-dilation-0.onnx", [conv(dilations=[0, 0])], [w])
    save("conv-group-0.onnx", [conv(group=0)], [w])
    save("conv-negative-pads.onnx", [conv(pads=[-5, -5, -5, -5])], [w])
    save("conv-stride-2^31.onnx", [conv(strides=[1, 2**31 - 1])], [w])
    pool = lambda **a: helper.make_node("MaxPool", ["x"], ["y"], name="pool", **a)
    save("pool-stride-0.onnx", [pool(kernel_shape=[2, 2], strides=[0, 0])])
    save("pool-kernel-0.onnx", [pool(kernel_shape=[0, 0])])
    save("pool-kernel-too-big.onnx", [pool(kernel_shape=[100, 100])], codes=(0, 2))  # fails when run
    save("scan-without-body.onnx", [helper.make_node("Scan", ["x"], ["y"], name="scan", num_scan_inputs=1)], opset=16)
    axes = helper.make_tensor("axes", TensorProto.STRING, [1], [b"1"])
    save("string-axes.onnx", [helper.make_node("ReduceMean", ["x", "axes"], ["y"], name="rm")], [axes], opset=18)
    big = onnx.TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[1 << 20, 1 << 20])
    save("2^40-elements-declared.onnx", [helper.make_node("Add", ["x", "w"], ["y"], name="add")], [big])
    shape = numpy_helper.from_array(np.array([1 << 20, 1 << 20], np.int64), "s")
    save("2^40-elements-computed.onnx", [helper.make_node("ConstantOfShape", ["s"], ["y"], name="cos")], [shape],
         codes=(0, 2))
    save("2^80-element-input.onnx", [helper.make_node("Relu", ["x"], ["y"], name="r")],
         inputs=[helper.make_tensor_value_info("x", TensorProto.FLOAT, [1 << 40, 1 << 40])])
    n = 100000
    chain = [helper.make_node("Relu", ["x" if i == 0 else f"t{i - 1}"], [f"t{i}"]) for i in range(n)]
    save("chain-of-100k.onnx", chain, outputs=[helper.make_tensor_value_info(f"t{n - 1}", TensorProto.FLOAT, None)],
         codes=(0, 0))
    leaf = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "b", [], [out])
    body = leaf
    for _ in range(120):
        body = helper.make_graph([helper.make_node("If", ["c"], ["y"], then_branch=body, else_branch=leaf)], "b", [], [out])
    save("if-nested-120-deep.onnx", [helper.make_node("If", ["c"], ["y"], name="if", then_branch=body, else_branch=leaf)],
         [numpy_helper.from_array(np.array(True), "c")])

    ext = folder / "ext"
    ext.mkdir()
    (ext / "w.bin").write_bytes(b"\0" * 432)
    os.symlink("/etc", ext / "etc")
    os.mkfifo(ext / "fifo")

    def external(name, location, offset=None, length=None):
        t = onnx.TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[4, 3, 3, 3], data_location=TensorProto.EXTERNAL)
        for key, value in (("location", location), ("offset", offset), ("length", length)):
            if value is not None:
                t.external_data.add(key=key, value=str(value))
        save(f"ext/{name}", [conv()], [t])

    external("symlink-out.onnx", "etc/passwd")
    external("fifo.onnx", "fifo")
    external("overflowing-offset.onnx", "w.bin", offset=2**63 - 10, length=432)
    external("overflowing-length.onnx", "w.bin", offset=0, length=2**63 - 1)
    return cases


def test_crash_reproducers_exit_2_with_one_line(nncompress, tmp_path):
    cases = crash_reproducers(tmp_path)
    np.save(tmp_path / "x.npy", np.ones((1, 3, 8, 8), np.float32))

    def try_case(item):
        name, (path, expected) = item
        results = []
        commands = (["inspect", path], ["run", path, "-i", tmp_path / "x.npy", "-o", tmp_path / ("out-" + path.stem)])
        for cmd, want in zip(commands, expected):
            try:
                code, _, err = run([nncompress, *cmd], timeout=60)
            except subprocess.TimeoutExpired:
                code, err = "hang", ""
            results.append((name, cmd[0], want, code, [l for l in err.splitlines() if l.startswith("error")]))
        return results

    failures = []
    with ThreadPoolExecutor(max_workers=4) as pool:
        for results in pool.map(try_case, cases.items()):
            for name, cmd, want, code, errors in results:
                if code != want or (want == 2 and len(errors) != 1):
                    failures.append(f"{cmd} {name}: exit {code} (expected {want}), {errors}")
                if errors and errors[0].count(name.split("/")[-1]) > 1:
                    failures.append(f"{cmd} {name}: the file is named twice: {errors[0]}")
    assert not failures, failures
    written = [p for p in os.listdir(tmp_path) if p.startswith("out-") and os.listdir(tmp_path / p)]
    assert written == ["out-chain-of-100k"], "only the run that succeeded wrote outputs"
