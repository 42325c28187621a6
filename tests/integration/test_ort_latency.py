"""--ort-latency: prune, quantize and compress time the input and output models in ONNX Runtime,
whose C library is loaded at run time (here the one inside onnxruntime-node). Only what can be
checked without trusting a clock: the numbers are there and consistent, the gate reads them, and a
library that cannot be loaded is a clear error (exit 2)."""
import json
import os
import platform

import pytest

from harness import ROOT, run

LENET5 = os.path.join(ROOT, "models", "lenet5-mnist.onnx")
MNIST = os.path.join(ROOT, "models", "data", "mnist-test.npz")
ARCH = {"x86_64": "x64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
LIBRARY = os.path.join(ROOT, "tools", "npm", "node_modules", "onnxruntime-node", "bin", "napi-v6", "linux", ARCH,
                       "libonnxruntime.so.1")


@pytest.fixture(scope="module")
def library():
    assert os.path.exists(LIBRARY), f"{LIBRARY} missing: run tools/setup.sh"
    return LIBRARY


def check_latency(latency, runs):
    assert latency["version"].count(".") == 2, latency
    assert latency["runs"] == runs and latency["threads"] == 1
    assert latency["before_ms"] > 0 and latency["after_ms"] > 0
    assert latency["speedup"] == pytest.approx(latency["before_ms"] / latency["after_ms"])
    assert latency["slower"] == (latency["speedup"] < 1)


def test_quantize_reports_onnxruntime_latency_of_input_and_output(nncompress, library, tmp_path):
    out = tmp_path / "int8.onnx"
    code, stdout, err = run([nncompress, "--quiet", "--threads", "1", "quantize", LENET5, "-o", out, "--calib", MNIST,
                             "--limit", "256", "--ort-library", library, "--ort-runs", "7", "--json"])
    assert code == 0, err[-600:]
    check_latency(json.loads(stdout)["onnxruntime_latency"], 7)
    assert out.exists()
    # Without the flag nothing is loaded or timed.
    code, stdout, err = run([nncompress, "--quiet", "--threads", "1", "quantize", LENET5, "-o", tmp_path / "b.onnx",
                             "--calib", MNIST, "--limit", "256", "--json"])
    assert code == 0 and json.loads(stdout)["onnxruntime_latency"] is None


def test_min_ort_speedup_gates_prune_with_exit_3(nncompress, library, tmp_path):
    out = tmp_path / "pruned.onnx"
    code, stdout, err = run([nncompress, "--quiet", "--threads", "1", "prune", LENET5, "-o", out, "--ratio", "0.3",
                             "--ort-library", library, "--ort-runs", "3", "--min-ort-speedup", "1000", "--json"])
    assert code == 3, err[-600:]
    assert "--min-ort-speedup" in err
    check_latency(json.loads(stdout)["onnxruntime_latency"], 3)


def test_compress_report_has_latency_and_its_gate(nncompress, library, tmp_path):
    recipe = tmp_path / "int8.yaml"
    recipe.write_text("name: int8\nsteps:\n  - pass: quant.int8\n")
    out, report = tmp_path / "out.onnx", tmp_path / "report.json"
    code, _, err = run([nncompress, "--quiet", "--threads", "1", "compress", LENET5, "-o", out, "--recipe", recipe,
                        "--data", MNIST, "--limit", "256", "--report", report, "--ort-library", library,
                        "--ort-runs", "5", "--min-ort-speedup", "0.001"])
    assert code == 0, err[-600:]
    r = json.loads(report.read_text())
    check_latency(r["onnxruntime_latency"], 5)
    gate = next(g for g in r["gates"] if g["name"] == "min-ort-speedup")
    assert gate["passed"] and gate["value"] == pytest.approx(r["onnxruntime_latency"]["speedup"])
    assert "ONNX Runtime" in (tmp_path / "report.md").read_text()
    assert "ONNX Runtime" in (tmp_path / "report.html").read_text()


@pytest.mark.parametrize("bad", ["missing", "not-a-library"])
def test_a_library_that_cannot_be_used_is_a_clear_error(nncompress, tmp_path, bad):
    path = tmp_path / "libonnxruntime.so.1"
    if bad == "not-a-library":
        path.write_bytes(b"\x7fELF but not really")
    out = tmp_path / "int8.onnx"
    code, _, err = run([nncompress, "--quiet", "quantize", LENET5, "-o", out, "--calib", MNIST, "--limit", "64",
                        "--ort-library", path])
    assert code == 2, err[-600:]
    assert "cannot load ONNX Runtime" in err and str(path) in err
    assert not out.exists()  # a failed command leaves no output


def test_manifest_keys_time_each_entry(nncompress, library, tmp_path):
    recipe = tmp_path / "int8.yaml"
    recipe.write_text("name: int8\nsteps:\n  - pass: quant.int8\n")
    manifest = tmp_path / "batch.yaml"
    manifest.write_text(f"""models:
  - model: {LENET5}
    output: {tmp_path}/a.onnx
    recipe: {recipe}
    data: {MNIST}
    limit: 256
    ort-library: {library}
    ort-runs: 3
  - model: {LENET5}
    output: {tmp_path}/b.onnx
    recipe: {recipe}
    data: {MNIST}
    limit: 256
    ort-library: {library}
    min-ort-speedup: 1000
""")
    code, stdout, err = run([nncompress, "--quiet", "--threads", "1", "compress", "--batch", manifest, "--json"])
    assert code == 3, err[-600:]
    assert [r["status"] for r in json.loads(stdout)["models"]] == ["ok", "gate failed"]
    check_latency(json.loads((tmp_path / "a.report.json").read_text())["onnxruntime_latency"], 3)
    assert json.loads((tmp_path / "b.report.json").read_text())["onnxruntime_latency"]["runs"] == 20
