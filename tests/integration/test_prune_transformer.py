"""Structured pruning of transformer blocks with real removal (prune --method channels): the hidden
neurons of each MLP (up-projection columns with their bias, down-projection rows) form a channel
group through the GELU; attention heads are a group too (a head's rows of Q, K, V, its columns of
the output projection, and the head count in the Reshape shapes), with separate Q, K and V
projections or one fused QKV projection split by Reshape [B, T, 3, H, dh] (a head's features in
each of its three thirds); the residual stream (read by LayerNorm) is left alone with its reason.
AutoPrune gates whole heads. ONNX Runtime runs every pruned model and agrees with nncompress."""
import json
import os

import numpy as np
import onnx
from onnx import numpy_helper

from harness import ROOT, export_attention_encoder, kept_heads, ort_outputs, our_outputs, prune_channels_and_load, run, silence_heads


def matmul_weights(path):
    m = onnx.load(str(path))
    inits = {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}
    return [inits[n.input[1]].shape for n in m.graph.node if n.op_type == "MatMul" and n.input[1] in inits]


def test_mlp_neurons_and_fused_qkv_heads_are_removed_and_ort_agrees(nncompress, tmp_path):
    model, out = tmp_path / "encoder.onnx", tmp_path / "pruned.onnx"
    export_attention_encoder(model)
    code, stdout, err = run([nncompress, "--quiet", "prune", model, "-o", out, "--method", "channels", "--ratio", "0.5",
                             "--json"])
    assert code == 0, err
    report = json.loads(stdout)
    before, after = matmul_weights(model), matmul_weights(out)
    # Per block: qkv [64, 192] -> [64, 96] and proj [64, 64] -> [32, 64] (2 of 4 heads of 16),
    # MLP [64, 128] -> [64, 64] and [128, 64] -> [64, 64].
    assert sorted(before) == sorted([(64, 192), (64, 64), (64, 128), (128, 64)] * 2)
    assert sorted(after) == sorted([(64, 96), (32, 64), (64, 64), (64, 64)] * 2)
    assert report["params_after"] < report["params_before"]
    probe = tmp_path / "t.npy"
    np.save(probe, np.random.RandomState(2).randn(3, 12, 64).astype(np.float32))
    a = our_outputs(nncompress, out, probe, tmp_path / "ours")["hidden"]
    b = ort_outputs(out, {"tokens": probe}, tmp_path / "ort")["hidden"]
    assert np.abs(a - b).max() <= 1e-4 * np.abs(b).max()


def test_the_residual_stream_is_left_alone_with_its_reason(nncompress, tmp_path):
    model = tmp_path / "encoder.onnx"
    export_attention_encoder(model)
    code, stdout, err = run([nncompress, "--quiet", "prune", model, "-o", tmp_path / "p.onnx", "--method", "channels",
                             "--ratio", "0.5", "--json"])
    assert code == 0, err
    reasons = {r["node"]: r["reason"] for r in json.loads(stdout)["unprunable"]}
    assert "/0/qkv/MatMul" not in reasons  # fused Q, K and V lose whole heads
    assert "not per channel at '/0/Add'" in reasons["/0/mlp/mlp.2/MatMul"]  # the residual stream


def test_fused_qkv_heads_removed_equal_the_heads_silenced(nncompress, tmp_path):
    """Removing heads of a fused QKV projection computes what the original computes with those
    heads' output-projection rows zeroed: the same heads went from Q, K and V, and the Reshape
    shapes (head count written, merged width computed from the input's shape) follow."""
    model, out = tmp_path / "encoder.onnx", tmp_path / "heads.onnx"
    export_attention_encoder(model)
    original, pruned = prune_channels_and_load(nncompress, model, out, "--ratio", "0.5", "--keep", "*mlp*")
    for block in range(2):
        qkv = f"/{block}/qkv/MatMul"  # [64, 3 x 4 heads x 16] -> [64, 3 x 2 x 16]
        kept = kept_heads(original.weights[original.nodes[qkv].input[1]], pruned.weights[pruned.nodes[qkv].input[1]], 4, 16)
        assert len(kept) == 2
        silence_heads(original, original.nodes[f"/{block}/proj/MatMul"].input[1], 4, kept, 16, 0)
    onnx.save(original.model, str(tmp_path / "silenced.onnx"))
    probe = tmp_path / "t.npy"
    np.save(probe, np.random.RandomState(5).randn(3, 12, 64).astype(np.float32))
    want = ort_outputs(tmp_path / "silenced.onnx", {"tokens": probe}, tmp_path / "ort-silenced")["hidden"]
    for got in (ort_outputs(out, {"tokens": probe}, tmp_path / "ort")["hidden"],
                our_outputs(nncompress, out, probe, tmp_path / "ours")["hidden"]):
        assert np.abs(got - want).max() <= 1e-4 * np.abs(want).max()


def export_vit(folder):
    """tools/models/export_architectures.py's ViT (separate Q, K, V; 4 heads of 32; random weights)."""
    run(["/usr/bin/python3", os.path.join(ROOT, "tools", "models", "export_architectures.py"), "--out", folder, "vit"])
    return os.path.join(folder, "vit.onnx")


def vit_heads_left(path):
    """Heads of 32 features left in the ViT's 4 blocks; Q, K, V and O agree on them."""
    inits = {i.name: numpy_helper.to_array(i) for i in onnx.load(str(path)).graph.initializer}
    heads = 0
    for block in range(4):
        q, k, v, o = (inits[f"blocks.{block}.{p}.weight"] for p in "qkvo")
        assert q.shape == k.shape == v.shape and q.shape[1] % 32 == 0 and o.shape[0] == q.shape[1]
        heads += q.shape[1] // 32
    return heads


def assert_ort_agrees_on_vit(nncompress, model, tmp_path, batch, seed):
    probe = tmp_path / "x.npy"
    np.save(probe, np.random.RandomState(seed).rand(batch, 1, 28, 28).astype(np.float32))
    a = our_outputs(nncompress, model, probe, tmp_path / "ours")["logits"]
    b = ort_outputs(model, {"input": probe}, tmp_path / "ort")["logits"]
    assert np.abs(a - b).max() <= 1e-4 * max(np.abs(b).max(), 1)


def test_attention_heads_are_removed_with_their_head_count_and_ort_agrees(nncompress, tmp_path):
    model, out = export_vit(str(tmp_path)), tmp_path / "heads.onnx"
    code, stdout, err = run([nncompress, "--quiet", "prune", model, "-o", out, "--method", "channels",
                             "--target-macs", "0.5", "--json"])
    assert code == 0, err
    report = json.loads(stdout)
    assert report["macs_after"] <= 0.5 * report["macs_before"]
    assert 0 < vit_heads_left(out) < 16  # whole heads of 32 features went
    assert_ort_agrees_on_vit(nncompress, out, tmp_path, batch=5, seed=3)


def test_autoprune_gates_whole_heads_and_removal_is_exact(nncompress, tmp_path):
    """AutoPrune per channel: one auxiliary per head gates its Q, K, V features and biases; the
    closed heads are then removed, and the removed model scores what the gated one did."""
    model, out = export_vit(str(tmp_path)), tmp_path / "ap.onnx"
    data = os.path.join(ROOT, "models", "data", "fmnist-test.npz")
    code, stdout, err = run([nncompress, "--quiet", "prune", model, "-o", out, "--method", "autoprune", "--granularity",
                             "channels", "--target-macs", "0.5", "--data", data, "--limit", "256", "--val", data,
                             "--epochs", "1", "--batch", "64", "--json"])
    assert code == 0, err
    report = json.loads(stdout)
    assert report["macs_after"] <= 0.5 * report["macs_before"]
    assert not any("attention heads" in r["reason"] for r in report["unprunable"])
    assert 0 < vit_heads_left(out) < 16
    assert abs(report["top1_after"] - report["last_epoch_val_top1"]) <= 1 / 256
    assert_ort_agrees_on_vit(nncompress, out, tmp_path, batch=3, seed=4)
