"""Helpers shared by the integration tests (pytest cases, run by ctest with /usr/bin/python3 -m pytest)."""
import os
import subprocess
import sys
import types

# The repository root (tests/integration/../..), and the shipped default model and its data.
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LENET5 = os.path.join(ROOT, "models", "lenet5-mnist.onnx")
MNIST_TEST = os.path.join(ROOT, "models", "data", "mnist-test.npz")


def run(cmd, **kw):
    """Runs a command and returns (exit code, stdout, stderr); a signal gives a negative code."""
    p = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, errors="replace", **kw)
    return p.returncode, p.stdout, p.stderr


def export_torchvision(folder, names, opset=13, size=224):
    """Exports torchvision models (random weights, fixed seed) to `folder`/NAME.onnx, once."""
    subprocess.run([sys.executable, os.path.join(ROOT, "tools", "export_torchvision.py"), "--out", folder,
                    "--opset", str(opset), "--size", str(size), *names], check=True)
    return {n: os.path.join(folder, n + ".onnx") for n in names}


def layer_weights(path):
    """Conv/Gemm weights (dense or sparse initializers) of an .onnx file as numpy arrays, read by
    python3-onnx."""
    import numpy as np
    import onnx
    from onnx import numpy_helper
    m = onnx.load(path)
    dense = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    for sp in m.graph.sparse_initializer:
        values = numpy_helper.to_array(sp.values)
        idx = numpy_helper.to_array(sp.indices).reshape(-1)
        a = np.zeros(int(np.prod(sp.dims)), values.dtype)
        a[idx] = values
        dense[sp.values.name] = a.reshape(tuple(sp.dims))
    return [dense[n.input[1]] for n in m.graph.node if n.op_type in ("Conv", "Gemm")]


def ort_layer_weights(model_path, work):
    """Conv/Gemm weights of an .onnx file as onnxruntime-node computes them (whatever their storage:
    initializers, DequantizeLinear, packed codes): each weight tensor is made a graph output and the
    model run on one zero input (shaped from the model's first input, batch 1)."""
    import numpy as np
    import onnx
    m = onnx.load(model_path)
    names = [n.input[1] for n in m.graph.node if n.op_type in ("Conv", "Gemm")]
    for name in names:
        m.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    probe = os.path.join(work, "weights_probe.onnx")
    onnx.save(m, probe)
    inp = m.graph.input[0]
    shape = [d.dim_value or 1 for d in inp.type.tensor_type.shape.dim]
    x = os.path.join(work, "weights_probe_x.npy")
    np.save(x, np.zeros(shape, np.float32))
    out = os.path.join(work, "weights_probe_out")
    code, _, err = run(["node", os.path.join(ROOT, "tools", "ort", "run.js"), probe, out, f"{inp.name}={x}"])
    if code != 0:
        raise RuntimeError(f"onnxruntime-node failed on {probe}: {err.strip()[:300]}")
    clean = lambda n: "".join(c if c.isalnum() or c in "._-" else "_" for c in n)
    return [np.load(os.path.join(out, clean(n) + ".npy")) for n in names]


def logits_of_both(nncompress, model, test_npz, work):
    """Runs the first 64 samples of an MNIST-style .npz through nncompress and onnxruntime-node:
    (ours, theirs, errors), a runtime's logits None when it failed."""
    import numpy as np
    d = np.load(test_npz)
    x_path = os.path.join(work, "x.npy")
    np.save(x_path, (d["x"][:64, None] / 255.0).astype(np.float32))
    ours, theirs = os.path.join(work, "ours"), os.path.join(work, "ort")
    code1, _, e1 = run([nncompress, "--quiet", "run", model, "-i", x_path, "-o", ours])
    code2, _, e2 = run(["node", os.path.join(ROOT, "tools", "ort", "run.js"), model, theirs, f"input={x_path}"])
    a = np.load(os.path.join(ours, "logits.npy")) if code1 == 0 else None
    b = np.load(os.path.join(theirs, "logits.npy")) if code2 == 0 else None
    return a, b, f"{e1.strip()[:200]} {e2.strip()[:200]}"


def assert_same_as_ort(nncompress, model, test_npz, work):
    """Both runtimes run the model and their logits agree."""
    import numpy as np
    a, b, errors = logits_of_both(nncompress, model, test_npz, str(work))
    assert a is not None and b is not None, errors
    assert np.allclose(a, b, rtol=1e-4, atol=1e-4), f"max diff {np.abs(a - b).max():.2e}"


# ONNX Runtime's MatMulNBits (what it fuses block-wise DequantizeLinear -> MatMul into) with float
# accumulation, as the ONNX semantics; its default rounds the activations to int8.
ORT_EXACT_MATMULNBITS = ("--config", "session.qdq_matmulnbits_accuracy_level=0")


def ort_outputs(model, feeds, out_dir, options=()):
    """onnxruntime-node's outputs of `model` for feeds {input name: .npy path}, by output name;
    `options`: more arguments of tools/ort/run.js."""
    import numpy as np
    args = ["node", os.path.join(ROOT, "tools", "ort", "run.js"), str(model), str(out_dir), *options]
    code, _, err = run(args + [f"{name}={path}" for name, path in feeds.items()])
    assert code == 0, err
    return {f[:-4]: np.load(os.path.join(out_dir, f)) for f in os.listdir(out_dir)}


def our_outputs(nncompress, model, feed, out_dir):
    """nncompress run's outputs of `model` for one input .npy (or feeds {input name: .npy path}),
    by output name."""
    import numpy as np
    feeds = [f"{k}={v}" for k, v in feed.items()] if isinstance(feed, dict) else [str(feed)]
    code, _, err = run([nncompress, "--quiet", "run", str(model), "-i", *feeds, "-o", str(out_dir)])
    assert code == 0, err
    return {f[:-4]: np.load(os.path.join(out_dir, f)) for f in os.listdir(out_dir)}


def export_attention_encoder(path):
    """Two self-attention blocks (fused QKV projection, 4 heads, GELU MLP, LayerNorm) on [B, 12, 64]."""
    import torch
    torch.manual_seed(0)

    class Block(torch.nn.Module):
        def __init__(self, d=64, heads=4):
            super().__init__()
            self.heads, self.qkv, self.proj = heads, torch.nn.Linear(d, 3 * d), torch.nn.Linear(d, d)
            self.mlp = torch.nn.Sequential(torch.nn.Linear(d, 128), torch.nn.GELU(), torch.nn.Linear(128, d))
            self.ln1, self.ln2 = torch.nn.LayerNorm(d), torch.nn.LayerNorm(d)

        def forward(self, x):
            b, t, d = x.shape
            q, k, v = self.qkv(self.ln1(x)).reshape(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
            a = torch.softmax(q @ k.transpose(-1, -2) / (d // self.heads) ** 0.5, -1) @ v
            x = x + self.proj(a.transpose(1, 2).reshape(b, t, d))
            return x + self.mlp(self.ln2(x))

    model = torch.nn.Sequential(Block(), Block()).eval()
    torch.onnx.export(model, torch.randn(2, 12, 64), str(path), input_names=["tokens"], output_names=["hidden"],
                      dynamic_axes={"tokens": {0: "batch"}}, opset_version=14)


def export_small_torchvision_vit(path, opset, static_batch=None):
    """torchvision's VisionTransformer (nn.MultiheadAttention: chunked in-projection, heads merged
    into the batch) made small: 32x32 images, patches of 8, 2 layers of 4 heads of 16. With a
    static batch, the exporter writes the Slice bounds and Reshape targets as constants."""
    import torch
    import torchvision
    torch.manual_seed(0)
    model = torchvision.models.VisionTransformer(image_size=32, patch_size=8, num_layers=2, num_heads=4, hidden_dim=64,
                                                 mlp_dim=128, num_classes=10).eval()
    dynamic = {} if static_batch else {"input": {0: "N"}, "logits": {0: "N"}}
    torch.onnx.export(model, torch.randn(static_batch or 1, 3, 32, 32), str(path), input_names=["input"],
                      output_names=["logits"], dynamic_axes=dynamic, opset_version=opset)


def prune_channels_and_load(nncompress, model, out, *options):
    """`prune --method channels OPTIONS` of `model` into `out`; both models as loaded by
    python3-onnx (.model), with their initializers as arrays (.weights) and nodes by name (.nodes)."""
    import onnx
    from onnx import numpy_helper
    code, _, err = run([nncompress, "--quiet", "prune", model, "-o", out, "--method", "channels", *options])
    assert code == 0, err

    def load(path):
        m = onnx.load(str(path))
        return types.SimpleNamespace(model=m, weights={i.name: numpy_helper.to_array(i) for i in m.graph.initializer},
                                     nodes={n.name: n for n in m.graph.node})
    return load(model), load(out)


def kept_heads(before, after, heads, d):
    """Heads of `before`'s [E, 3 x heads x d] fused in-projection that `after` kept, checked to be
    the same heads in Q, K and V."""
    import numpy as np
    kept_count = after.shape[1] // (3 * d)
    kept = [h for h in range(heads) if any(np.array_equal(before[:, h * d:(h + 1) * d], after[:, k * d:(k + 1) * d])
                                           for k in range(kept_count))]
    assert len(kept) == kept_count
    for third in range(3):
        expect = np.concatenate([before[:, (third * heads + h) * d:(third * heads + h + 1) * d] for h in kept], 1)
        assert np.array_equal(after[:, third * kept_count * d:(third + 1) * kept_count * d], expect)
    return kept


def silence_heads(loaded, weight, heads, kept, d, axis):
    """Zeroes what the output projection `weight` of a loaded model reads from the heads not in
    `kept` (d features each on `axis`: 0 for x W, 1 for Gemm's transposed W), in its .model."""
    from onnx import numpy_helper
    w = loaded.weights[weight].copy()
    for h in set(range(heads)) - set(kept):
        w[(slice(None),) * axis + (slice(h * d, (h + 1) * d),)] = 0
    next(i for i in loaded.model.graph.initializer if i.name == weight).CopyFrom(numpy_helper.from_array(w, weight))


def ort_detection_map(model, npz, work, limit=0):
    """(mAP@0.5, mAP@0.5:0.95) of a detector with a raw head (one input `images`, uint8 canvases
    scaled to [0, 1]) run by onnxruntime-node on the .npz's first `limit` images (0: all), decoded
    by the numpy reference (detection_reference.py)."""
    import numpy as np
    from detection_reference import coco_map, decode, detect
    d = np.load(npz)
    x, truths = d["x"], d["boxes"]
    if limit:
        x, truths = x[:limit], truths[:limit]
    os.makedirs(work, exist_ok=True)
    feed = os.path.join(work, "images.npy")
    np.save(feed, (x.astype(np.float32) / 255.0)[:, None])
    raw = ort_outputs(model, {"images": feed}, os.path.join(work, "ort"))["head"]
    boxes, scores = decode(raw, x.shape[1], x.shape[2])
    map50, map50_95, _ = coco_map(detect(boxes, scores), truths)
    return map50, map50_95
