#!/usr/bin/python3
"""quantize --method focused: a magnitude-pruned LeNet-5 quantized to 5-bit powers of two keeps its
zeros and its accuracy, uses at most 32 values per layer, reports encoded sizes far below the dense
bytes, is stored as packed codebook indices (the file shrinks) that onnxruntime-node decodes to the
same weights and outputs; incremental fine-tuning runs (with float storage)."""
import argparse
import json
import os
import tempfile

import numpy as np

from harness import LENET5, MNIST_TEST, check, check_same_as_ort, finish, ort_layer_weights, run
from harness import layer_weights as weights

ap = argparse.ArgumentParser()
ap.add_argument("--nncompress", required=True)
args = ap.parse_args()
work = tempfile.mkdtemp(prefix="nncompress_focused_")

pruned = os.path.join(work, "pruned.onnx")
code, _, err = run([args.nncompress, "--quiet", "prune", LENET5, "-o", pruned, "--method", "magnitude", "--sparsity", "0.9"])
check(code == 0, f"magnitude pruning exits 0 {err.strip()[:200]}")

out = os.path.join(work, "focused.onnx")
code, stdout, err = run([args.nncompress, "--quiet", "quantize", pruned, "-o", out, "--method", "focused", "--bits", "5",
                         "--data", MNIST_TEST, "--json"])
check(code == 0, f"focused quantization exits 0 {err.strip()[:300]}")
if code == 0:
    j = json.loads(stdout)
    # The weights as onnxruntime-node decodes them from the packed codebook storage.
    before, after = weights(pruned), ort_layer_weights(out, work)
    check(all(((a == 0) == (b == 0)).all() for a, b in zip(before, after)), "zeros stay zero and non-zeros stay non-zero")
    check(all(l["stored_bits"] <= 6 for l in j["layers"]), f"stored as packed indices: {[l['stored_bits'] for l in j['layers']]}")
    check(j["file_bytes"] < os.path.getsize(pruned) / 4, f"the file shrinks: {j['file_bytes']:,} B")
    counts = [len(np.unique(w[w != 0])) for w in after]
    check(all(c <= 32 for c in counts), f"at most 2^5 values per layer: {counts}")
    check(j["top1_after"] >= j["top1_before"] - 0.005, f"top-1 {j['top1_before']:.4f} -> {j['top1_after']:.4f}")
    dense = 4 * sum(w.size for w in before)
    check(j["weights_huffman_bytes"] <= j["weights_encoded_bytes"] < dense / 20,
          f"encoded {j['weights_encoded_bytes']:,} B, Huffman {j['weights_huffman_bytes']:,} B, dense {dense:,} B")
    check(any(layer["recentralized"] for layer in j["layers"]), "pruned layers are bimodal: recentralized")
    check_same_as_ort(args.nncompress, out, MNIST_TEST, work, "focused model")

tuned = os.path.join(work, "tuned.onnx")
code, stdout, err = run([args.nncompress, "--quiet", "--threads", "1", "quantize", pruned, "-o", tuned, "--method", "focused",
                         "--bits", "4", "--data", MNIST_TEST, "--limit", "1000", "--epochs", "1", "--float-storage", "--json"])
check(code == 0, f"incremental fine-tuning exits 0 {err.strip()[:300]}")
if code == 0:
    after = weights(tuned)
    check(all(len(np.unique(w[w != 0])) <= 16 for w in after), "4 bits: at most 16 values per layer after fine-tuning")
    check(all(w.dtype == np.float32 for w in after), "--float-storage keeps float32 initializers")
    check(all(((a == 0) == (b == 0)).all() for a, b in zip(weights(pruned), after)), "fine-tuning keeps the zeros")
code, _, err = run([args.nncompress, "quantize", pruned, "-o", os.path.join(work, "x.onnx"), "--method", "focused", "--bits", "9"])
check(code == 2, f"--bits 9: exit {code}")
finish()
