"""The shipped models: the accuracy in models/README.md is what `nncompress eval` prints, and
onnxruntime-node computes the same accuracy on the same test split (within 0.1 percentage points)."""
import json
import os
import re

import numpy as np
import pytest

from harness import ROOT, run

MODELS = os.path.join(ROOT, "models")
ROWS = re.findall(r"^\| (\S+\.onnx) \|.*\| ([\d.]+)% \|[^|]*\|$", open(os.path.join(MODELS, "README.md")).read(), re.M)


def test_the_readme_lists_the_models():
    assert len(ROWS) >= 2


@pytest.mark.parametrize("name,table_top1", [pytest.param(*row, marks=pytest.mark.heavy) if row[0].startswith("mobilenetv2")
                                              else row for row in ROWS])
def test_eval_and_onnxruntime_give_the_readme_accuracy(nncompress, tmp_path, name, table_top1):
    model = os.path.join(MODELS, name)
    split = "debian-sections" if "debian" in name else "fmnist" if "fmnist" in name else "mnist"
    dataset = os.path.join(MODELS, "data", split + "-test.npz")
    assert os.path.exists(model)
    code, out, err = run([nncompress, "--quiet", "eval", model, "--data", dataset, "--json"])
    assert code == 0, err
    ours = json.loads(out)["top1"] * 100
    assert abs(ours - float(table_top1)) < 0.005 + 1e-9, f"eval {ours:.2f}% vs README {table_top1}%"
    d = np.load(dataset)
    if "x" in d:  # images: uint8 [N,28,28] -> float [N,1,28,28] in [0,1]
        feeds = {"input": (d["x"].astype(np.float32) / 255.0)[:, None]}
    else:  # token ids and attention masks, int64 for the model
        feeds = {k: d[k].astype(np.int64) for k in d if k != "y"}
    for k, a in feeds.items():
        np.save(tmp_path / f"{k}.npy", a)
    code, _, err = run(["node", os.path.join(ROOT, "tools", "ort", "run.js"), model, tmp_path / "ort",
                        *[f"{k}={tmp_path / k}.npy" for k in feeds]])
    assert code == 0, err
    theirs = float((np.load(tmp_path / "ort" / "logits.npy").argmax(1) == d["y"]).mean() * 100)
    assert abs(theirs - ours) <= 0.1, f"onnxruntime-node {theirs:.2f}% vs {ours:.2f}%"


DETECTORS = re.findall(r"^\| (\S+\.onnx) \|.*\| mAP@0.5 ([\d.]+)% \|", open(os.path.join(MODELS, "README.md")).read(), re.M)


def test_the_readme_lists_the_detector():
    assert [name for name, _ in DETECTORS] == ["yolo-detect.onnx"]


@pytest.mark.parametrize("name,table_map50", DETECTORS)
def test_eval_and_onnxruntime_give_the_readme_map(nncompress, tmp_path, name, table_map50):
    """The detector's mAP@0.5 on the test canvases; onnxruntime-node's outputs, decoded and scored by
    the numpy reference, give nncompress's mAP (on the first 100 canvases: the numpy reference is slow)."""
    from harness import ort_detection_map
    model, dataset = os.path.join(MODELS, name), os.path.join(MODELS, "data", "detect-test.npz")
    code, out, err = run([nncompress, "--quiet", "eval", model, "--data", dataset, "--json"])
    assert code == 0, err
    ours = json.loads(out)["map50"] * 100
    assert abs(ours - float(table_map50)) < 0.005 + 1e-9, f"eval {ours:.2f}% vs README {table_map50}%"
    code, out, err = run([nncompress, "--quiet", "eval", model, "--data", dataset, "--limit", "100", "--json"])
    assert code == 0, err
    ours = json.loads(out)
    theirs = ort_detection_map(model, dataset, tmp_path, limit=100)
    assert theirs[0] == pytest.approx(ours["map50"], abs=0.002) and theirs[1] == pytest.approx(ours["map50_95"], abs=0.002)
