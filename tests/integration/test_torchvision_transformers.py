"""torchvision's Vision Transformer and Swin Transformer (random weights): nncompress runs them
with ONNX Runtime's outputs, and its int8 (static and dynamic) and 4-bit weight-only models load
and run in ONNX Runtime. CI runs swin_t at opset 17 (LayerNormalization, ScatterND masks);
NNCOMPRESS_ALL_TRANSFORMERS=1 (bench/torchvision_transformers.sh) runs vit_b_16 and swin_t at
opsets 14 and 17."""
import os

import numpy as np
import pytest

from harness import (ORT_EXACT_MATMULNBITS, export_small_torchvision_vit, export_torchvision, kept_heads, ort_outputs,
                     our_outputs, prune_channels_and_load, run, silence_heads)

CASES = [("swin_t", 17)]
if os.environ.get("NNCOMPRESS_ALL_TRANSFORMERS") == "1":
    CASES = [(m, o) for m in ("vit_b_16", "swin_t") for o in (14, 17)]


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    folder = tmp_path_factory.mktemp("images")
    rng = np.random.RandomState(0)
    np.save(folder / "probe.npy", rng.randn(2, 3, 224, 224).astype(np.float32))
    np.save(folder / "calib.npy", rng.randn(4, 3, 224, 224).astype(np.float32))
    return folder


@pytest.mark.parametrize("name,opset", CASES)
def test_runs_like_ort_and_quantized_models_run_in_ort(nncompress, models_dir, images, tmp_path, name, opset):
    folder = os.path.join(models_dir, f"opset{opset}")
    model = export_torchvision(folder, [name], opset)[name]
    probe = images / "probe.npy"
    ref = ort_outputs(model, {"input": probe}, tmp_path / "ort")["logits"]
    ours = our_outputs(nncompress, model, probe, tmp_path / "ours")["logits"]
    assert np.abs(ours - ref).max() <= 1e-4 * max(np.abs(ref).max(), 1)
    for method, options, tolerance in [("weight-only", [], 1e-4), ("dynamic", [], 0.05),
                                       ("int8", ["--calib", images / "calib.npy"], 0.2)]:
        out = tmp_path / f"{method}.onnx"
        code, _, err = run([nncompress, "--quiet", "quantize", model, "-o", out, "--method", method, *options])
        assert code == 0, f"{method}: {err}"
        exact = ORT_EXACT_MATMULNBITS if method == "weight-only" else ()
        theirs = ort_outputs(out, {"input": probe}, tmp_path / f"ort-{method}", exact)["logits"]
        mine = our_outputs(nncompress, out, probe, tmp_path / f"ours-{method}")["logits"]
        # Exact for weight-only (float arithmetic on the same weights); within rounding of the
        # integer kernels otherwise, relative to the logits' range.
        assert np.abs(mine - theirs).max() <= tolerance * max(np.abs(theirs).max(), 1), method


@pytest.mark.parametrize("name,opset", [c for c in CASES if c[0] == "swin_t"])
def test_swin_heads_removed_equal_the_heads_silenced(nncompress, models_dir, images, tmp_path, name, opset):
    """Head pruning of Swin's fused QKV projections (per-head relative position biases, shifted
    windows' mask Reshapes naming the head count): the pruned model computes what the original
    computes with the removed heads' output-projection rows zeroed, in ONNX Runtime."""
    import onnx
    model = export_torchvision(os.path.join(models_dir, f"opset{opset}"), [name], opset)[name]
    out = tmp_path / "heads.onnx"
    original, pruned = prune_channels_and_load(nncompress, model, out, "--ratio", "0.25", "--keep", "*mlp*",
                                               "--keep", "*reduction*")
    blocks = 0
    for qkv in [k for k in original.nodes if k.endswith("attn/MatMul")]:
        a, b = original.weights[original.nodes[qkv].input[1]], pruned.weights[pruned.nodes[qkv].input[1]]
        d = 32  # every Swin-T head is 32 wide
        heads = a.shape[1] // (3 * d)
        if b.shape[1] == a.shape[1]:
            continue
        kept = kept_heads(a, b, heads, d)
        silence_heads(original, original.nodes[qkv + "_3"].input[1], heads, kept, d, 0)  # attn/MatMul_3: x W_out
        blocks += 1
    assert blocks >= 8  # stages of 6, 12 and 24 heads lose a quarter; the 3-head stage keeps all
    onnx.save(original.model, str(tmp_path / "silenced.onnx"))
    probe = images / "probe.npy"
    want = ort_outputs(tmp_path / "silenced.onnx", {"input": probe}, tmp_path / "ort-silenced")["logits"]
    got = ort_outputs(out, {"input": probe}, tmp_path / "ort-heads")["logits"]
    assert np.abs(got - want).max() <= 1e-4 * max(np.abs(want).max(), 1)


MULTIHEAD_CASES = [("small", 14, None), ("small", 17, None), ("small", 17, 3)]
if os.environ.get("NNCOMPRESS_ALL_TRANSFORMERS") == "1":
    MULTIHEAD_CASES += [("vit_b_16", 14, None), ("vit_b_16", 17, None)]


@pytest.mark.parametrize("name,opset,static_batch", MULTIHEAD_CASES)
def test_multihead_attention_heads_removed_equal_the_heads_silenced(nncompress, models_dir, tmp_path, name, opset,
                                                                    static_batch):
    """Head pruning of torch's nn.MultiheadAttention as torchvision's ViT exports it (one
    in-projection cut by Slices with bounds computed from its width, heads merged into the batch,
    B * H and the merged width computed in the Reshape targets): the pruned model computes what the
    original computes with the removed heads' output-projection columns zeroed. A static batch
    gives constant bounds and targets, rewritten."""
    import onnx
    if name == "small":  # 2 layers of 4 heads of 16 on 32x32 images
        model, heads, d, size = tmp_path / "vit.onnx", 4, 16, 32
        export_small_torchvision_vit(model, opset, static_batch)
    else:  # vit_b_16: 12 layers of 12 heads of 64
        model, heads, d, size = export_torchvision(os.path.join(models_dir, f"opset{opset}"), [name], opset)[name], 12, 64, 224
    out = tmp_path / "heads.onnx"
    original, pruned = prune_channels_and_load(nncompress, model, out, "--ratio", "0.5", "--keep", "*mlp*")
    prefixes = [k[:-len("MatMul")] for k in original.nodes if k.endswith("/self_attention/MatMul")]
    assert prefixes
    for prefix in prefixes:
        kept = kept_heads(original.weights[original.nodes[prefix + "MatMul"].input[1]],
                          pruned.weights[pruned.nodes[prefix + "MatMul"].input[1]], heads, d)
        assert len(kept) == heads // 2
        silence_heads(original, original.nodes[prefix + "Gemm"].input[1], heads, kept, d, 1)  # Gemm transB: [E out, E in]
    onnx.save(original.model, str(tmp_path / "silenced.onnx"))
    probe = tmp_path / "x.npy"
    np.save(probe, np.random.RandomState(3).randn(static_batch or 2, 3, size, size).astype(np.float32))
    want = ort_outputs(tmp_path / "silenced.onnx", {"input": probe}, tmp_path / "ort-silenced")["logits"]
    for got in (ort_outputs(out, {"input": probe}, tmp_path / "ort")["logits"],
                our_outputs(nncompress, out, probe, tmp_path / "ours")["logits"]):
        assert np.abs(got - want).max() <= 1e-4 * max(np.abs(want).max(), 1)


def test_macs_count_attention_whose_heads_share_the_batch_axis(nncompress, tmp_path):
    """The small torchvision ViT's MACs, with the tokens-first attention ([T, B, E], [T, B * H, dh])
    that only a run of the model sizes: those dimensions are read at batch 1."""
    import json
    model = tmp_path / "vit.onnx"
    export_small_torchvision_vit(model, 17)
    code, out, err = run([nncompress, "--quiet", "inspect", model, "--json"])
    assert code == 0, err
    tokens, e, layer = 17, 64, 0
    layer += tokens * e * 3 * e + 2 * tokens * tokens * e + tokens * e * e  # in-projection, Q K^T and A V, out-projection
    layer += 2 * tokens * e * 128  # MLP
    patches, head = 16 * e * 3 * 8 * 8, e * 10
    report = json.loads(out)
    assert report["nodes_with_unknown_macs"] == 0
    assert report["macs"] == patches + 2 * layer + head


def test_taylor_refuses_to_rank_when_no_gradient_arrives(nncompress, tmp_path):
    """torchvision starts the ViT's classifier at zero: every gradient behind it is zero, and
    Taylor scores would rank nothing (a --target-macs search then took every head but one)."""
    model, data = tmp_path / "vit.onnx", tmp_path / "d.npz"
    export_small_torchvision_vit(model, 17)
    rng = np.random.RandomState(0)
    np.savez(data, x=rng.randn(64, 3, 32, 32).astype(np.float32), y=rng.randint(0, 10, 64).astype(np.int64))
    code, _, err = run([nncompress, "prune", model, "-o", tmp_path / "out.onnx", "--method", "channels",
                        "--criterion", "taylor", "--data", data, "--target-macs", "0.8"])
    assert code == 2 and "every gradient reaching the prunable layers is zero" in err, err
    assert not (tmp_path / "out.onnx").exists()


def test_a_macs_target_predicts_the_attention_it_removes(nncompress, tmp_path):
    """--target-macs predicts the MACs left exactly, attention's Q K^T and attention x V included
    (they shrink with the heads)."""
    import json
    model = tmp_path / "vit.onnx"
    export_small_torchvision_vit(model, 17)
    code, out, err = run([nncompress, "--quiet", "prune", model, "-o", tmp_path / "out.onnx", "--method", "channels",
                          "--target-macs", "0.6", "--json"])
    assert code == 0, err
    report = json.loads(out)
    assert report["macs_after"] <= 0.6 * report["macs_before"]
    assert abs(report["predicted_fraction"] - report["macs_after"] / report["macs_before"]) < 1e-9


def test_round_to_counts_the_features_of_a_head(nncompress, tmp_path):
    """--round-to 8 on heads of 16 features: any head count is a multiple of 8 features, so a
    quarter of 4 heads goes (it was rounded as if heads were features: 3 -> 8, nothing pruned)."""
    model = tmp_path / "vit.onnx"
    export_small_torchvision_vit(model, 17)
    original, pruned = prune_channels_and_load(nncompress, model, tmp_path / "out.onnx", "--ratio", "0.25",
                                               "--round-to", "8", "--keep", "*mlp*")
    qkv = "/encoder/layers/encoder_layer_0/self_attention/MatMul"
    assert pruned.weights[pruned.nodes[qkv].input[1]].shape == (64, 3 * 3 * 16)
