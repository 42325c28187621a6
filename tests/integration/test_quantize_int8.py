"""quantize --method int8: every calibration method keeps LeNet-5's accuracy, the file shrinks about
4x, python3-onnx's full checker accepts the model, and onnxruntime-node's int8 kernels give the
same answers as nncompress's own evaluation (the oracle for "standard ONNX"). Symmetric mode keeps
its Relu (removing it is only exact with a zero point at 0). ResNet-20 checks BatchNorm folding,
MobileNetV2 that its Clip(0, 6)s are absorbed like Relu.
Bad options and data are errors with exit code 2."""
import json
import os

import numpy as np
import onnx
import pytest

from harness import LENET5, MNIST_TEST, ROOT, ort_outputs, our_outputs, run

RESNET20 = os.path.join(ROOT, "models", "resnet20-fmnist.onnx")
MOBILENETV2 = os.path.join(ROOT, "models", "mobilenetv2-fmnist.onnx")
FMNIST_TEST = os.path.join(ROOT, "models", "data", "fmnist-test.npz")
MNIST_TRAIN = os.path.join(ROOT, "build", "data", "mnist-train.npz")  # made by the make_datasets test


def ort_agreement(nncompress, model, test, limit, work):
    """Top-1 agreement and max logit difference between onnxruntime-node and nncompress."""
    d = np.load(test)
    x_path = work / "x.npy"
    np.save(x_path, (d["x"][:limit, None] / 255.0).astype(np.float32))
    ours, theirs = work / "ours", work / "ort"
    c1, _, e1 = run([nncompress, "--quiet", "run", model, "-i", x_path, "-o", ours])
    c2, _, e2 = run(["node", os.path.join(ROOT, "tools", "ort", "run.js"), model, theirs, f"input={x_path}"])
    assert c1 == 0 and c2 == 0, f"{e1.strip()[:200]} {e2.strip()[:200]}"
    a, b = np.load(ours / os.listdir(ours)[0]), np.load(theirs / os.listdir(theirs)[0])
    return float((a.argmax(1) == b.argmax(1)).mean()), float(np.abs(a - b).max())


@pytest.mark.parametrize("method,extra", [("minmax", []), ("percentile", []), ("entropy", []), ("minmax", ["--symmetric"])],
                         ids=["minmax", "percentile", "entropy", "minmax-symmetric"])
def test_lenet5_keeps_accuracy_and_onnxruntime_agrees(nncompress, tmp_path, method, extra):
    out = tmp_path / "int8.onnx"
    code, stdout, err = run([nncompress, "--quiet", "quantize", LENET5, "-o", out, "--calib", MNIST_TRAIN,
                             "--calib-limit", "500", "--calibration", method, "--data", MNIST_TEST, "--json", *extra])
    assert code == 0, err
    j = json.loads(stdout)
    assert j["top1_after"] >= j["top1_before"] - 0.005
    assert os.path.getsize(out) < 0.3 * os.path.getsize(LENET5)
    m = onnx.load(str(out))
    onnx.checker.check_model(m, full_check=True)
    int8 = [t for t in m.graph.initializer if t.data_type == onnx.TensorProto.INT8 and len(t.dims) >= 2]
    assert len(int8) == 4, "the 4 weight tensors are int8 initializers"
    relus = sum(n.op_type == "Relu" for n in m.graph.node)
    assert relus == (1 if extra else 0), "symmetric keeps its Relu, uint8 absorbs it"
    agreement, diff = ort_agreement(nncompress, out, MNIST_TEST, 2004, tmp_path)
    assert agreement >= 0.995 and diff < 0.1, f"agreement {agreement:.4f}, max logit diff {diff:.3g}"


def quantize_fmnist(nncompress, model, work):
    """Quantizes a Fashion-MNIST model (300 calibration images); checks that top-1 on 1,000 test
    images drops at most 1 pp, that onnxruntime-node agrees on 99% of 500, and that int32 biases are
    read without the optional zero point. Returns the JSON summary and the model."""
    out = work / "int8.onnx"
    code, stdout, err = run([nncompress, "--quiet", "quantize", model, "-o", out, "--calib", FMNIST_TEST, "--calib-limit", "300",
                             "--data", FMNIST_TEST, "--limit", "1000", "--json"])
    assert code == 0, err
    j = json.loads(stdout)
    assert j["top1_after"] >= j["top1_before"] - 0.01
    agreement, diff = ort_agreement(nncompress, out, FMNIST_TEST, 500, work)
    assert agreement >= 0.99, f"agreement {agreement:.4f} (max logit diff {diff:.3g})"
    m = onnx.load(str(out))
    int32 = {t.name for t in m.graph.initializer if t.data_type == onnx.TensorProto.INT32}
    bias_dqs = [n for n in m.graph.node if n.op_type == "DequantizeLinear" and n.input[0] in int32]
    assert bias_dqs and all(len(n.input) == 2 for n in bias_dqs)
    return j, m


def test_resnet20_folds_every_batchnorm(nncompress, tmp_path):
    j, m = quantize_fmnist(nncompress, RESNET20, tmp_path)
    assert j["folded_batchnorms"] >= 19 and not any(n.op_type == "BatchNormalization" for n in m.graph.node)
    assert os.path.getsize(RESNET20) / j["file_bytes"] >= 3.7, "the int8 weights alone would be 4x"


@pytest.mark.heavy
def test_mobilenetv2_absorbs_every_clip(nncompress, tmp_path):
    """Relu6 is Clip(0, 6) with bounds from Constant nodes: uint8 absorbs every one (the
    QuantizeLinear after the convolution clamps the same), so ORT runs each conv as one integer op."""
    clips_before = sum(n.op_type == "Clip" for n in onnx.load(MOBILENETV2).graph.node)
    j, m = quantize_fmnist(nncompress, MOBILENETV2, tmp_path)
    read = {i for n in m.graph.node for i in n.input}
    left = [n.name for n in m.graph.node if n.op_type == "Clip" or (n.op_type == "Constant" and n.output[0] not in read)]
    assert clips_before == 35 and j["removed_clips"] == clips_before and not left, left[:5]


@pytest.mark.parametrize("case", ["missing data", "unknown method", "wrong shape"])
def test_bad_options_and_data_exit_2_and_write_nothing(nncompress, tmp_path, case):
    out = tmp_path / "x.onnx"
    if case == "missing data":
        code, _, err = run([nncompress, "quantize", LENET5, "-o", out, "--calib", tmp_path / "none.npz"])
        assert "none.npz" in err
    elif case == "unknown method":
        code, _, err = run([nncompress, "quantize", LENET5, "-o", out, "--calib", FMNIST_TEST, "--calibration", "median"])
        assert "--calibration: 'median' is not one of minmax, percentile, entropy" in err
    else:
        np.save(tmp_path / "wrong.npy", np.zeros((4, 3, 32, 32), np.float32))
        code, _, err = run([nncompress, "quantize", LENET5, "-o", out, "--calib", tmp_path / "wrong.npy"])
        assert "shape" in err
    assert code == 2 and not out.exists(), err


def outlier_encoder(path, tmp_path):
    """The attention encoder (opset 14: LayerNorm written out, ending in Mul(gamma) -> Add(beta))
    with an activation outlier, function unchanged: the first LayerNorm's features 3 and 40 scaled
    up 40x and the QKV weight rows reading them scaled down 40x."""
    from harness import export_attention_encoder
    from onnx import numpy_helper
    plain = tmp_path / "plain.onnx"
    export_attention_encoder(plain)
    m = onnx.load(str(plain))
    inits = {i.name: i for i in m.graph.initializer}
    producer = {o: n for n in m.graph.node for o in n.output}
    qkv = next(n for n in m.graph.node if n.op_type == "MatMul" and n.input[1] in inits)
    beta_add = producer[qkv.input[0]]
    gamma_mul = producer[beta_add.input[0]]
    assert (beta_add.op_type, gamma_mul.op_type) == ("Add", "Mul")
    for name, axis, factor in [(gamma_mul.input[1], 0, 40.0), (beta_add.input[1], 0, 40.0), (qkv.input[1], 0, 1 / 40.0)]:
        a = numpy_helper.to_array(inits[name]).copy()
        index = [slice(None)] * a.ndim
        index[axis] = [3, 40]
        a[tuple(index)] *= factor
        inits[name].CopyFrom(numpy_helper.from_array(a.astype(np.float32), name))
    onnx.save(m, str(path))


def test_smoothquant_recovers_int8_accuracy_lost_to_an_activation_outlier(nncompress, tmp_path):
    model = tmp_path / "outlier.onnx"
    outlier_encoder(model, tmp_path)
    rng = np.random.RandomState(0)
    np.save(tmp_path / "calib.npy", rng.randn(32, 12, 64).astype(np.float32))
    np.save(tmp_path / "probe.npy", rng.randn(8, 12, 64).astype(np.float32))
    ref = our_outputs(nncompress, model, tmp_path / "probe.npy", tmp_path / "float")["hidden"]
    errors = {}
    for alpha in ["0", "0.5"]:
        out = tmp_path / f"int8-{alpha}.onnx"
        code, stdout, err = run([nncompress, "--quiet", "quantize", model, "-o", out, "--calib", tmp_path / "calib.npy",
                                 "--smooth-alpha", alpha, "--json"])
        assert code == 0, err
        assert json.loads(stdout)["smoothed_norms"] == (0 if alpha == "0" else 4)  # 2 LayerNorms per block
        ours = our_outputs(nncompress, out, tmp_path / "probe.npy", tmp_path / f"ours-{alpha}")["hidden"]
        theirs = ort_outputs(out, {"tokens": tmp_path / "probe.npy"}, tmp_path / f"ort-{alpha}")["hidden"]
        assert np.abs(ours - theirs).max() <= 0.05 * np.abs(theirs).max()  # ONNX Runtime runs it alike
        errors[alpha] = np.linalg.norm(ours - ref) / np.linalg.norm(ref)
    assert errors["0.5"] < 0.7 * errors["0"], errors


def test_activation_matmuls_quantize_attention_and_ort_runs_them_alike(nncompress, tmp_path):
    """--activation-matmuls: Q x K^T and scores x V read both operands through DequantizeLinear
    (ONNX Runtime's QLinearMatMul); without it they stay float."""
    from harness import export_attention_encoder
    model = tmp_path / "encoder.onnx"
    export_attention_encoder(model)
    rng = np.random.RandomState(0)
    np.save(tmp_path / "calib.npy", rng.randn(32, 12, 64).astype(np.float32))
    np.save(tmp_path / "probe.npy", rng.randn(4, 12, 64).astype(np.float32))
    ref = our_outputs(nncompress, model, tmp_path / "probe.npy", tmp_path / "float")["hidden"]
    for flag in ([], ["--activation-matmuls"]):
        out = tmp_path / f"int8{len(flag)}.onnx"
        code, _, err = run([nncompress, "--quiet", "quantize", model, "-o", out, "--calib", tmp_path / "calib.npy", *flag])
        assert code == 0, err
        m = onnx.load(str(out))
        inits = {i.name for i in m.graph.initializer}
        producer = {o: n for n in m.graph.node for o in n.output}
        both_computed = [n for n in m.graph.node if n.op_type == "MatMul" and not set(n.input) & inits and
                         not any(producer[i].op_type == "DequantizeLinear" and producer[i].input[0] in inits for i in n.input)]
        assert len(both_computed) == 4  # 2 per block
        dequantized = [all(producer[i].op_type == "DequantizeLinear" for i in n.input) for n in both_computed]
        assert dequantized == [bool(flag)] * 4
        ours = our_outputs(nncompress, out, tmp_path / "probe.npy", tmp_path / f"ours{len(flag)}")["hidden"]
        theirs = ort_outputs(out, {"tokens": tmp_path / "probe.npy"}, tmp_path / f"ort{len(flag)}")["hidden"]
        assert np.abs(ours - theirs).max() <= 0.05 * np.abs(theirs).max()
        assert np.linalg.norm(ours - ref) / np.linalg.norm(ref) < 0.1
