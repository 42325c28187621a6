"""quantize --method focused: a magnitude-pruned LeNet-5 quantized to 5-bit powers of two keeps its
zeros and its accuracy, uses at most 32 values per layer, reports encoded sizes far below the dense
bytes, is stored as packed codebook indices (the file shrinks) that onnxruntime-node decodes to the
same weights and outputs; incremental fine-tuning runs (with float storage)."""
import json
import os

import numpy as np
import pytest

from harness import LENET5, MNIST_TEST, assert_same_as_ort, ort_layer_weights, run
from harness import layer_weights as weights


@pytest.fixture(scope="module")
def pruned(nncompress, tmp_path_factory):
    out = tmp_path_factory.mktemp("focused") / "pruned.onnx"
    code, _, err = run([nncompress, "--quiet", "prune", LENET5, "-o", out, "--method", "magnitude", "--sparsity", "0.9"])
    assert code == 0, err
    return out


def test_five_bit_powers_of_two_keep_zeros_accuracy_and_shrink_the_file(nncompress, pruned, tmp_path):
    out = tmp_path / "focused.onnx"
    code, stdout, err = run([nncompress, "--quiet", "quantize", pruned, "-o", out, "--method", "focused", "--bits", "5",
                             "--data", MNIST_TEST, "--json"])
    assert code == 0, err
    j = json.loads(stdout)
    # The weights as onnxruntime-node decodes them from the packed codebook storage.
    before, after = weights(str(pruned)), ort_layer_weights(str(out), str(tmp_path))
    assert all(((a == 0) == (b == 0)).all() for a, b in zip(before, after)), "zeros stay zero, non-zeros non-zero"
    assert all(l["stored_bits"] <= 6 for l in j["layers"])
    assert j["file_bytes"] < os.path.getsize(pruned) / 4
    assert all(len(np.unique(w[w != 0])) <= 32 for w in after)
    assert j["top1_after"] >= j["top1_before"] - 0.005
    dense = 4 * sum(w.size for w in before)
    assert j["weights_huffman_bytes"] <= j["weights_encoded_bytes"] < dense / 20
    assert any(layer["recentralized"] for layer in j["layers"]), "pruned layers are bimodal: recentralized"
    assert_same_as_ort(nncompress, str(out), MNIST_TEST, tmp_path)


def test_incremental_fine_tuning_with_float_storage(nncompress, pruned, tmp_path):
    tuned = tmp_path / "tuned.onnx"
    code, _, err = run([nncompress, "--quiet", "--threads", "1", "quantize", pruned, "-o", tuned, "--method", "focused",
                        "--bits", "4", "--data", MNIST_TEST, "--limit", "1000", "--epochs", "1", "--float-storage", "--json"])
    assert code == 0, err
    after = weights(str(tuned))
    assert all(len(np.unique(w[w != 0])) <= 16 for w in after)
    assert all(w.dtype == np.float32 for w in after)
    assert all(((a == 0) == (b == 0)).all() for a, b in zip(weights(str(pruned)), after)), "fine-tuning keeps the zeros"


def test_bits_out_of_range_exit_2(nncompress, pruned, tmp_path):
    code, _, err = run([nncompress, "quantize", pruned, "-o", tmp_path / "x.onnx", "--method", "focused", "--bits", "9"])
    assert code == 2 and "--bits: 9 is not in [3, 8]" in err, err
