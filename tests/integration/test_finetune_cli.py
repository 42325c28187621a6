#!/usr/bin/python3
"""`finetune` from the command line: byte-identical output for the same seed, a JSON summary, a
log line per epoch, distillation without labels, and clear errors (exit 2) for what cannot work."""
import argparse
import filecmp
import json
import os
import tempfile

import numpy as np

from harness import LENET5, MNIST_TEST, ROOT, check, finish, run

ap = argparse.ArgumentParser()
ap.add_argument("--nncompress", required=True)
args = ap.parse_args()
root = ROOT
model, test = LENET5, MNIST_TEST
work = tempfile.mkdtemp(prefix="nncompress_finetune_")
common = ["--data", test, "--limit", "512", "--epochs", "2", "--batch", "64", "--augment-crop", "2"]


def finetune(out, *extra):
    return run([args.nncompress, "--quiet", "finetune", model, "-o", os.path.join(work, out), *common, *extra])


code, out, err = finetune("a.onnx", "--seed", "7", "--json", "--val", test)
check(code == 0, f"finetune exits 0 {err.strip()[:300]}")
j = json.loads(out) if code == 0 else {}
check(len(j.get("epochs", [])) == 2 and j.get("best_epoch") in (1, 2) and j.get("best_val_top1") is not None,
      f"JSON summary has epochs, best_epoch, best_val_top1 ({ {k: j.get(k) for k in ('best_epoch', 'best_val_top1')} })")
code, _, err = run([args.nncompress, "finetune", model, "-o", os.path.join(work, "b.onnx"), *common, "--seed", "7", "--val", test])
lines = [line for line in err.splitlines() if "val top-1" in line]
check(code == 0 and len(lines) == 2 and "epoch 1/2" in lines[0] and "epoch 2/2" in lines[1],
      f"the log has a line per epoch with its validation top-1: {lines}")
check(filecmp.cmp(os.path.join(work, "a.onnx"), os.path.join(work, "b.onnx"), shallow=False),
      "same seed and options: byte-identical models")
check([e.get("samples") for e in j.get("epochs", [])] == [512, 512], "each epoch trains on all 512 samples")
code, out, _ = finetune("sub.onnx", "--seed", "7", "--json", "--epoch-samples", "128")
check(code == 0 and [e["samples"] for e in json.loads(out)["epochs"]] == [128, 128],
      "--epoch-samples 128: each epoch trains on 128 samples")
finetune("all.onnx", "--seed", "7", "--val", test, "--epoch-samples", "100000")
check(filecmp.cmp(os.path.join(work, "a.onnx"), os.path.join(work, "all.onnx"), shallow=False),
      "--epoch-samples above the data size: the same model as without it")
finetune("c.onnx", "--seed", "8", "--val", test)
check(not filecmp.cmp(os.path.join(work, "a.onnx"), os.path.join(work, "c.onnx"), shallow=False),
      "another seed: another model")

d = np.load(test)
unlabeled = os.path.join(work, "unlabeled.npy")
np.save(unlabeled, d["x"][:512])
code, _, err = run([args.nncompress, "finetune", model, "-o", os.path.join(work, "d.onnx"), "--data", unlabeled])
check(code == 2 and "labels" in err, f"no labels and no teacher: exit {code}, {err.strip()}")
code, _, err = run([args.nncompress, "--quiet", "finetune", model, "-o", os.path.join(work, "e.onnx"), "--data", unlabeled,
                    "--distill-from", model, "--epochs", "1"])
check(code == 0 and os.path.exists(os.path.join(work, "e.onnx")), f"distillation without labels works {err.strip()[:200]}")
code, _, err = run([args.nncompress, "finetune", model, "-o", model, *common])
check(code == 2, f"output == input refused: exit {code}")
code, _, err = run([args.nncompress, "finetune", model, "-o", os.path.join(work, "f.onnx"), *common, "--epochs", "0"])
check(code == 2, f"--epochs 0 refused: exit {code}")
code, _, err = run([args.nncompress, "finetune", model, "-o", os.path.join(work, "f.onnx"), *common, "--optimizer", "rmsprop"])
check(code == 2 and not os.path.exists(os.path.join(work, "f.onnx")), f"unknown optimizer refused: exit {code}")
finish()
