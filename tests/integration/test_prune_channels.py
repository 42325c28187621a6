"""prune --method channels on the seven torchvision models: the pruned model is smaller, loads in
onnxruntime-node with unchanged output shapes and the same outputs as nncompress computes for it;
with --ratio 0 the outputs equal the original's."""
import json
import os

import numpy as np
import pytest

from harness import LENET5, MNIST_TEST, ROOT, export_torchvision, run

MODELS = ["resnet18", "mobilenet_v2", "densenet121", "googlenet", "squeezenet1_1", "shufflenet_v2_x1_0",
          "efficientnet_b0"]
# Models whose channel groups are prunable (the others reach outputs or shuffle channels).
SHRINK = {"resnet18", "mobilenet_v2", "densenet121", "googlenet"}


@pytest.fixture(scope="module")
def exported(models_dir):
    return export_torchvision(models_dir, MODELS)


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    path = tmp_path_factory.mktemp("prune") / "x.npy"
    np.save(path, np.random.RandomState(5).randn(2, 3, 224, 224).astype(np.float32))
    return path


def outputs(nncompress, model, runtime, batch, out):
    if runtime == "nncompress":
        code, _, err = run([nncompress, "--quiet", "run", model, "-i", batch, "-o", out])
    else:
        code, _, err = run(["node", os.path.join(ROOT, "tools", "ort", "run.js"), model, out, f"input={batch}"])
    assert code == 0, f"{runtime}: {err.strip()[:300]}"
    return np.load(os.path.join(out, "logits.npy"))


@pytest.mark.parametrize("name", MODELS)
def test_pruned_model_is_smaller_and_onnxruntime_agrees(nncompress, exported, batch, tmp_path, name):
    pruned = tmp_path / "pruned.onnx"
    code, out, err = run([nncompress, "--quiet", "prune", exported[name], "-o", pruned, "--ratio", "0.3", "--json"])
    assert code == 0, err
    j = json.loads(out)
    if name in SHRINK:
        assert j["groups_pruned"] > 0 and j["params_after"] < j["params_before"] and j["macs_after"] < j["macs_before"]
    ours = outputs(nncompress, pruned, "nncompress", batch, tmp_path / "ours")
    theirs = outputs(nncompress, pruned, "ort", batch, tmp_path / "ort")
    assert ours.shape == theirs.shape == (2, 1000)
    rel = float(np.abs(ours - theirs).max() / max(np.abs(theirs).max(), 1e-12))
    assert rel <= 1e-4, f"relative difference {rel:.1e}"


@pytest.mark.parametrize("flag,key", [("--target-macs", "macs"), ("--target-params", "params")])
def test_a_global_target_is_met_closely(nncompress, exported, batch, tmp_path, flag, key):
    out = tmp_path / "mobilenet_v2.onnx"
    code, stdout, err = run([nncompress, "--quiet", "prune", exported["mobilenet_v2"], "-o", out, flag, "0.5", "--json"])
    assert code == 0, err
    j = json.loads(stdout)
    assert 0.45 <= j[f"{key}_after"] / j[f"{key}_before"] <= 0.5
    ours = outputs(nncompress, out, "nncompress", batch, tmp_path / "ours")
    theirs = outputs(nncompress, out, "ort", batch, tmp_path / "ort")
    assert np.allclose(ours, theirs, rtol=1e-4, atol=1e-4 * np.abs(theirs).max())


def test_an_unreachable_target_exits_2_and_writes_nothing(nncompress, exported, tmp_path):
    out = tmp_path / "x.onnx"
    code, _, err = run([nncompress, "prune", exported["resnet18"], "-o", out, "--target-macs", "0.01"])
    assert code == 2 and "cannot reach" in err and not out.exists(), err


@pytest.mark.parametrize("name", ["resnet18", "densenet121"])
def test_ratio_0_gives_identical_outputs(nncompress, exported, batch, tmp_path, name):
    same = tmp_path / "ratio0.onnx"
    code, _, err = run([nncompress, "--quiet", "prune", exported[name], "-o", same, "--ratio", "0"])
    assert code == 0, err
    a = outputs(nncompress, exported[name], "nncompress", batch, tmp_path / "orig")
    b = outputs(nncompress, same, "nncompress", batch, tmp_path / "ratio0")
    assert np.array_equal(a, b)


def test_taylor_needs_labeled_data_and_uses_it(nncompress, tmp_path):
    code, _, err = run([nncompress, "prune", LENET5, "-o", tmp_path / "t0.onnx", "--criterion", "taylor"])
    assert code == 2 and "needs labeled training data" in err, err
    code, out, err = run([nncompress, "--quiet", "prune", LENET5, "-o", tmp_path / "t1.onnx", "--criterion", "taylor",
                          "--ratio", "0.5", "--prune-first-conv", "--data", MNIST_TEST, "--limit", "512", "--json"])
    assert code == 0, err
    j = json.loads(out)
    assert j["groups_pruned"] == 3 and j["top1_after"] is not None and j["top1_after"] > 0.5


def test_channel_counts_off_the_runtimes_blocks_are_reported_and_round_to_keeps_them(nncompress, exported, tmp_path):
    """resnet18's 64..512 channels pruned by 0.3 end off multiples of 8, which the pass says
    (ONNX Runtime's blocked convolutions need multiples of 16 on AVX-512); --round-to 16 keeps them."""
    counts = {}
    for round_to in ("1", "16"):
        code, out, err = run([nncompress, "prune", exported["resnet18"], "-o", tmp_path / f"r{round_to}.onnx", "--ratio",
                              "0.3", "--round-to", round_to, "--json"])
        assert code == 0, err
        j = json.loads(out)
        counts[round_to] = j["unaligned_layers"]
        if round_to == "16":
            pruned = [layer for layer in j["layers"] if layer["channels_after"] != layer["channels_before"]]
            assert pruned and all(layer["channels_after"] % 16 == 0 for layer in pruned)
    assert counts["1"] > 0 and counts["16"] == 0
    code, out, err = run([nncompress, "prune", exported["resnet18"], "-o", tmp_path / "text.onnx", "--ratio", "0.3"])
    assert code == 0 and f"{counts['1']} layers now have channel counts that are not multiples of 8" in out + err
