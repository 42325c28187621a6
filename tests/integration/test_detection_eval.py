"""`eval --task detection` against an independent numpy reference (detection_reference.py) on the
same raw outputs: a small YOLOv8-style detector from tools/models/export_detector.py (random
weights), objects made from the reference's own detections (moved by a random amount, so IoUs
spread over every threshold) and from random boxes, in an .npz with `boxes`."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from detection_reference import coco_map, decode, detect
from harness import ROOT, our_outputs, run

SIZE, CLASSES, IMAGES = 64, 3, 24


@pytest.fixture(scope="module")
def case(tmp_path_factory, nncompress):
    work = tmp_path_factory.mktemp("detection")
    model = work / "det.onnx"
    subprocess.run([sys.executable, os.path.join(ROOT, "tools", "models", "export_detector.py"), "--out", str(model),
                    "--size", str(SIZE), "--classes", str(CLASSES), "--width", "0.0625", "--seed", "3"],
                   check=True, capture_output=True)
    rng = np.random.RandomState(5)
    x = rng.rand(IMAGES, 1, SIZE, SIZE).astype(np.float32)
    np.save(work / "x.npy", x)
    raw = our_outputs(nncompress, model, work / "x.npy", work / "raw")["head"]
    boxes, scores = decode(raw, SIZE, SIZE)
    found = detect(boxes, scores)
    # Objects: a third of each image's first detections, shifted; plus one random box per image.
    objects = [[] for _ in range(IMAGES)]
    for image, cls, _, box in found:
        if len(objects[image]) < 4 and rng.rand() < 0.3:
            objects[image].append([cls, *(box + rng.randn(4) * 3)])
    for image in range(IMAGES):
        x1, y1 = rng.rand(2) * SIZE / 2
        objects[image].append([rng.randint(CLASSES), x1, y1, x1 + 4 + rng.rand() * 30, y1 + 4 + rng.rand() * 30])
    truths = np.full((IMAGES, max(len(o) for o in objects), 5), -1, np.float32)
    for image, rows in enumerate(objects):
        for k, row in enumerate(rows):
            x1, y1, x2, y2 = row[1:]
            truths[image, k] = [row[0], min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2)]
    np.savez(work / "data.npz", x=x, boxes=truths)
    return work, model, truths, raw


def test_map_equals_the_python_reference_on_the_same_outputs(nncompress, case):
    work, model, truths, raw = case
    code, out, err = run([nncompress, "--quiet", "eval", model, "--data", work / "data.npz", "--batch", "5", "--json"])
    assert code == 0, err
    ours = json.loads(out)
    boxes, scores = decode(raw, SIZE, SIZE)
    map50, map50_95, per_class = coco_map(detect(boxes, scores), truths)
    assert ours["task"] == "detection" and ours["samples"] == IMAGES
    assert ours["objects"] == int((truths[..., 0] >= 0).sum())
    # A mix of found and missed objects: neither end of the scale, where agreement proves little.
    assert 0.1 < map50 < 0.9 and 0.05 < map50_95 < map50
    assert ours["map50"] == pytest.approx(map50, abs=1e-9)
    assert ours["map50_95"] == pytest.approx(map50_95, abs=1e-9)
    assert {int(k): v for k, v in ours["ap50_per_class"].items()} == pytest.approx(per_class, abs=1e-9)


def test_thresholds_change_the_detections_as_the_reference_says(nncompress, case):
    work, model, truths, raw = case
    code, out, err = run([nncompress, "--quiet", "eval", model, "--data", work / "data.npz", "--task", "detection",
                          "--conf", "0.2", "--iou", "0.3", "--max-det", "5", "--json"])
    assert code == 0, err
    ours = json.loads(out)
    boxes, scores = decode(raw, SIZE, SIZE)
    found = detect(boxes, scores, conf=0.2, iou_threshold=0.3, max_det=5)
    map50, map50_95, _ = coco_map(found, truths)
    assert ours["detections"] == len(found)
    assert ours["map50"] == pytest.approx(map50, abs=1e-9)
    assert ours["map50_95"] == pytest.approx(map50_95, abs=1e-9)


def test_a_head_that_does_not_fit_the_strides_is_a_clear_error(nncompress, case):
    work, model, _, _ = case
    code, _, err = run([nncompress, "eval", model, "--data", work / "data.npz", "--strides", "8,16"])
    assert code == 2
    assert "detection head output must be [batch, 4 x 16 + classes, 80 anchors]" in err


def test_bad_boxes_are_refused_naming_the_sample(nncompress, case, tmp_path):
    work, model, truths, _ = case
    bad = truths.copy()
    bad[3, 0, 1], bad[3, 0, 3] = 40, 10  # x2 < x1
    np.savez(tmp_path / "bad.npz", x=np.load(work / "x.npy"), boxes=bad)
    code, _, err = run([nncompress, "eval", model, "--data", tmp_path / "bad.npz"])
    assert code == 2
    assert "box 0 of sample 3 has x2 < x1" in err


def test_an_ultralytics_folder_gives_the_same_map_as_the_npz(nncompress, case, tmp_path):
    """images/val/*.png with labels/val/*.txt (class cx cy w h, normalized) read as the same boxes."""
    from PIL import Image
    work, model, truths, _ = case
    x = (np.load(work / "x.npy") * 255).round().astype(np.uint8)
    truths = truths.copy()
    truths[..., 1:] = truths[..., 1:].clip(0, SIZE)  # YOLO labels lie inside the image
    (tmp_path / "set" / "images" / "val").mkdir(parents=True)
    (tmp_path / "set" / "labels" / "val").mkdir(parents=True)
    for i in range(IMAGES):
        Image.fromarray(x[i, 0]).save(tmp_path / "set" / "images" / "val" / f"{i:03d}.png")
        rows = [r for r in truths[i] if r[0] >= 0]
        if i == 5:
            continue  # no label file: an image without objects
        with open(tmp_path / "set" / "labels" / "val" / f"{i:03d}.txt", "w") as f:
            for c, x1, y1, x2, y2 in rows:
                f.write(f"{int(c)} {repr((x1 + x2) / 2 / SIZE)} {repr((y1 + y2) / 2 / SIZE)} "
                        f"{repr((x2 - x1) / SIZE)} {repr((y2 - y1) / SIZE)}\n")
    truths_without_5 = truths.copy()
    truths_without_5[5, :, 0] = -1
    np.savez(tmp_path / "u8.npz", x=x, boxes=truths_without_5)
    results = []
    for data in [tmp_path / "u8.npz", tmp_path / "set" / "images" / "val"]:
        code, out, err = run([nncompress, "--quiet", "eval", model, "--data", data, "--json"])
        assert code == 0, err
        results.append(json.loads(out))
    assert results[1]["objects"] == results[0]["objects"] == int((truths_without_5[..., 0] >= 0).sum())
    assert results[1]["map50"] == pytest.approx(results[0]["map50"], abs=1e-6)
    assert results[1]["map50_95"] == pytest.approx(results[0]["map50_95"], abs=1e-6)
    with open(tmp_path / "set" / "labels" / "val" / "000.txt", "a") as f:
        f.write("1 0.5 0.5 0.1 0.1 0.2 0.3\n")  # a segment polygon
    code, _, err = run([nncompress, "eval", model, "--data", tmp_path / "set" / "images" / "val"])
    assert code == 2 and "000.txt' line" in err and "segment polygons are not supported" in err
