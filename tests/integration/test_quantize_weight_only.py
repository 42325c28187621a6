"""quantize --method weight-only (quant.weight-only): block-wise 4/8-bit MatMul/Gemm weights as
opset-21 DequantizeLinear(block_size) -> MatMul. ONNX Runtime is the oracle: it loads every model
and its outputs equal ours. The trained MLP keeps its top-1 within a point at ~5 bits per weight;
GPTQ on calibration data brings the outputs of a self-attention encoder closer to float than
round-to-nearest does at the same size."""
import json
import os

import numpy as np
import onnx
from onnx import numpy_helper

from harness import MNIST_TEST, ORT_EXACT_MATMULNBITS, ROOT, export_attention_encoder, ort_outputs, our_outputs, run

LENET300 = os.path.join(ROOT, "models", "lenet-300-100-mnist.onnx")


def quantize(nncompress, model, out, *options):
    code, stdout, err = run([nncompress, "--quiet", "quantize", str(model), "-o", str(out), "--method", "weight-only",
                             "--json", *options])
    assert code == 0, err
    return json.loads(stdout)


def top1(nncompress, model):
    code, out, err = run([nncompress, "--quiet", "eval", str(model), "--data", MNIST_TEST, "--json"])
    assert code == 0, err
    return json.loads(out)["top1"]


def blocked_dequantizers(path):
    m = onnx.load(str(path))
    return m, [n for n in m.graph.node if n.op_type == "DequantizeLinear"]


def test_mlp_int4_keeps_accuracy_is_5x_smaller_and_ort_agrees(nncompress, tmp_path):
    out = tmp_path / "w4.onnx"
    report = quantize(nncompress, LENET300, out)
    m, dqs = blocked_dequantizers(out)
    assert m.opset_import[0].version == 21 and m.ir_version >= 10
    assert len(dqs) == 3 and "Gemm" not in [n.op_type for n in m.graph.node]
    for dq in dqs:
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in dq.attribute}
        assert attrs == {"axis": 0, "block_size": 32}
        codes = next(i for i in m.graph.initializer if i.name == dq.input[0])
        # UINT4 (21): python3-onnx 1.12 predates the name; two codes per byte
        assert codes.data_type == 21 and len(codes.raw_data) * 2 >= np.prod(codes.dims)
    assert os.path.getsize(LENET300) / os.path.getsize(out) > 5
    assert 5.1 < report["bits_per_weight"] < 5.2  # 4-bit codes + a float scale and a 4-bit zero point per 32
    before, after = top1(nncompress, LENET300), top1(nncompress, out)
    assert after >= before - 0.01, (before, after)  # fractions: at most 1 point lost
    x = np.load(MNIST_TEST)["x"][:32].astype(np.float32).reshape(32, 1, 28, 28) / 255
    np.save(tmp_path / "x.npy", x)
    feeds = {m.graph.input[0].name: tmp_path / "x.npy"}
    a = our_outputs(nncompress, out, tmp_path / "x.npy", tmp_path / "ours")["logits"]
    exact = ort_outputs(out, feeds, tmp_path / "ort-exact", ORT_EXACT_MATMULNBITS)["logits"]
    assert np.abs(a - exact).max() <= 1e-4 * np.abs(exact).max()
    # ONNX Runtime's default int8 activations in MatMulNBits: near, the same classes.
    fast = ort_outputs(out, feeds, tmp_path / "ort")["logits"]
    assert np.abs(a - fast).max() <= 0.01 * np.abs(fast).max() and (a.argmax(1) == fast.argmax(1)).all()


def test_symmetric_int8_blocks_are_signed_without_zero_points(nncompress, tmp_path):
    out = tmp_path / "w8.onnx"
    quantize(nncompress, LENET300, out, "--bits", "8", "--block", "64", "--symmetric")
    m, dqs = blocked_dequantizers(out)
    inits = {i.name: i for i in m.graph.initializer}
    for dq in dqs:
        assert len(dq.input) == 2 and inits[dq.input[0]].data_type == onnx.TensorProto.INT8
        scale = numpy_helper.to_array(inits[dq.input[1]])
        codes = numpy_helper.to_array(inits[dq.input[0]])
        assert scale.shape == (-(-codes.shape[0] // 64), codes.shape[1])
    assert top1(nncompress, out) >= top1(nncompress, LENET300) - 0.002


def test_gptq_beats_rtn_on_an_attention_encoder_and_ort_agrees(nncompress, tmp_path):
    float_model = tmp_path / "encoder.onnx"
    export_attention_encoder(float_model)
    calib, probe = tmp_path / "calib.npy", tmp_path / "probe.npy"
    rng = np.random.RandomState(0)
    # Inputs with a few strong feature directions, as hidden states have: GPTQ's Hessian sees them.
    mix = rng.randn(64, 64).astype(np.float32) * np.linspace(3, 0.05, 64, dtype=np.float32)[:, None]
    np.save(calib, (rng.randn(64, 12, 64).astype(np.float32) @ mix).astype(np.float32))
    np.save(probe, (rng.randn(8, 12, 64).astype(np.float32) @ mix).astype(np.float32))
    ref = our_outputs(nncompress, float_model, probe, tmp_path / "float")["hidden"]
    errors = {}
    for algorithm in ["rtn", "gptq"]:
        out = tmp_path / f"{algorithm}.onnx"
        quantize(nncompress, float_model, out, "--algorithm", algorithm, "--block", "16", "--calib", calib)
        m, dqs = blocked_dequantizers(out)
        assert len(dqs) == 8  # qkv, proj and two MLP layers in each of two blocks
        a = our_outputs(nncompress, out, probe, tmp_path / f"ours-{algorithm}")["hidden"]
        b = ort_outputs(out, {"tokens": probe}, tmp_path / f"ort-{algorithm}", ORT_EXACT_MATMULNBITS)["hidden"]
        assert np.abs(a - b).max() <= 1e-4 * np.abs(b).max(), algorithm
        errors[algorithm] = np.linalg.norm(a - ref) / np.linalg.norm(ref)
    assert errors["gptq"] < 0.9 * errors["rtn"], errors


def test_gptq_needs_data_and_bits_must_be_4_or_8(nncompress, tmp_path):
    code, _, err = run([nncompress, "quantize", LENET300, "-o", tmp_path / "a.onnx", "--method", "weight-only",
                        "--algorithm", "gptq"])
    assert code == 2 and "data" in err, err
    code, _, err = run([nncompress, "quantize", LENET300, "-o", tmp_path / "b.onnx", "--method", "weight-only",
                        "--bits", "5"])
    assert code == 2 and "--bits must be 4 or 8" in err, err
    assert not (tmp_path / "a.onnx").exists() and not (tmp_path / "b.onnx").exists()
