#!/usr/bin/python3
"""prune --method autoprune: trains auxiliary parameters on labeled data (or by distillation),
meets the requested sparsity exactly, keeps accuracy, is deterministic for a seed, and
onnxruntime-node computes the same outputs as nncompress on the pruned model. With
--granularity channels it removes channels for real and meets a MAC target."""
import argparse
import filecmp
import json
import os
import tempfile

import numpy as np

from harness import LENET5, MNIST_TEST, check, check_same_as_ort, finish, run
from harness import layer_weights as weights

ap = argparse.ArgumentParser()
ap.add_argument("--nncompress", required=True)
args = ap.parse_args()
work = tempfile.mkdtemp(prefix="nncompress_autoprune_")
common = ["--method", "autoprune", "--sparsity", "0.9", "--data", MNIST_TEST, "--limit", "2000", "--epochs", "3",
          "--batch", "32", "--lr", "0.01", "--seed", "3", "--json"]

first, second = os.path.join(work, "a.onnx"), os.path.join(work, "b.onnx")
code, stdout, err = run([args.nncompress, "--quiet", "--threads", "1", "prune", LENET5, "-o", first, *common])
check(code == 0, f"autoprune exits 0 {err.strip()[:300]}")
if code == 0:
    ws = weights(first)
    zeros = sum(int((w == 0).sum()) for w in ws) / sum(w.size for w in ws)
    check(abs(zeros - 0.9) < 0.002, f"{zeros:.4f} of the weights are zero (asked 0.9)")
    j = json.loads(stdout)
    check(j["method"] == "autoprune" and j["nonzeros_after"] < 0.12 * j["nonzeros_before"],
          f"report: non-zeros {j['nonzeros_before']:,} -> {j['nonzeros_after']:,}")
    # 2,000 samples for 3 epochs at 90% sparsity: a trained, not a broken, model.
    check(j["top1_after"] is not None and j["top1_after"] > 0.95, f"top-1 {j['top1_before']:.4f} -> {j['top1_after']}")
    check_same_as_ort(args.nncompress, first, MNIST_TEST, work, "autoprune model")
    code, _, err = run([args.nncompress, "--quiet", "--threads", "1", "prune", LENET5, "-o", second, *common])
    check(code == 0 and filecmp.cmp(first, second, shallow=False), "the same seed gives a byte-identical model")

# Structured: one auxiliary per channel, channels removed, the MAC target met.
structured = os.path.join(work, "s.onnx")
code, stdout, err = run([args.nncompress, "--quiet", "--threads", "1", "prune", LENET5, "-o", structured, "--method", "autoprune",
                         "--granularity", "channels", "--target-macs", "0.4", "--prune-first-conv", "--data", MNIST_TEST,
                         "--limit", "2000", "--epochs", "2", "--batch", "32", "--lr", "0.01", "--seed", "3", "--json"])
check(code == 0, f"structured autoprune exits 0 {err.strip()[:300]}")
if code == 0:
    j = json.loads(stdout)
    check(j["granularity"] == "channels" and j["macs_after"] <= 0.4 * j["macs_before"],
          f"MACs {j['macs_before']:,} -> {j['macs_after']:,} (target 0.4)")
    shrunk = [l for l in j["layers"] if l["channels_after"] < l["channels_before"]]
    check(len(shrunk) >= 1 and j["params_after"] < j["params_before"], f"{len(shrunk)} layers lost channels for real")
    check(j["top1_after"] is not None and j["top1_after"] > 0.9, f"top-1 {j['top1_before']:.4f} -> {j['top1_after']}")
    check_same_as_ort(args.nncompress, structured, MNIST_TEST, work, "structured autoprune model")
code, _, err = run([args.nncompress, "prune", LENET5, "-o", os.path.join(work, "t.onnx"), "--method", "autoprune",
                    "--granularity", "channels", "--sparsity", "0.5", "--data", MNIST_TEST, "--epochs", "1"])
check(code == 2 and "--target-macs" in err, f"structured autoprune with --sparsity: exit {code}, {err.strip()[:200]}")

# Distillation from the unpruned model works without labels.
unlabeled = os.path.join(work, "x.npy")
np.save(unlabeled, np.load(MNIST_TEST)["x"][:500])
code, stdout, err = run([args.nncompress, "--quiet", "prune", LENET5, "-o", os.path.join(work, "d.onnx"), "--method", "autoprune",
                         "--sparsity", "0.5", "--data", unlabeled, "--epochs", "1", "--distill", "--json"])
check(code == 0, f"autoprune by distillation on unlabeled data exits 0 {err.strip()[:300]}")
code, _, err = run([args.nncompress, "--quiet", "prune", LENET5, "-o", os.path.join(work, "n.onnx"), "--method", "autoprune",
                    "--data", unlabeled, "--epochs", "1"])
check(code == 2 and "labels" in err, f"unlabeled data without --distill: exit {code}, {err.strip()[:200]}")
# AutoPrune trains (5 epochs unless told): data it needs, and at least one epoch.
code, _, err = run([args.nncompress, "prune", LENET5, "-o", os.path.join(work, "e.onnx"), "--method", "autoprune"])
check(code == 2 and "needs labeled training data: give --data" in err, f"autoprune without --data: exit {code}, {err.strip()}")
code, _, err = run([args.nncompress, "prune", LENET5, "-o", os.path.join(work, "e.onnx"), "--method", "autoprune",
                    "--data", MNIST_TEST, "--epochs", "0"])
check(code == 2 and "--epochs must be at least 1" in err, f"autoprune with --epochs 0: exit {code}, {err.strip()}")
finish()
