#!/usr/bin/python3
"""`eval`, `compare` and `run` on a small classifier whose answers numpy computes independently,
with the dataset in every supported format (.npz stored and deflated, .npy, gzipped IDX with labels
beside it, ONNX test-data folder), plus the errors bad data must give."""
import argparse
import gzip
import json
import os
import struct
import tempfile

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from harness import check, finish, run

ap = argparse.ArgumentParser()
ap.add_argument("--nncompress", required=True)
args = ap.parse_args()
nnc = args.nncompress
work = tempfile.mkdtemp(prefix="nncompress_eval_")
rng = np.random.RandomState(7)

N, CLASSES = 203, 10
W = rng.randn(16, CLASSES).astype(np.float32)


def classifier(path, weights):
    g = helper.make_graph(
        [helper.make_node("Flatten", ["x"], ["f"]), helper.make_node("MatMul", ["f", "w"], ["logits"])], "clf",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 4, 4])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", CLASSES])], [numpy_helper.from_array(weights, "w")])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), path)


model = os.path.join(work, "clf.onnx")
classifier(model, W)
other = os.path.join(work, "clf2.onnx")
W2 = W + rng.randn(*W.shape).astype(np.float32) * 0.5
classifier(other, W2)

x = rng.randint(0, 256, size=(N, 4, 4)).astype(np.uint8)
logits = (x.reshape(N, 16) / 255.0).astype(np.float32) @ W
pred = logits.argmax(1)
# Labels: the prediction for 3 of every 4 samples, another class otherwise.
y = np.where(np.arange(N) % 4 == 0, (pred + 1) % CLASSES, pred).astype(np.int64)
top1 = float((pred == y).mean())
top5 = float((np.argsort(-logits, 1)[:, :5] == y[:, None]).any(1).mean())

files = {}
files["npz"] = os.path.join(work, "d.npz")
np.savez(files["npz"], x=x, y=y)
files["npz-compressed"] = os.path.join(work, "dc.npz")
np.savez_compressed(files["npz-compressed"], x=x, y=y)
idx_dir = os.path.join(work, "idx")
os.makedirs(idx_dir)
files["idx"] = os.path.join(idx_dir, "t10k-images-idx3-ubyte.gz")
with gzip.open(files["idx"], "wb") as f:
    f.write(struct.pack(">BBBBIII", 0, 0, 8, 3, N, 4, 4) + x.tobytes())
with gzip.open(os.path.join(idx_dir, "t10k-labels-idx1-ubyte.gz"), "wb") as f:
    f.write(struct.pack(">BBBBI", 0, 0, 8, 1, N) + y.astype(np.uint8).tobytes())

for fmt, path in files.items():
    code, out, err = run([nnc, "eval", model, "--data", path, "--json", "--batch", "16"])
    check(code == 0, f"eval on {fmt} exits 0 {err.strip()[:200]}")
    if code == 0:
        j = json.loads(out)
        check(j["samples"] == N, f"{fmt}: {j['samples']} samples")
        check(abs(j["top1"] - top1) < 1e-9 and abs(j["top5"] - top5) < 1e-9,
              f"{fmt}: top1 {j['top1']:.4f} == numpy {top1:.4f}, top5 {j['top5']:.4f} == {top5:.4f}")
        check(j["samples_per_second"] > 0, f"{fmt}: throughput reported")

# Samples only (.npy), a limit, and an ONNX test-data folder: accuracy is unknown, not zero.
npy = os.path.join(work, "x.npy")
np.save(npy, x)
code, out, _ = run([nnc, "eval", model, "--data", npy, "--limit", "50", "--json"])
j = json.loads(out) if code == 0 else {}
check(code == 0 and j["samples"] == 50 and j["top1"] is None, f".npy without labels: top1 null, limit 50 ({j})")
td = os.path.join(work, "testdata", "test_data_set_0")
os.makedirs(td)
with open(os.path.join(td, "input_0.pb"), "wb") as f:
    f.write(numpy_helper.from_array((x[:8, None] / 255.0).astype(np.float32)).SerializeToString())
code, out, err = run([nnc, "eval", model, "--data", os.path.dirname(td), "--json"])
check(code == 0 and json.loads(out)["samples"] == 8, f"ONNX test-data folder: 8 samples {err.strip()[:200]}")

# compare: a model with itself, and with a perturbed copy (numpy computes what to expect).
code, out, _ = run([nnc, "compare", model, model, "--data", files["npz"], "--json"])
j = json.loads(out) if code == 0 else {}
check(code == 0 and j["agreement"] == 1.0 and j["max_abs_diff"] == 0 and j["snr_db"] is None,
      f"compare with itself: agreement 1, identical ({j})")
logits2 = (x.reshape(N, 16) / 255.0).astype(np.float32) @ W2
agreement = float((logits2.argmax(1) == pred).mean())
snr = 10 * np.log10((logits.astype(np.float64) ** 2).sum() / ((logits - logits2).astype(np.float64) ** 2).sum())
code, out, _ = run([nnc, "compare", model, other, "--data", files["npz"], "--json"])
j = json.loads(out) if code == 0 else {}
check(code == 0 and abs(j["agreement"] - agreement) < 1e-9, f"compare agreement {j.get('agreement')} == numpy {agreement}")
check(code == 0 and abs(j["snr_db"] - snr) < 1e-3, f"compare SNR {j.get('snr_db')} == numpy {snr:.4f}")
check(code == 0 and abs(j["base_top1"] - top1) < 1e-9, "compare reports the base top-1")
for key in ("agreement", "base_top1", "candidate_top1", "snr_db", "max_abs_diff"):
    check(key in j, f"compare JSON has '{key}'")

# run writes outputs that match numpy.
xin = os.path.join(work, "xin.npy")
np.save(xin, (x[:5, None] / 255.0).astype(np.float32))
code, _, err = run([nnc, "run", model, "-i", f"x={xin}", "-o", os.path.join(work, "out")])
got = np.load(os.path.join(work, "out", "logits.npy")) if code == 0 else None
check(code == 0 and np.allclose(got, logits[:5], rtol=1e-5, atol=1e-5), f"run output matches numpy {err.strip()[:200]}")

# Bad data: clear errors with exit code 2.
bad = os.path.join(work, "bad.npz")
np.savez(bad, x=rng.rand(4, 3, 5, 5).astype(np.float32), y=np.zeros(4, np.int64))
code, _, err = run([nnc, "eval", model, "--data", bad])
check(code == 2 and "[3,5,5]" in err and "expects" in err, f"shape mismatch names both shapes: {err.strip()}")
mislabeled = os.path.join(work, "mislabeled.npz")
np.savez(mislabeled, x=x, y=y[:10])
code, _, err = run([nnc, "eval", model, "--data", mislabeled])
check(code == 2 and "labels" in err, f"label count mismatch: {err.strip()}")
code, _, err = run([nnc, "eval", model, "--data", os.path.join(work, "nope.npz")])
check(code == 2 and err.startswith("error:"), f"missing data file: {err.strip()}")
junk = os.path.join(work, "junk.npz")
open(junk, "wb").write(b"PK\x03\x04 not really a zip")
code, _, err = run([nnc, "eval", model, "--data", junk])
check(code == 2, f"corrupt .npz: exit {code} {err.strip()}")
code, _, err = run([nnc, "run", model, "-i", f"y={xin}", "-o", os.path.join(work, "out2")])
check(code == 2 and "'x'" in err, f"run with a wrong input name: {err.strip()}")
finish()
