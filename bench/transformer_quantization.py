#!/usr/bin/python3
"""Issue 18's quantization numbers on the reference transformers, side by side in one run: the
float model, nncompress's static int8 (quant.int8), dynamic int8 (quant.dynamic) and block-wise
4-bit weight-only (quant.weight-only, RTN and GPTQ); for the ViT also PyTorch's own dynamic
quantization (torch.ao.quantization.quantize_dynamic) of the same weights as the peer.

  vit:  models/vit-fmnist.onnx on the 10,000 Fashion-MNIST test images
  text: models/bert-debian.onnx on the 2,257 Debian package descriptions of its test split

For each: top-1 on the test split in ONNX Runtime (onnxruntime-node, the deployment runtime;
PyTorch's quantized model runs in PyTorch, which cannot export it to ONNX), file size, and latency
(median of REPEAT runs) at batch 32 and 1 with THREADS intra-op threads.

  bench/transformer_quantization.py [--model vit|text] [--threads 2] [--repeat 20]
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NNC = os.path.join(ROOT, "build", "nncompress")
MODELS = {  # model, calibration data, test split
    "vit": ("models/vit-fmnist.onnx", "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz",
            "models/data/fmnist-test.npz"),
    "text": ("models/bert-debian.onnx", "build/data/debian-sections-train.npz", "models/data/debian-sections-test.npz"),
}


def feeds_of(test_npz):
    """The model inputs as ONNX Runtime wants them: images scaled to [0,1] as [N,1,28,28], or
    token ids and attention masks as int64; and the labels."""
    d = np.load(test_npz)
    if "x" in d:
        return {"input": (d["x"][:, None] / 255.0).astype(np.float32)}, d["y"]
    return {k: d[k].astype(np.int64) for k in d if k != "y"}, d["y"]


def sh(cmd):
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"failed ({r.returncode}): {' '.join(map(str, cmd))}\n{r.stderr[-2000:]}")
    return r.stdout


def save_feeds(feeds, work, tag, rows=None):
    """Writes each input (its first `rows` samples) as WORK/<name><tag>.npy; returns run.js's NAME=FILE list."""
    args = []
    for name, a in feeds.items():
        path = os.path.join(work, f"{name}{tag}.npy")
        np.save(path, a if rows is None else a[:rows])
        args.append(f"{name}={path}")
    return args


def ort_logits(model, feed_args, work):
    out = os.path.join(work, "ort-out")
    sh(["node", os.path.join(ROOT, "tools", "ort", "run.js"), model, out, *feed_args])
    return np.load(os.path.join(out, "logits.npy"))


def ort_latency(model, feed_args, work, threads, repeat):
    r = sh(["node", os.path.join(ROOT, "tools", "ort", "run.js"), model, os.path.join(work, "lat"), "--threads", threads,
            "--repeat", repeat, *feed_args])
    return json.loads(r)["median_ms"]


def torch_peer(model_path, x, y, threads, repeat):
    """PyTorch's dynamic int8 quantization of the same weights: the ViT of
    tools/models/export_architectures.py with the ONNX initializers loaded by name, its x @ W
    layers as nn.Linear (what quantize_dynamic replaces)."""
    import onnx
    import torch
    from onnx import numpy_helper
    sys.path.insert(0, os.path.join(ROOT, "tools", "models"))
    from export_architectures import ViT, Dense
    torch.set_num_threads(int(threads))
    model = ViT().eval()
    weights = {i.name: torch.from_numpy(numpy_helper.to_array(i).copy()) for i in onnx.load(model_path).graph.initializer}
    state = model.state_dict()
    missing = [k for k in state if k not in weights]
    if missing:
        sys.exit(f"the ONNX model lacks {missing[:5]}: not an export of tools/models/export_architectures.py's ViT")
    model.load_state_dict({k: weights[k] for k in state})

    def as_linear(module):
        for name, child in module.named_children():
            if isinstance(child, Dense):
                lin = torch.nn.Linear(*child.weight.shape)
                lin.weight.data, lin.bias.data = child.weight.data.t().contiguous(), child.bias.data
                setattr(module, name, lin)
            else:
                as_linear(child)
    as_linear(model)
    q = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
    rows = {}
    for label, m in (("PyTorch float", model), ("PyTorch quantize_dynamic int8", q)):
        with torch.no_grad():
            pred = torch.cat([m(torch.from_numpy(x[i:i + 500])).argmax(1) for i in range(0, len(x), 500)]).numpy()
            lat = {}
            for batch in (32, 1):
                xb = torch.from_numpy(x[:batch])
                m(xb)
                times = []
                for _ in range(int(repeat)):
                    t0 = time.perf_counter()
                    m(xb)
                    times.append((time.perf_counter() - t0) * 1000)
                lat[batch] = float(np.median(times))
        buf = os.path.join("/tmp", f"vit-peer-{os.getpid()}.pt")
        torch.save(m.state_dict(), buf)
        size = os.path.getsize(buf)
        os.remove(buf)
        rows[label] = {"top1": float((pred == y).mean()), "bytes": size, "ms32": lat[32], "ms1": lat[1],
                       "runtime": "PyTorch (state_dict size)"}
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", choices=list(MODELS), default="vit")
    ap.add_argument("--threads", default=str(os.cpu_count()))
    ap.add_argument("--repeat", default="20")
    args = ap.parse_args()
    model, train, test = (os.path.join(ROOT, p) for p in MODELS[args.model])
    work = os.path.join(ROOT, "build", "bench", f"{args.model}_quantization")
    os.makedirs(work, exist_ok=True)
    feeds, y = feeds_of(test)
    everything = save_feeds(feeds, work, "")
    batches = {batch: save_feeds(feeds, work, str(batch), batch) for batch in (32, 1)}

    variants = {"float": model}
    calib = ["--calib", train, "--calib-limit"]
    for label, options in [
        ("int8 static (quant.int8)", ["--method", "int8", *calib, "1000"]),
        ("int8 dynamic (quant.dynamic)", ["--method", "dynamic"]),
        ("int4 weight-only RTN, block 32", ["--method", "weight-only"]),
        ("int4 weight-only GPTQ, block 32", ["--method", "weight-only", "--algorithm", "gptq", *calib, "128"]),
        ("int4 weight-only RTN, block 128", ["--method", "weight-only", "--block", "128"]),
    ]:
        out = os.path.join(work, label.split(" (")[0].replace(" ", "-").replace(",", "") + ".onnx")
        sh([NNC, "--quiet", "--threads", args.threads, "quantize", model, "-o", out, *options])
        variants[label] = out

    rows = {}
    for label, path in variants.items():
        logits = ort_logits(path, everything, work)
        rows[label] = {"top1": float((logits.argmax(1) == y).mean()), "bytes": os.path.getsize(path),
                       "ms32": ort_latency(path, batches[32], work, args.threads, args.repeat),
                       "ms1": ort_latency(path, batches[1], work, args.threads, args.repeat),
                       "runtime": "ONNX Runtime"}
    if args.model == "vit":
        rows.update(torch_peer(model, feeds["input"], y, args.threads, args.repeat))

    base = rows["float"]
    print(f"model {os.path.relpath(model, ROOT)}, {len(y)} test samples, {args.threads} threads, median of {args.repeat}")
    print("| variant | runtime | top-1 | Δ top-1 | size | smaller | batch 32 | speed-up | batch 1 | speed-up |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for label, r in rows.items():
        ref = rows["PyTorch float"] if label.startswith("PyTorch") else base
        print(f"| {label} | {r['runtime']} | {100 * r['top1']:.2f}% | {100 * (r['top1'] - ref['top1']):+.2f} pp | "
              f"{r['bytes'] / 1e3:,.0f} kB | {ref['bytes'] / r['bytes']:.2f}x | {r['ms32']:.2f} ms | {ref['ms32'] / r['ms32']:.2f}x | "
              f"{r['ms1']:.3f} ms | {ref['ms1'] / r['ms1']:.2f}x |")


if __name__ == "__main__":
    main()
