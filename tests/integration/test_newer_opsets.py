"""Ops whose signature changed after opset 17 (libonnx 1.12 knows up to 17): models at opsets
18-21 load, inspect with a one-line warning, and run in nncompress with the same outputs as
onnxruntime-node, the oracle that knows these opsets."""
import json
import os

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from harness import ROOT, run

rng = np.random.RandomState(3)


def const(name, values, dtype=np.int64):
    return numpy_helper.from_array(np.asarray(values, dtype=dtype), name)


# name -> (opset, nodes, initializers, number of outputs)
CASES = {
    "reducemean18_axes_input": (18, [helper.make_node("ReduceMean", ["x", "axes"], ["y0"], keepdims=1)], [const("axes", [2, 3])], 1),
    "reducemax18_noop_empty": (18, [helper.make_node("ReduceMax", ["x"], ["y0"], keepdims=0)], [], 1),
    "split18_num_outputs_uneven": (18, [helper.make_node("Split", ["x"], ["y0", "y1", "y2"], axis=1, num_outputs=3)], [], 3),
    "pad18_axes": (18, [helper.make_node("Pad", ["x", "pads", "", "axes"], ["y0"], mode="reflect")],
                   [const("pads", [1, 2, 2, 1]), const("axes", [2, 3])], 1),
    "resize18_axes_sizes": (18, [helper.make_node("Resize", ["x", "", "", "sizes"], ["y0"], mode="linear", axes=[2, 3])],
                            [const("sizes", [9, 11])], 1),
    "resize19_nearest_scales": (19, [helper.make_node("Resize", ["x", "", "scales"], ["y0"], mode="nearest",
                                                      coordinate_transformation_mode="asymmetric")],
                                [const("scales", [1, 1, 2, 1.5], np.float32)], 1),
    "quantize21_per_axis": (21, [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"], axis=1),
                                 helper.make_node("DequantizeLinear", ["q", "s", "z"], ["y0"], axis=1)],
                            [const("s", rng.rand(7) * 0.05 + 0.01, np.float32), const("z", rng.randint(-5, 5, 7), np.int8)], 1),
    "reshape21_flatten21": (21, [helper.make_node("Reshape", ["x", "shape"], ["r"]), helper.make_node("Flatten", ["r"], ["y0"], axis=-1)],
                            [const("shape", [0, -1, 5])], 1),
}


@pytest.mark.parametrize("name", list(CASES))
def test_loads_inspects_and_runs_like_onnxruntime(nncompress, tmp_path, name):
    opset, nodes, inits, n_out = CASES[name]
    x_path = tmp_path / "x.npy"
    np.save(x_path, np.random.RandomState(3).randn(2, 7, 6, 5).astype(np.float32))
    outs = [helper.make_tensor_value_info(f"y{i}", TensorProto.FLOAT, None) for i in range(n_out)]
    g = helper.make_graph(nodes, name, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 7, 6, 5])], outs, inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)], ir_version=9 if opset < 21 else 10)
    path = tmp_path / (name + ".onnx")
    path.write_bytes(m.SerializeToString())  # python3-onnx 1.12 cannot check these opsets; ORT and nncompress do
    code, out, err = run([nncompress, "inspect", "--json", path])
    assert code == 0 and json.loads(out)["onnx_check"] == "skipped", err
    ours, theirs = tmp_path / "ours", tmp_path / "ort"
    code, _, err = run([nncompress, "--quiet", "run", path, "-i", x_path, "-o", ours])
    assert code == 0, err
    code, _, err = run(["node", os.path.join(ROOT, "tools", "ort", "run.js"), path, theirs, f"x={x_path}"])
    assert code == 0, err
    for i in range(n_out):
        a, b = np.load(ours / f"y{i}.npy"), np.load(theirs / f"y{i}.npy")
        assert a.shape == b.shape and np.allclose(a, b, rtol=1e-5, atol=1e-5), f"output {i}: {a.shape} vs {b.shape}"
