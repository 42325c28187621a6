"""quantize --method mixed: LeNet-5 at an average of 4 bits per weight meets its budget, keeps its
accuracy, stores sub-8-bit layers as packed bit planes so the file shrinks about 8x, and
onnxruntime-node computes the same outputs; uniform 3-bit and 8-bit (int8 DequantizeLinear) go
through the same path; with --int4-qdq the weights are INT4/INT8 DequantizeLinear at opset 21,
which onnxruntime-node runs with the same outputs; the output is byte-identical across runs; bad
budgets exit 2. The `sensitivity` command reports each layer alone over bit widths and
sparsities."""
import json
import os

import onnx
import pytest

from harness import LENET5, MNIST_TEST, assert_same_as_ort, run


def quantize(nncompress, out, *options):
    return run([nncompress, "--quiet", "quantize", LENET5, "-o", out, "--method", "mixed", "--calib", MNIST_TEST,
                "--calib-limit", "300", "--data", MNIST_TEST, "--json", *options])


def op_types(path):
    return {n.op_type for n in onnx.load(str(path)).graph.node}


@pytest.fixture(scope="module")
def mixed4(nncompress, tmp_path_factory):
    out = tmp_path_factory.mktemp("mixed") / "mixed.onnx"
    code, stdout, err = quantize(nncompress, out, "--avg-bits", "4")
    assert code == 0, err
    return out, json.loads(stdout)


def test_four_bits_on_average_meet_the_budget_and_keep_accuracy(mixed4):
    out, j = mixed4
    layers = j["layers"]
    elements = sum(l["weights"] for l in layers)
    assert sum(l["weights"] * l["bits"] for l in layers) <= 4 * elements
    assert all(2 <= l["bits"] <= 8 and len(l["kl_by_bits"]) == 7 for l in layers)
    assert j["top1_after"] >= j["top1_before"] - 0.01
    assert j["file_bytes"] < os.path.getsize(LENET5) / 6
    assert j["weights_encoded_bytes"] <= elements / 2 + 4 * sum(l["channels"] for l in layers) + len(layers)
    assert "BitShift" in op_types(out), "sub-8-bit weights are packed bit planes"


def test_onnxruntime_agrees_and_runs_are_byte_identical(nncompress, mixed4, tmp_path):
    assert_same_as_ort(nncompress, str(mixed4[0]), MNIST_TEST, tmp_path)
    again = tmp_path / "again.onnx"
    quantize(nncompress, again, "--avg-bits", "4")
    assert again.read_bytes() == mixed4[0].read_bytes()


@pytest.mark.parametrize("bits", [3, 8])
def test_uniform_widths_go_through_the_same_path(nncompress, tmp_path, bits):
    out = tmp_path / f"uniform{bits}.onnx"
    code, stdout, err = quantize(nncompress, out, "--min-bits", str(bits), "--max-bits", str(bits))
    assert code == 0 and all(l["bits"] == bits for l in json.loads(stdout)["layers"]), err
    if bits == 8:
        ops = op_types(out)
        assert "DequantizeLinear" in ops and "BitShift" not in ops, "8-bit weights are int8 DequantizeLinear"
    assert_same_as_ort(nncompress, str(out), MNIST_TEST, tmp_path)


def test_int4_qdq_at_opset_21(nncompress, tmp_path):
    """The 4-bit-and-below layers as INT4, the wider ones as INT8, opset 21, IR version 10."""
    out = tmp_path / "int4.onnx"
    code, stdout, err = quantize(nncompress, out, "--avg-bits", "5", "--int4-qdq")
    assert code == 0, err
    proto = onnx.load(str(out))
    types = {i.name: i.data_type for i in proto.graph.initializer if i.name.endswith("_quantized")}
    bits = {l["name"]: l["bits"] for l in json.loads(stdout)["layers"]}
    assert proto.ir_version >= 10 and [o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")] == [21]
    assert len(types) == 4 and set(types.values()) == {22 if b <= 4 else 3 for b in bits.values()}  # INT4 22, INT8 3
    assert "BitShift" not in op_types(out)
    assert os.path.getsize(out) < os.path.getsize(LENET5) / 5
    assert_same_as_ort(nncompress, str(out), MNIST_TEST, tmp_path)


@pytest.mark.parametrize("options", [(), ("--avg-bits", "4", "--max-bytes", "1000"), ("--max-bytes", "100")],
                         ids=["no budget", "two budgets", "a budget below the scales"])
def test_bad_budgets_exit_2_and_write_nothing(nncompress, tmp_path, options):
    out = tmp_path / "bad.onnx"
    code, _, err = quantize(nncompress, out, *options)
    assert code == 2 and "budget" in err and not out.exists(), err


def test_sensitivity_over_bit_widths(nncompress):
    code, stdout, err = run([nncompress, "--quiet", "sensitivity", LENET5, "--data", MNIST_TEST, "--limit", "300",
                             "--bits", "2,8", "--json"])
    assert code == 0, err
    j = json.loads(stdout)
    assert len(j["layers"]) == 4 and all(len(l["points"]) == 2 for l in j["layers"])
    assert all(l["points"][0]["kl"] > l["points"][1]["kl"] >= 0 for l in j["layers"]), "2 bits hurt more than 8"
    assert all(l["points"][1]["agreement"] >= 0.99 for l in j["layers"])


def test_sensitivity_over_sparsities(nncompress):
    code, stdout, err = run([nncompress, "--quiet", "sensitivity", LENET5, "--data", MNIST_TEST, "--limit", "300",
                             "--method", "prune", "--sparsities", "0.1,0.99", "--json"])
    assert code == 0, err
    assert all(l["points"][0]["top1"] > l["points"][1]["top1"] for l in json.loads(stdout)["layers"])
    code, _, err = run([nncompress, "sensitivity", LENET5, "--data", MNIST_TEST, "--bits", "2.5"])
    assert code == 2, err
