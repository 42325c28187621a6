"""The executor against ONNX Runtime (onnxruntime-node): seven torchvision models, exported with
random weights (fixed seed), run in both on the same random batch; outputs agree within 1e-4
relative (max |nncompress - ORT| / max |ORT|)."""
import os

import numpy as np
import pytest

from harness import ROOT, export_torchvision, run

MODELS = ["resnet18", "mobilenet_v2", "squeezenet1_1", "shufflenet_v2_x1_0", "densenet121", "googlenet",
          "efficientnet_b0"]


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    path = tmp_path_factory.mktemp("ort") / "x.npy"
    np.save(path, np.random.RandomState(42).randn(2, 3, 224, 224).astype(np.float32))
    return path


@pytest.fixture(scope="module")
def exported(models_dir):
    return export_torchvision(models_dir, MODELS)


@pytest.mark.parametrize("name", MODELS)
def test_outputs_agree_with_onnxruntime(nncompress, exported, batch, tmp_path, name):
    model = exported[name]
    ours, theirs = tmp_path / "nncompress", tmp_path / "ort"
    code, _, err = run([nncompress, "--quiet", "run", model, "-i", batch, "-o", ours])
    assert code == 0, err
    code, _, err = run(["node", os.path.join(ROOT, "tools", "ort", "run.js"), model, theirs, f"input={batch}"])
    assert code == 0, err
    a, b = np.load(ours / "logits.npy"), np.load(theirs / "logits.npy")
    assert a.shape == b.shape == (2, 1000)
    rel = float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-12))
    assert rel <= 1e-4, f"relative difference {rel:.2e}"
