"""compress: a CI-style quality gate that passes (exit 0) and one that fails (exit 3, model still
written, one-line reason); the JSON report's numbers equal what `inspect` and `eval` say of the
output model; recipes are validated before any work (unknown pass or option named with its line,
missing data) with exit 2 and no output; `passes --json` lists every pass."""
import json
import os

import pytest

from harness import LENET5, MNIST_TEST, run

GOOD = """name: test
steps:
  - pass: prune.magnitude
    sparsity: 0.8
  - pass: finetune
    epochs: 1
    lr: 0.005
  - pass: quant.int8
    calibration: minmax
    calib-limit: 200
"""
DATA = ["--data", MNIST_TEST, "--limit", "1000", "--val", MNIST_TEST]


def write(path, text):
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return tmp_path_factory.mktemp("compress")


@pytest.fixture(scope="module")
def good(nncompress, work):
    """The good recipe under gates that hold: (exit code, stdout, stderr, output, report)."""
    out, report = work / "ok.onnx", work / "ok.json"
    code, stdout, err = run([nncompress, "--quiet", "--threads", "1", "compress", LENET5, "-o", out, "--recipe",
                             write(work / "good.yaml", GOOD), *DATA, "--report", report, "--max-accuracy-drop", "2",
                             "--min-size-ratio", "3"])
    return code, stdout, err, out, report


def test_gates_that_hold_exit_0_and_write_every_report(good):
    code, stdout, err, _, report = good
    assert code == 0, err
    assert all(report.with_suffix(ext).exists() for ext in (".json", ".md", ".html"))
    assert "| step | pass |" in stdout  # the Markdown summary


def test_html_report_renders_in_chromium_without_console_messages(good):
    html = good[4].with_suffix(".html")
    code, dom, log = run(["chromium", "--headless=new", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0",
                          "--dump-dom", "file://" + str(html)], timeout=120)
    console = [line for line in log.splitlines() if ":CONSOLE" in line]
    # Charts: top-1 against bytes, then per layer: channels, sparsity, bits, MACs.
    assert code == 0 and dom.count("<svg") == 5 and not console, console[:2]
    assert "Output channels per layer" in dom


def test_report_numbers_equal_inspect_and_eval(nncompress, good):
    _, _, _, out, report = good
    j = json.loads(report.read_text())
    assert j["schema_version"] == 1 and j["passed"] and len(j["steps"]) == 3
    _, ins, _ = run([nncompress, "inspect", "--json", out])
    ins = json.loads(ins)
    assert j["after"]["params"] == ins["params"] and j["after"]["macs"] == ins["macs"]
    _, ev, _ = run([nncompress, "--quiet", "eval", out, "--data", MNIST_TEST, "--json"])
    assert abs(j["accuracy"]["top1_after"] - json.loads(ev)["top1"]) < 1e-9
    assert j["sizes"]["output_file_bytes"] == os.path.getsize(out)
    assert all(layer["bits"] == 8 for layer in j["after"]["layers"])
    # 80% sparse, 8-bit: relative-index encoding (4-bit gaps + 8-bit values) beats dense codes.
    assert all(l["encoded_bytes"] < l["params"] for l in j["after"]["layers"] if l["nonzeros"] < 0.3 * l["params"])
    assert j["after"]["weights_encoded_bytes"] == sum(l["encoded_bytes"] for l in j["after"]["layers"])
    assert j["before"]["weights_encoded_bytes"] == j["before"]["weights_dense_bytes"] == \
        4 * sum(l["params"] for l in j["before"]["layers"])
    # Each step carries the pass's own details (what prune/quantize --json print).
    assert len(j["steps"][0]["details"]["layers"]) == 4 and j["steps"][2]["details"]["calibration_samples"] == 200


def test_a_gate_that_fails_exits_3_with_one_line_and_the_model(nncompress, work):
    out = work / "gate.onnx"
    code, stdout, err = run([nncompress, "--quiet", "--threads", "1", "compress", LENET5, "-o", out, "--recipe",
                             write(work / "good.yaml", GOOD), *DATA, "--min-size-ratio", "10", "--json"])
    assert code == 3
    assert "size ratio" in err and "--min-size-ratio" in err and len(err.strip().splitlines()) == 1, err
    assert out.exists()
    j = json.loads(stdout)
    assert not j["passed"] and not j["gates"][0]["passed"]


INT8 = """name: int8
steps:
  - pass: quant.int8
    calib-limit: 200
"""


def test_int8_over_the_accuracy_budget_leaves_its_noisiest_layers_float(nncompress, work):
    """LeNet-300-100 with a weight of 50 on the top-left pixel (0 in every MNIST image: the float
    model's outputs do not change) in every row of its first layer: int8 per-channel scales then
    round the row's other weights to 0 and top-1 collapses. compress leaves that layer float, the
    only one needed, says so, and holds a 1-point budget."""
    import numpy as np
    import onnx
    from onnx import numpy_helper
    from harness import ROOT
    assert np.load(MNIST_TEST)["x"].reshape(-1, 784)[:, 0].max() == 0
    model = onnx.load(os.path.join(ROOT, "models", "lenet-300-100-mnist.onnx"))
    for i, init in enumerate(model.graph.initializer):
        if init.name == "net.1.weight":
            w = numpy_helper.to_array(init).copy()
            w[:, 0] = 50.0
            model.graph.initializer[i].CopyFrom(numpy_helper.from_array(w, init.name))
    source = work / "outlier-mlp.onnx"
    onnx.save(model, str(source))
    out, report = work / "fallback.onnx", work / "fallback.json"
    code, _, err = run([nncompress, "--quiet", "--threads", "1", "compress", source, "-o", out, "--recipe",
                        write(work / "int8.yaml", INT8), *DATA, "--report", report, "--max-accuracy-drop", "1"])
    assert code == 0, err
    step = json.loads(report.read_text())["steps"][0]
    fallback = step["details"]["accuracy_fallback"]
    assert fallback["met"] and fallback["trials"][0]["float_layers"] == 0
    assert fallback["trials"][0]["accuracy_drop_pp"] > 10  # every layer int8: the collapse
    assert fallback["float_layers"] == ["/net/net.1/Gemm"]
    assert [layer["name"] for layer in step["details"]["layers"]] == ["/net/net.3/Gemm", "/net/net.5/Gemm"]
    graph = onnx.load(str(out)).graph
    first = next(n for n in graph.node if n.name == "/net/net.1/Gemm")
    assert first.input[1] == "net.1.weight"  # the float weight, not a DequantizeLinear's output


@pytest.mark.parametrize("name,text,needle", [
    ("unknown-pass.yaml", "steps:\n  - pass: prune.magic\n", ":2: unknown pass 'prune.magic'"),
    ("unknown-option.yaml", "steps:\n  - pass: prune.magnitude\n    sparsty: 0.5\n", ":3: prune.magnitude.sparsty: no such option"),
    ("bad-value.yaml", "steps:\n  - pass: quant.int8\n    calibration: median\n",
     ":3: quant.int8.calibration: 'median' is not one of minmax, percentile, entropy"),
    ("out-of-range.yaml", "steps:\n  - pass: prune.channels\n    ratio: 1.5\n", ":3: prune.channels.ratio: 1.5 is not in [0, 1)"),
    ("not-yaml.yaml", "steps: [\n", "not valid YAML"),
    ("quant-not-last.yaml", "steps:\n  - pass: quant.mixed\n    avg-bits: 4\n  - pass: finetune\n",
     ":4: step 2 (finetune) follows quant.mixed, which must be the last step"),
    ("autoprune-mixed.yaml", "steps:\n  - pass: prune.autoprune\n    granularity: channels\n    sparsity: 0.5\n",
     ":2: step 1 (prune.autoprune): granularity channels takes target-macs or target-params, not sparsity"),
    ("negative-samples.yaml", "steps:\n  - pass: finetune\n    epoch-samples: -5\n", ":3: finetune.epoch-samples: -5 is not >= 0"),
])
def test_bad_recipes_exit_2_before_any_work(nncompress, work, name, text, needle):
    out = work / (name + ".onnx")
    code, _, err = run([nncompress, "compress", LENET5, "-o", out, "--recipe", write(work / name, text), *DATA])
    assert code == 2 and needle in err and not out.exists(), err


def test_missing_data_is_found_before_any_work(nncompress, work):
    out = work / "nodata.onnx"
    code, _, err = run([nncompress, "compress", LENET5, "-o", out, "--recipe", write(work / "good.yaml", GOOD)])
    assert code == 2 and "good.yaml:5: step 2 (finetune) needs labeled training data: give --data" in err, err
    assert not out.exists()


def test_mixed_precision_recipe_reports_packed_widths(nncompress, work):
    out, report = work / "mixed.onnx", work / "mixed.json"
    recipe = write(work / "mixed.yaml", "steps:\n  - pass: quant.mixed\n    avg-bits: 4\n    calib-limit: 200\n")
    code, _, err = run([nncompress, "--quiet", "compress", LENET5, "-o", out, "--recipe", recipe, *DATA, "--report", report])
    assert code == 0, err
    j = json.loads(report.read_text())
    layers = j["after"]["layers"]
    assert len(layers) == 4 and sum(l["params"] * l["bits"] for l in layers) <= 4 * sum(l["params"] for l in layers)
    assert j["after"]["macs"] == j["before"]["macs"]  # decoding packed weights adds no MACs (runtimes fold it)


def test_passes_json_lists_every_pass(nncompress):
    code, stdout, _ = run([nncompress, "passes", "--json"])
    assert code == 0
    names = [p["name"] for p in json.loads(stdout)]
    assert {"prune.channels", "prune.magnitude", "prune.autoprune", "quant.int8", "quant.focused", "quant.mixed", "finetune",
            "cleanup.identity"} <= set(names)
