"""torchvision's Vision Transformer and Swin Transformer (random weights): nncompress runs them
with ONNX Runtime's outputs, and its int8 (static and dynamic) and 4-bit weight-only models load
and run in ONNX Runtime. CI runs swin_t at opset 17 (LayerNormalization, ScatterND masks);
NNCOMPRESS_ALL_TRANSFORMERS=1 (bench/torchvision_transformers.sh) runs vit_b_16 and swin_t at
opsets 14 and 17."""
import os

import numpy as np
import pytest

from harness import ORT_EXACT_MATMULNBITS, export_torchvision, ort_outputs, our_outputs, run

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
