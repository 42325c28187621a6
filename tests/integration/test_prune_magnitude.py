#!/usr/bin/python3
"""prune --method magnitude: the requested share of weights becomes zero (globally or per layer),
fine-tuning keeps them zero, --sparse-format onnx shrinks the file, and onnxruntime-node loads the
sparse model and computes the same outputs as nncompress."""
import argparse
import json
import os
import tempfile

import onnx

from harness import LENET5, MNIST_TEST, check, check_same_as_ort, finish, run
from harness import layer_weights as weights

ap = argparse.ArgumentParser()
ap.add_argument("--nncompress", required=True)
args = ap.parse_args()
model, test = LENET5, MNIST_TEST
work = tempfile.mkdtemp(prefix="nncompress_magnitude_")


for mode in ("global", "per-layer"):
    out = os.path.join(work, f"{mode}.onnx")
    extra = ["--per-layer"] if mode == "per-layer" else []
    code, stdout, err = run([args.nncompress, "--quiet", "prune", model, "-o", out, "--method", "magnitude", "--sparsity", "0.8",
                             "--json", *extra])
    check(code == 0, f"{mode}: prune exits 0 {err.strip()[:200]}")
    if code != 0:
        continue
    ws = weights(out)
    total = sum(w.size for w in ws)
    zeros = sum(int((w == 0).sum()) for w in ws)
    check(abs(zeros / total - 0.8) < 0.01, f"{mode}: {zeros / total:.3f} of the weights are zero (asked 0.8)")
    if mode == "per-layer":
        check(all(abs((w == 0).mean() - 0.8) < 0.02 for w in ws), f"per-layer: every layer near 0.8: {[round(float((w == 0).mean()), 3) for w in ws]}")
    j = json.loads(stdout)
    check(j["nonzeros_after"] < j["nonzeros_before"] and j["relative_index_bytes"] < j["initializer_bytes_after"],
          f"{mode}: report counts non-zeros {j['nonzeros_before']:,} -> {j['nonzeros_after']:,}, encoded {j['relative_index_bytes']:,} B")

# Fine-tuning keeps the zeros; the sparse file is smaller and ORT computes the same outputs.
tuned = os.path.join(work, "tuned.onnx")
code, stdout, err = run([args.nncompress, "--quiet", "prune", model, "-o", tuned, "--method", "magnitude", "--sparsity", "0.9",
                         "--data", test, "--limit", "1000", "--epochs", "1", "--sparse-format", "onnx", "--json"])
check(code == 0, f"prune with fine-tuning exits 0 {err.strip()[:200]}")
if code == 0:
    ws = weights(tuned)
    zeros = sum(int((w == 0).sum()) for w in ws) / sum(w.size for w in ws)
    check(zeros >= 0.899, f"after fine-tuning {zeros:.3f} of the weights are still zero")
    check(len(onnx.load(tuned).graph.sparse_initializer) > 0, "weights stored as ONNX sparse initializers")
    check(os.path.getsize(tuned) < 0.5 * os.path.getsize(model), f"file {os.path.getsize(tuned):,} B < half of {os.path.getsize(model):,} B")
    check_same_as_ort(args.nncompress, tuned, test, work, "sparse model")
# Gradual (AGP) pruning reaches the requested sparsity by the end of fine-tuning.
gradual = os.path.join(work, "gradual.onnx")
code, stdout, err = run([args.nncompress, "--quiet", "prune", model, "-o", gradual, "--method", "magnitude", "--sparsity", "0.9",
                         "--gradual", "--data", test, "--limit", "1000", "--epochs", "2", "--json"])
if code == 0:
    ws = weights(gradual)
    zeros = sum(int((w == 0).sum()) for w in ws) / sum(w.size for w in ws)
check(code == 0 and zeros >= 0.899, f"--gradual ends at the requested sparsity {err.strip()[:200]}")
code, _, err = run([args.nncompress, "prune", model, "-o", os.path.join(work, "g.onnx"), "--method", "magnitude", "--gradual"])
check(code == 2 and "--gradual" in err, f"--gradual without --epochs: exit {code}")
code, _, err = run([args.nncompress, "prune", model, "-o", os.path.join(work, "x.onnx"), "--method", "magnitude", "--epochs", "1"])
check(code == 2 and "--data" in err, f"--epochs without --data: exit {code}")
finish()
