"""prune --method autoprune: trains auxiliary parameters on labeled data (or by distillation),
meets the requested sparsity exactly, keeps accuracy, is deterministic for a seed, and
onnxruntime-node computes the same outputs as nncompress on the pruned model. With
--granularity channels it removes channels for real and meets a MAC target."""
import json

import numpy as np
import pytest

from harness import LENET5, MNIST_TEST, assert_same_as_ort, run
from harness import layer_weights as weights

COMMON = ["--method", "autoprune", "--sparsity", "0.9", "--data", MNIST_TEST, "--limit", "2000", "--epochs", "3",
          "--batch", "32", "--lr", "0.01", "--seed", "3", "--json"]


@pytest.fixture(scope="module")
def unstructured(nncompress, tmp_path_factory):
    """(path, JSON) of LeNet-5 pruned to 90% by AutoPrune."""
    out = tmp_path_factory.mktemp("autoprune") / "a.onnx"
    code, stdout, err = run([nncompress, "--quiet", "--threads", "1", "prune", LENET5, "-o", out, *COMMON])
    assert code == 0, err
    return out, json.loads(stdout)


def test_meets_the_sparsity_exactly_and_keeps_accuracy(unstructured):
    out, j = unstructured
    ws = weights(str(out))
    zeros = sum(int((w == 0).sum()) for w in ws) / sum(w.size for w in ws)
    assert abs(zeros - 0.9) < 0.002
    assert j["method"] == "autoprune" and j["nonzeros_after"] < 0.12 * j["nonzeros_before"]
    # 2,000 samples for 3 epochs at 90% sparsity: a trained, not a broken, model.
    assert j["top1_after"] is not None and j["top1_after"] > 0.95


def test_onnxruntime_agrees(nncompress, unstructured, tmp_path):
    assert_same_as_ort(nncompress, str(unstructured[0]), MNIST_TEST, tmp_path)


def test_the_same_seed_gives_a_byte_identical_model(nncompress, unstructured, tmp_path):
    again = tmp_path / "b.onnx"
    code, _, err = run([nncompress, "--quiet", "--threads", "1", "prune", LENET5, "-o", again, *COMMON])
    assert code == 0, err
    assert again.read_bytes() == unstructured[0].read_bytes()


def test_structured_removes_channels_and_meets_the_mac_target(nncompress, tmp_path):
    out = tmp_path / "s.onnx"
    code, stdout, err = run([nncompress, "--quiet", "--threads", "1", "prune", LENET5, "-o", out, "--method", "autoprune",
                             "--granularity", "channels", "--target-macs", "0.4", "--prune-first-conv", "--data", MNIST_TEST,
                             "--limit", "2000", "--epochs", "2", "--batch", "32", "--lr", "0.01", "--seed", "3", "--json"])
    assert code == 0, err
    j = json.loads(stdout)
    assert j["granularity"] == "channels" and j["macs_after"] <= 0.4 * j["macs_before"]
    shrunk = [l for l in j["layers"] if l["channels_after"] < l["channels_before"]]
    assert len(shrunk) >= 1 and j["params_after"] < j["params_before"]
    assert j["top1_after"] is not None and j["top1_after"] > 0.9
    assert_same_as_ort(nncompress, str(out), MNIST_TEST, tmp_path)


@pytest.fixture
def unlabeled(tmp_path):
    path = tmp_path / "x.npy"
    np.save(path, np.load(MNIST_TEST)["x"][:500])
    return path


def test_distillation_works_without_labels(nncompress, tmp_path, unlabeled):
    code, _, err = run([nncompress, "--quiet", "prune", LENET5, "-o", tmp_path / "d.onnx", "--method", "autoprune",
                        "--sparsity", "0.5", "--data", unlabeled, "--epochs", "1", "--distill", "--json"])
    assert code == 0, err


@pytest.mark.parametrize("args,needle", [
    (["--granularity", "channels", "--sparsity", "0.5", "--data", MNIST_TEST, "--epochs", "1"],
     "--granularity channels takes --target-macs or --target-params, not --sparsity"),
    (["--data", "UNLABELED", "--epochs", "1"], "needs labels in --data (or --distill)"),
    # AutoPrune trains (5 epochs unless told): data it needs, and at least one epoch.
    ([], "needs labeled training data: give --data"),
    (["--data", MNIST_TEST, "--epochs", "0"], "--epochs must be at least 1"),
])
def test_what_cannot_run_exits_2(nncompress, tmp_path, unlabeled, args, needle):
    args = [str(unlabeled) if a == "UNLABELED" else a for a in args]
    out = tmp_path / "x.onnx"
    code, _, err = run([nncompress, "prune", LENET5, "-o", out, "--method", "autoprune", *args])
    assert code == 2 and needle in err and not out.exists(), err
