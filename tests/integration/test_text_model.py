"""The reference text classifier (models/bert-debian.onnx: token ids and an attention mask in,
Gather embeddings, attention masked by Where, separate Q/K/V, GELU as Erf) through the transformer
passes in both export forms: opset 17 LayerNormalization as shipped, and LayerNorm written out as
ReduceMean/Sub/Pow/Sqrt/Div, as exporters before opset 17 write it (the same weights exported again
at opset 14). ONNX Runtime runs every output model and agrees with nncompress."""
import json
import os

import numpy as np
import onnx
import pytest

from harness import ORT_EXACT_MATMULNBITS, ROOT, ort_outputs, our_outputs, run

MODEL = os.path.join(ROOT, "models", "bert-debian.onnx")
TEST = os.path.join(ROOT, "models", "data", "debian-sections-test.npz")


@pytest.fixture(scope="module")
def forms(tmp_path_factory):
    folder = tmp_path_factory.mktemp("text")
    code, _, err = run(["/usr/bin/python3", os.path.join(ROOT, "tools", "models", "export_architectures.py"),
                        "--text-weights", MODEL, "--opset", "14", "--out", folder])
    assert code == 0, err
    return {"opset17": MODEL, "opset14": str(folder / "bert-debian-opset14.onnx")}


def feeds_of(tmp_path, rows):
    """The first `rows` test samples as int64 .npy files, by input name."""
    d = np.load(TEST)
    paths = {}
    for name in ("input_ids", "attention_mask"):
        paths[name] = tmp_path / f"{name}.npy"
        np.save(paths[name], d[name][:rows].astype(np.int64))
    return paths


def logits(nncompress, model, tmp_path, ort_options=(), rows=64):
    """(nncompress's, ONNX Runtime's) logits of the first `rows` test samples."""
    feeds = feeds_of(tmp_path, rows)
    stem = os.path.basename(str(model))[:-5]
    return (our_outputs(nncompress, model, feeds, tmp_path / f"ours-{stem}")["logits"],
            ort_outputs(model, feeds, tmp_path / f"ort-{stem}", ort_options)["logits"])


def top1(nncompress, model):
    code, out, err = run([nncompress, "--quiet", "eval", str(model), "--data", TEST, "--limit", "1000", "--json"])
    assert code == 0, err
    return json.loads(out)["top1"]


def ops(path):
    return [n.op_type for n in onnx.load(str(path)).graph.node]


def table_types(path):
    """Element types of the [2048, 256] token-embedding table(s) in a model."""
    return [i.data_type for i in onnx.load(str(path)).graph.initializer if list(i.dims) == [2048, 256]]


def test_the_older_export_writes_layernorm_out_and_computes_the_same(nncompress, forms, tmp_path):
    old = ops(forms["opset14"])
    assert "LayerNormalization" not in old and {"ReduceMean", "Pow", "Sqrt", "Div"} <= set(old)
    assert ops(forms["opset17"]).count("LayerNormalization") == 5
    ours17, ort17 = logits(nncompress, forms["opset17"], tmp_path)
    ours14, ort14 = logits(nncompress, forms["opset14"], tmp_path)
    for a, b in [(ours17, ort17), (ours14, ort14), (ours14, ours17)]:
        assert np.abs(a - b).max() <= 1e-4 * max(np.abs(b).max(), 1)


@pytest.mark.parametrize("form", ["opset17", "opset14"])
def test_dynamic_int8_keeps_the_accuracy_and_ort_agrees(nncompress, forms, tmp_path, form):
    out = tmp_path / "dynamic.onnx"
    code, _, err = run([nncompress, "--quiet", "quantize", forms[form], "-o", out, "--method", "dynamic"])
    assert code == 0, err
    assert ops(out).count("MatMulInteger") == 13  # Q, K, V, O, up, down x 2 layers, the head
    assert table_types(out) == [onnx.TensorProto.INT8]  # the embedding table too
    assert os.path.getsize(forms[form]) / os.path.getsize(out) > 3.5
    assert top1(nncompress, out) >= top1(nncompress, forms[form]) - 0.015
    ours, theirs = logits(nncompress, out, tmp_path)
    assert np.abs(ours - theirs).max() <= 0.05 * max(np.abs(theirs).max(), 1)
    kept = tmp_path / "float-table.onnx"
    code, _, err = run([nncompress, "--quiet", "quantize", forms[form], "-o", kept, "--method", "dynamic",
                        "--float-embeddings"])
    assert code == 0, err
    assert table_types(kept) == [onnx.TensorProto.FLOAT]


@pytest.mark.parametrize("form", ["opset17", "opset14"])
def test_static_int8_weight_only_and_head_pruning_run_in_ort(nncompress, forms, tmp_path, form):
    calib = ["--calib", TEST, "--calib-limit", "256"]
    # Exact for float arithmetic on the same weights; within rounding of the integer kernels for int8.
    for label, command, tolerance, ort_options in [
        ("int8", ["quantize", "--method", "int8", *calib], 0.2, ()),
        ("weight-only", ["quantize", "--method", "weight-only"], 1e-4, ORT_EXACT_MATMULNBITS),
        ("heads", ["prune", "--method", "channels", "--target-macs", "0.6"], 1e-4, ()),
    ]:
        out = tmp_path / f"{label}.onnx"
        code, _, err = run([nncompress, "--quiet", command[0], forms[form], "-o", out, *command[1:]])
        assert code == 0, f"{label}: {err}"
        ours, theirs = logits(nncompress, out, tmp_path, ort_options)
        assert np.abs(ours - theirs).max() <= tolerance * max(np.abs(theirs).max(), 1), label
    assert table_types(tmp_path / "int8.onnx") == [onnx.TensorProto.INT8]  # weight-only, dequantized after the lookup
    inits = {i.name: i for i in onnx.load(str(tmp_path / "heads.onnx")).graph.initializer}
    widths = [inits[f"layers.{k}.q.weight"].dims[1] for k in range(2)]
    assert all(w % 64 == 0 for w in widths) and sum(widths) < 512  # whole heads of 64 went
