"""quantize --method dynamic (quant.dynamic): int8 MatMul/Gemm weights with activations quantized at
run time, in ONNX Runtime's quantize_dynamic form (DynamicQuantizeLinear + MatMulInteger). ONNX
Runtime is the oracle: it loads every quantized model and its outputs equal ours; the trained MLP
keeps its top-1 and shrinks ~4x; a small self-attention encoder (MatMul weights, batch x tokens)
stays close to its float outputs and keeps the names of its graph outputs."""
import os

import numpy as np
import onnx
import pytest

from harness import MNIST_TEST, ROOT, export_attention_encoder, ort_outputs, our_outputs, run

LENET300 = os.path.join(ROOT, "models", "lenet-300-100-mnist.onnx")


def top1(nncompress, model):
    code, out, err = run([nncompress, "--quiet", "eval", str(model), "--data", MNIST_TEST, "--limit", "2000", "--json"])
    assert code == 0, err
    import json
    return json.loads(out)["top1"]


def test_mlp_keeps_its_accuracy_and_ort_agrees(nncompress, tmp_path):
    out = tmp_path / "q.onnx"
    code, stdout, err = run([nncompress, "quantize", LENET300, "-o", out, "--method", "dynamic", "--json"])
    assert code == 0, err
    ops = [n.op_type for n in onnx.load(str(out)).graph.node]
    assert ops.count("MatMulInteger") == 3 and ops.count("DynamicQuantizeLinear") == 3 and "Gemm" not in ops
    assert os.path.getsize(LENET300) / os.path.getsize(out) > 3.5
    before, after = top1(nncompress, LENET300), top1(nncompress, out)
    assert after >= before - 0.01, (before, after)  # fractions: at most 1 point lost
    x = np.load(MNIST_TEST)["x"][:16].astype(np.float32) / 255
    np.save(tmp_path / "x.npy", x.reshape(16, 1, 28, 28))
    name = onnx.load(str(out)).graph.input[0].name
    a = our_outputs(nncompress, out, tmp_path / "x.npy", tmp_path / "ours")
    b = ort_outputs(out, {name: tmp_path / "x.npy"}, tmp_path / "ort")
    assert a.keys() == b.keys()
    for k in a:
        assert np.abs(a[k] - b[k]).max() <= 1e-4 * max(np.abs(b[k]).max(), 1), k


def test_attention_encoder_matches_ort_and_stays_near_float(nncompress, tmp_path):
    float_model, out = tmp_path / "encoder.onnx", tmp_path / "encoder-dyn.onnx"
    export_attention_encoder(float_model)
    code, _, err = run([nncompress, "quantize", float_model, "-o", out, "--method", "dynamic"])
    assert code == 0, err
    q = onnx.load(str(out))
    onnx.checker.check_model(q)
    assert [o.name for o in q.graph.output] == ["hidden"]
    assert sum(n.op_type == "MatMulInteger" for n in q.graph.node) == 8  # qkv, proj, 2 MLP layers x 2 blocks
    np.save(tmp_path / "t.npy", np.random.RandomState(1).randn(3, 12, 64).astype(np.float32))
    a = our_outputs(nncompress, out, tmp_path / "t.npy", tmp_path / "ours")["hidden"]
    b = ort_outputs(out, {"tokens": tmp_path / "t.npy"}, tmp_path / "ort")["hidden"]
    assert np.abs(a - b).max() <= 1e-3 * np.abs(b).max()
    ref = our_outputs(nncompress, float_model, tmp_path / "t.npy", tmp_path / "float")["hidden"]
    rel = np.linalg.norm(a - ref) / np.linalg.norm(ref)
    assert rel < 0.05, rel


def test_nothing_to_quantize_is_said_and_strict_fails(nncompress, tmp_path):
    conv = os.path.join(ROOT, "models", "lenet5-mnist.onnx")  # Conv layers + Gemm: Gemms quantize
    code, _, err = run([nncompress, "quantize", conv, "-o", tmp_path / "a.onnx", "--method", "dynamic",
                        "--keep", "op:Gemm", "--strict"])
    assert code == 3 and "no MatMul or Gemm" in err, err
