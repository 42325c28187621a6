"""prune --method magnitude: the requested share of weights becomes zero (globally or per layer),
fine-tuning keeps them zero, --sparse-format onnx shrinks the file, and onnxruntime-node loads the
sparse model and computes the same outputs as nncompress."""
import json
import os

import onnx
import pytest

from harness import LENET5, MNIST_TEST, assert_same_as_ort, run
from harness import layer_weights as weights


def zero_fraction(path):
    ws = weights(str(path))
    return sum(int((w == 0).sum()) for w in ws) / sum(w.size for w in ws)


@pytest.mark.parametrize("mode", ["global", "per-layer"])
def test_the_requested_share_becomes_zero(nncompress, tmp_path, mode):
    out = tmp_path / f"{mode}.onnx"
    extra = ["--per-layer"] if mode == "per-layer" else []
    code, stdout, err = run([nncompress, "--quiet", "prune", LENET5, "-o", out, "--method", "magnitude", "--sparsity", "0.8",
                             "--json", *extra])
    assert code == 0, err
    assert abs(zero_fraction(out) - 0.8) < 0.01
    if mode == "per-layer":
        assert all(abs((w == 0).mean() - 0.8) < 0.02 for w in weights(str(out)))
    j = json.loads(stdout)
    assert j["nonzeros_after"] < j["nonzeros_before"] and j["relative_index_bytes"] < j["initializer_bytes_after"]


def test_fine_tuning_keeps_zeros_and_sparse_storage_runs_in_ort(nncompress, tmp_path):
    tuned = tmp_path / "tuned.onnx"
    code, _, err = run([nncompress, "--quiet", "prune", LENET5, "-o", tuned, "--method", "magnitude", "--sparsity", "0.9",
                        "--data", MNIST_TEST, "--limit", "1000", "--epochs", "1", "--sparse-format", "onnx", "--json"])
    assert code == 0, err
    assert zero_fraction(tuned) >= 0.899
    assert len(onnx.load(str(tuned)).graph.sparse_initializer) > 0
    assert os.path.getsize(tuned) < 0.5 * os.path.getsize(LENET5)
    assert_same_as_ort(nncompress, str(tuned), MNIST_TEST, tmp_path)


def test_gradual_pruning_ends_at_the_requested_sparsity(nncompress, tmp_path):
    out = tmp_path / "gradual.onnx"
    code, _, err = run([nncompress, "--quiet", "prune", LENET5, "-o", out, "--method", "magnitude", "--sparsity", "0.9",
                        "--gradual", "--data", MNIST_TEST, "--limit", "1000", "--epochs", "2", "--json"])
    assert code == 0, err
    assert zero_fraction(out) >= 0.899


@pytest.mark.parametrize("args,needle", [
    (["--gradual"], "--gradual needs --epochs > 0"),
    (["--epochs", "1"], "needs labeled training data: give --data"),
])
def test_what_cannot_run_exits_2(nncompress, tmp_path, args, needle):
    code, _, err = run([nncompress, "prune", LENET5, "-o", tmp_path / "x.onnx", "--method", "magnitude", *args])
    assert code == 2 and needle in err, err
