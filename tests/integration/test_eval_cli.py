"""`eval`, `compare` and `run` on a small classifier whose answers numpy computes independently,
with the dataset in every supported format (.npz stored and deflated, .npy, gzipped IDX with labels
beside it, ONNX test-data folder), plus the errors bad data must give."""
import gzip
import json
import struct
import types

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from harness import run

N, CLASSES = 203, 10


def classifier(path, weights):
    g = helper.make_graph(
        [helper.make_node("Flatten", ["x"], ["f"]), helper.make_node("MatMul", ["f", "w"], ["logits"])], "clf",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 4, 4])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", CLASSES])], [numpy_helper.from_array(weights, "w")])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), str(path))


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    """The models, the data in every format, and what numpy says the answers are."""
    work = tmp_path_factory.mktemp("eval")
    rng = np.random.RandomState(7)
    c = types.SimpleNamespace(work=work, model=work / "clf.onnx", other=work / "clf2.onnx", files={})
    c.W = rng.randn(16, CLASSES).astype(np.float32)
    classifier(c.model, c.W)
    c.W2 = c.W + rng.randn(*c.W.shape).astype(np.float32) * 0.5
    classifier(c.other, c.W2)
    c.x = rng.randint(0, 256, size=(N, 4, 4)).astype(np.uint8)
    c.logits = (c.x.reshape(N, 16) / 255.0).astype(np.float32) @ c.W
    c.pred = c.logits.argmax(1)
    # Labels: the prediction for 3 of every 4 samples, another class otherwise.
    c.y = np.where(np.arange(N) % 4 == 0, (c.pred + 1) % CLASSES, c.pred).astype(np.int64)
    c.top1 = float((c.pred == c.y).mean())
    c.top5 = float((np.argsort(-c.logits, 1)[:, :5] == c.y[:, None]).any(1).mean())
    c.files["npz"] = work / "d.npz"
    np.savez(c.files["npz"], x=c.x, y=c.y)
    c.files["npz-compressed"] = work / "dc.npz"
    np.savez_compressed(c.files["npz-compressed"], x=c.x, y=c.y)
    idx = work / "idx"
    idx.mkdir()
    c.files["idx"] = idx / "t10k-images-idx3-ubyte.gz"
    with gzip.open(c.files["idx"], "wb") as f:
        f.write(struct.pack(">BBBBIII", 0, 0, 8, 3, N, 4, 4) + c.x.tobytes())
    with gzip.open(idx / "t10k-labels-idx1-ubyte.gz", "wb") as f:
        f.write(struct.pack(">BBBBI", 0, 0, 8, 1, N) + c.y.astype(np.uint8).tobytes())
    c.rng = rng
    return c


@pytest.mark.parametrize("fmt", ["npz", "npz-compressed", "idx"])
def test_eval_equals_numpy_in_every_format(nncompress, case, fmt):
    code, out, err = run([nncompress, "eval", case.model, "--data", case.files[fmt], "--json", "--batch", "16"])
    assert code == 0, err
    j = json.loads(out)
    assert j["samples"] == N
    assert abs(j["top1"] - case.top1) < 1e-9 and abs(j["top5"] - case.top5) < 1e-9
    assert j["samples_per_second"] > 0
    # N samples in batches of 16: the first batch timed alone, the rest as the steady state.
    assert 0 < j["first_batch_seconds"] < j["seconds"] and j["steady_samples_per_second"] > 0


def test_without_labels_accuracy_is_unknown_not_zero(nncompress, case):
    npy = case.work / "x.npy"
    np.save(npy, case.x)
    code, out, _ = run([nncompress, "eval", case.model, "--data", npy, "--limit", "50", "--json"])
    j = json.loads(out)
    assert code == 0 and j["samples"] == 50 and j["top1"] is None


def test_an_onnx_test_data_folder(nncompress, case):
    td = case.work / "testdata" / "test_data_set_0"
    td.mkdir(parents=True)
    (td / "input_0.pb").write_bytes(numpy_helper.from_array((case.x[:8, None] / 255.0).astype(np.float32)).SerializeToString())
    code, out, err = run([nncompress, "eval", case.model, "--data", td.parent, "--json"])
    assert code == 0 and json.loads(out)["samples"] == 8, err


def test_compare_with_itself(nncompress, case):
    code, out, _ = run([nncompress, "compare", case.model, case.model, "--data", case.files["npz"], "--json"])
    j = json.loads(out)
    assert code == 0 and j["agreement"] == 1.0 and j["max_abs_diff"] == 0 and j["snr_db"] is None


def test_compare_with_a_perturbed_copy_equals_numpy(nncompress, case):
    logits2 = (case.x.reshape(N, 16) / 255.0).astype(np.float32) @ case.W2
    agreement = float((logits2.argmax(1) == case.pred).mean())
    snr = 10 * np.log10((case.logits.astype(np.float64) ** 2).sum() / ((case.logits - logits2).astype(np.float64) ** 2).sum())
    code, out, err = run([nncompress, "compare", case.model, case.other, "--data", case.files["npz"], "--json"])
    assert code == 0, err
    j = json.loads(out)
    assert abs(j["agreement"] - agreement) < 1e-9
    assert abs(j["snr_db"] - snr) < 1e-3
    assert abs(j["base_top1"] - case.top1) < 1e-9
    assert {"agreement", "base_top1", "candidate_top1", "snr_db", "max_abs_diff"} <= set(j)


def test_run_writes_what_numpy_computes(nncompress, case):
    xin = case.work / "xin.npy"
    np.save(xin, (case.x[:5, None] / 255.0).astype(np.float32))
    code, _, err = run([nncompress, "run", case.model, "-i", f"x={xin}", "-o", case.work / "out"])
    assert code == 0, err
    assert np.allclose(np.load(case.work / "out" / "logits.npy"), case.logits[:5], rtol=1e-5, atol=1e-5)
    code, _, err = run([nncompress, "run", case.model, "-i", f"y={xin}", "-o", case.work / "out2"])
    assert code == 2 and "'x'" in err, err


@pytest.mark.parametrize("kind", ["wrong shape", "label count", "missing file", "corrupt npz"])
def test_bad_data_exits_2_with_a_clear_error(nncompress, case, kind):
    path = case.work / (kind.replace(" ", "-") + ".npz")
    if kind == "wrong shape":
        np.savez(path, x=case.rng.rand(4, 3, 5, 5).astype(np.float32), y=np.zeros(4, np.int64))
    elif kind == "label count":
        np.savez(path, x=case.x, y=case.y[:10])
    elif kind == "corrupt npz":
        path.write_bytes(b"PK\x03\x04 not really a zip")
    code, _, err = run([nncompress, "eval", case.model, "--data", path])
    assert code == 2 and err.startswith("error:"), err
    if kind == "wrong shape":
        assert "[3,5,5]" in err and "expects" in err
    if kind == "label count":
        assert "labels" in err
