"""`finetune --task detection`: YOLOv8's loss trains a small detector from tools/models/export_detector.py
(random weights) to find shapes on canvases, the best epoch chosen by validation mAP@0.5; `compress`
prunes, fine-tunes and quantizes it with mAP as the gated accuracy; and the errors a detector's
training data can give."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from harness import ROOT, run

SIZE, CLASSES = 64, 3


def shapes(rng, count):
    """Canvases with 1-3 objects: filled squares (class 0), hollow squares (1), plus signs (2)."""
    x = np.zeros((count, SIZE, SIZE), np.uint8)
    boxes = np.full((count, 3, 5), -1, np.float32)
    for i in range(count):
        for k in range(rng.randint(1, 4)):
            side = rng.randint(12, 28)
            x0, y0 = rng.randint(0, SIZE - side, 2)
            cls = rng.randint(CLASSES)
            patch = np.zeros((side, side), np.uint8)
            if cls == 0:
                patch[:] = 255
            elif cls == 1:
                patch[:3], patch[-3:], patch[:, :3], patch[:, -3:] = 255, 255, 255, 255
            else:
                patch[side // 2 - 2:side // 2 + 2], patch[:, side // 2 - 2:side // 2 + 2] = 255, 255
            region = x[i, y0:y0 + side, x0:x0 + side]
            np.maximum(region, patch, out=region)
            boxes[i, k] = [cls, x0, y0, x0 + side, y0 + side]
    return x, boxes


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    work = tmp_path_factory.mktemp("detection-training")
    model = work / "det.onnx"
    subprocess.run([sys.executable, os.path.join(ROOT, "tools", "models", "export_detector.py"), "--out", str(model),
                    "--size", str(SIZE), "--classes", str(CLASSES), "--width", "0.0625", "--seed", "1"],
                   check=True, capture_output=True)
    x, boxes = shapes(np.random.RandomState(0), 64)
    np.savez(work / "train.npz", x=x, boxes=boxes)
    return work, model


def map50(nncompress, model, data):
    code, out, err = run([nncompress, "--quiet", "eval", model, "--data", data, "--json"])
    assert code == 0, err
    return json.loads(out)["map50"]


@pytest.fixture(scope="module")
def trained(nncompress, case):
    """The detector trained 30 epochs on the canvases, with finetune's JSON summary."""
    work, model = case
    data = work / "train.npz"
    code, out, err = run([nncompress, "--quiet", "finetune", model, "--data", data, "--val", data, "-o", work / "trained.onnx",
                          "--epochs", "30", "--batch", "8", "--optimizer", "adam", "--lr", "0.005", "--weight-decay", "0",
                          "--seed", "1", "--json"])
    assert code == 0, err
    return work / "trained.onnx", json.loads(out)


def test_training_finds_the_objects_and_keeps_the_best_epoch(nncompress, case, trained):
    work, model = case
    data = work / "train.npz"
    before = map50(nncompress, model, data)
    output, summary = trained
    losses = [e["train_loss"] for e in summary["epochs"]]
    assert losses[-1] < losses[0] / 2, losses
    # Each term of YOLOv8's loss is reported and descends, the box distributions' (DFL) too: it rose
    # while LibTorch's masked_select sent its gradient to other logits.
    for term in ("box_loss", "cls_loss", "dfl_loss"):
        values = [e[term] for e in summary["epochs"]]
        assert values[-1] < values[0], (term, values)
    maps = [e["val_map50"] for e in summary["epochs"]]
    assert summary["best_val_map50"] == max(maps)
    assert summary["best_epoch"] == maps.index(max(maps)) + 1
    after = map50(nncompress, output, data)
    assert after == pytest.approx(max(maps), abs=1e-9)
    # From nothing to a fair share of the objects in 240 small steps (the reference detector's
    # training, docs/benchmarks.md, goes on to 0.8+).
    assert before < 0.05 and after > 0.25, (before, after)


def test_compress_gates_a_detector_on_map(nncompress, case, trained, tmp_path):
    """Pruning with fine-tuning by YOLOv8's loss, then int8; the report measures mAP@0.5 and the
    accuracy gate reads it."""
    work, _ = case
    data = work / "train.npz"
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("steps:\n  - pass: prune.channels\n    target-macs: 0.6\n    epochs: 2\n    lr: 0.002\n"
                      "  - pass: quant.int8\n")
    code, out, err = run([nncompress, "--quiet", "compress", trained[0], "-o", tmp_path / "c.onnx", "--recipe", recipe,
                          "--data", data, "--batch-size", "8", "--max-accuracy-drop", "100", "--json"])
    assert code == 0, err
    report = json.loads(out)
    assert report["accuracy"]["metric"] == "map50" and report["accuracy"]["top1_before"] is None
    assert report["accuracy"]["map50_before"] == pytest.approx(map50(nncompress, trained[0], data), abs=1e-9)
    assert report["accuracy"]["map50_after"] == pytest.approx(map50(nncompress, tmp_path / "c.onnx", data), abs=1e-9)
    assert report["after"]["macs"] <= 0.6 * report["before"]["macs"] + 1
    drop = report["accuracy"]["drop_pp"]
    assert drop == pytest.approx(100 * (report["accuracy"]["map50_before"] - report["accuracy"]["map50_after"]))
    # The same run with a gate of 0 points (its int8 step may then leave layers float) fails exactly
    # when its mAP fell.
    code, out, err = run([nncompress, "--quiet", "compress", trained[0], "-o", tmp_path / "c0.onnx", "--recipe", recipe,
                          "--data", data, "--batch-size", "8", "--max-accuracy-drop", "0", "--json"])
    assert code == (3 if json.loads(out)["accuracy"]["drop_pp"] > 0 else 0), err


def test_detection_training_errors(nncompress, case, tmp_path):
    work, model = case
    data = work / "train.npz"
    code, _, err = run([nncompress, "finetune", model, "--data", data, "-o", tmp_path / "o.onnx", "--augment-flip"])
    assert code == 2 and "would move the objects" in err
    np.savez(tmp_path / "nobox.npz", x=np.load(data)["x"])
    code, _, err = run([nncompress, "finetune", model, "--data", tmp_path / "nobox.npz", "--task", "detection",
                        "-o", tmp_path / "o.onnx"])
    assert code == 2 and "has no boxes" in err
    x, boxes = shapes(np.random.RandomState(1), 4)
    boxes[2, 0, 0] = 7  # the head has 3 classes
    np.savez(tmp_path / "class7.npz", x=x, boxes=boxes)
    code, _, err = run([nncompress, "finetune", model, "--data", tmp_path / "class7.npz", "-o", tmp_path / "o.onnx"])
    assert code == 2 and "object class 7 is not a class of the model" in err
    assert not (tmp_path / "o.onnx").exists()


def test_int8_keeps_the_activations_of_the_raw_head_float(nncompress, trained, tmp_path):
    """The convolutions whose outputs are concatenated into the raw head read and write float
    activations (int8 there collapsed the reference detector's mAP; their weights stay int8 per
    channel); every other convolution reads an int8 activation."""
    import onnx
    model, _ = trained
    data = model.parent / "train.npz"
    code, _, err = run([nncompress, "--quiet", "quantize", model, "--method", "int8", "--calib", data, "-o", tmp_path / "q.onnx"])
    assert code == 0, err
    graph = onnx.load(str(tmp_path / "q.onnx")).graph
    produced = {o: n for n in graph.node for o in n.output}
    convs = [n for n in graph.node if n.op_type == "Conv"]
    head = [n for n in convs if n.name.startswith("/detect/") and n.name.endswith(".2/Conv")]
    assert len(head) == 6

    def reads_int8(n):
        p = produced.get(n.input[0])
        return p is not None and p.op_type == "DequantizeLinear"
    assert not any(reads_int8(n) for n in head)
    assert all(reads_int8(n) for n in convs if n not in head)
    assert all(produced[n.input[1]].op_type == "DequantizeLinear" for n in convs)
    assert map50(nncompress, tmp_path / "q.onnx", data) > map50(nncompress, model, data) - 0.05
    # ONNX Runtime runs the rest on integer data: SiLU as QLinearSigmoid + QLinearMul (not float
    # between Q/DQ pairs) except the six before the head's float layers, Concat as QLinearConcat,
    # and Split and Resize (whose outputs carry their input's quantization) with their Q/DQ pairs
    # dropped.
    from harness import ort_outputs
    x = tmp_path / "x.npy"
    np.save(x, np.load(data)["x"][:1, None].astype(np.float32) / 255)
    optimized = tmp_path / "ort.onnx"
    ort_outputs(tmp_path / "q.onnx", {graph.input[0].name: x}, tmp_path / "ort_out", ["--threads", "1", "--optimized", str(optimized)])
    ort_graph = onnx.load(str(optimized)).graph
    ops = [n.op_type for n in ort_graph.node]
    silus = sum(n.op_type == "Sigmoid" for n in onnx.load(str(model)).graph.node)
    assert silus > len(head) and ops.count("QLinearSigmoid") == silus - len(head), ops
    assert ops.count("QLinearMul") == silus - len(head), ops
    assert ops.count("Sigmoid") + ops.count("QuickGelu") == len(head), ops
    assert "QLinearConcat" in ops
    ort_produced = {o: n.op_type for n in ort_graph.node for o in n.output}
    moving = [n for n in ort_graph.node if n.op_type in ("Split", "Resize")]
    assert moving and all(ort_produced.get(n.input[0]) != "DequantizeLinear" for n in moving), \
        [(n.op_type, ort_produced.get(n.input[0])) for n in moving]
