#!/usr/bin/python3
"""compress: a CI-style quality gate that passes (exit 0) and one that fails (exit 3, model still
written, one-line reason); the JSON report's numbers equal what `inspect` and `eval` say of the
output model; recipes are validated before any work (unknown pass or option named with its line,
missing data) with exit 2 and no output; `passes --json` lists every pass."""
import argparse
import json
import os
import tempfile

from harness import LENET5, MNIST_TEST, check, finish, run

ap = argparse.ArgumentParser()
ap.add_argument("--nncompress", required=True)
args = ap.parse_args()
work = tempfile.mkdtemp(prefix="nncompress_compress_")
nnc = args.nncompress


def recipe(name, text):
    path = os.path.join(work, name)
    with open(path, "w") as f:
        f.write(text)
    return path


good = recipe("good.yaml", """name: test
steps:
  - pass: prune.magnitude
    sparsity: 0.8
  - pass: finetune
    epochs: 1
    lr: 0.005
  - pass: quant.int8
    calibration: minmax
    calib-limit: 200
""")
data = ["--data", MNIST_TEST, "--limit", "1000", "--val", MNIST_TEST]

out, report = os.path.join(work, "ok.onnx"), os.path.join(work, "ok.json")
code, stdout, err = run([nnc, "--quiet", "--threads", "1", "compress", LENET5, "-o", out, "--recipe", good, *data,
                         "--report", report, "--max-accuracy-drop", "2", "--min-size-ratio", "3"])
check(code == 0, f"gates that hold: exit 0 {err.strip()[:300]}")
check(all(os.path.exists(report[:-5] + ext) for ext in (".json", ".md", ".html")), "JSON, Markdown and HTML reports written")
if os.path.exists(report[:-5] + ".html"):
    # The HTML page renders in headless Chromium with no console messages (errors, failed loads).
    code, dom, log = run(["chromium", "--headless=new", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0",
                          "--dump-dom", "file://" + os.path.abspath(report[:-5] + ".html")], timeout=120)
    console = [line for line in log.splitlines() if ":CONSOLE" in line]
    check(code == 0 and dom.count("<svg") == 4 and not console,
          f"HTML report renders in Chromium: exit {code}, {dom.count('<svg')} charts, console {console[:2]}")
check("| step | pass |" in stdout, "Markdown summary on stdout")
if code == 0:
    j = json.load(open(report))
    check(j["schema_version"] == 1 and j["passed"] and len(j["steps"]) == 3, "schema_version 1, passed, 3 steps")
    _, ins, _ = run([nnc, "inspect", "--json", out])
    ins = json.loads(ins)
    check(j["after"]["params"] == ins["params"] and j["after"]["macs"] == ins["macs"],
          f"params/MACs match inspect: {j['after']['params']}/{ins['params']}, {j['after']['macs']}/{ins['macs']}")
    _, ev, _ = run([nnc, "--quiet", "eval", out, "--data", MNIST_TEST, "--json"])
    ev = json.loads(ev)
    check(abs(j["accuracy"]["top1_after"] - ev["top1"]) < 1e-9, f"top-1 matches eval: {j['accuracy']['top1_after']} / {ev['top1']}")
    check(j["sizes"]["output_file_bytes"] == os.path.getsize(out), "output_file_bytes is the file's size")
    check(all(layer["bits"] == 8 for layer in j["after"]["layers"]), "every layer's weights are stored in 8 bits")
    # 80% sparse, 8-bit: relative-index encoding (4-bit gaps + 8-bit values) beats dense codes.
    check(all(l["encoded_bytes"] < l["params"] for l in j["after"]["layers"] if l["nonzeros"] < 0.3 * l["params"]),
          "sparse 8-bit layers encode below a byte per weight")
    check(j["after"]["weights_encoded_bytes"] == sum(l["encoded_bytes"] for l in j["after"]["layers"]) and
          j["before"]["weights_encoded_bytes"] == j["before"]["weights_dense_bytes"] == 4 * sum(l["params"] for l in j["before"]["layers"]),
          "encoded totals: the layers' sum; the float input encodes at 4 bytes a weight")

out3 = os.path.join(work, "gate.onnx")
code, stdout, err = run([nnc, "--quiet", "--threads", "1", "compress", LENET5, "-o", out3, "--recipe", good, *data,
                         "--min-size-ratio", "10", "--json"])
check(code == 3, f"a gate that fails: exit {code}")
check("size ratio" in err and "--min-size-ratio" in err and len(err.strip().splitlines()) == 1, f"one-line reason: {err.strip()[:200]}")
check(os.path.exists(out3), "the model is still written when a gate fails")
if stdout.strip():
    j = json.loads(stdout)
    check(not j["passed"] and not j["gates"][0]["passed"], "the report marks the failed gate")

for name, text, needle in (
        ("unknown-pass.yaml", "steps:\n  - pass: prune.magic\n", ":2: unknown pass 'prune.magic'"),
        ("unknown-option.yaml", "steps:\n  - pass: prune.magnitude\n    sparsty: 0.5\n", ":3: prune.magnitude.sparsty: no such option"),
        ("bad-value.yaml", "steps:\n  - pass: quant.int8\n    calibration: median\n", ":3: quant.int8.calibration: 'median' is not one of minmax, percentile, entropy"),
        ("not-yaml.yaml", "steps: [\n", "not valid YAML"),
        ("quant-not-last.yaml", "steps:\n  - pass: quant.mixed\n    avg-bits: 4\n  - pass: finetune\n",
         ":4: step 2 (finetune) follows quant.mixed, which must be the last step"),
        ("autoprune-mixed.yaml", "steps:\n  - pass: prune.autoprune\n    granularity: channels\n    sparsity: 0.5\n",
         ":2: step 1 (prune.autoprune): granularity channels takes target-macs or target-params, not sparsity"),
        ("negative-samples.yaml", "steps:\n  - pass: finetune\n    epoch-samples: -5\n",
         ":3: finetune.epoch-samples: -5 is not >= 0")):
    bad_out = os.path.join(work, name + ".onnx")
    code, _, err = run([nnc, "compress", LENET5, "-o", bad_out, "--recipe", recipe(name, text), *data])
    check(code == 2 and needle in err and not os.path.exists(bad_out), f"{name}: exit {code}, {err.strip()[:200]}")
code, _, err = run([nnc, "compress", LENET5, "-o", os.path.join(work, "nodata.onnx"), "--recipe", good])
check(code == 2 and "good.yaml:5: step 2 (finetune) needs labeled training data: give --data" in err and not os.path.exists(os.path.join(work, "nodata.onnx")),
      f"missing data is found before any work, with the step's line: {err.strip()[:200]}")
mixed = recipe("mixed.yaml", """steps:
  - pass: quant.mixed
    avg-bits: 4
    calib-limit: 200
""")
out4, report4 = os.path.join(work, "mixed.onnx"), os.path.join(work, "mixed.json")
code, _, err = run([nnc, "--quiet", "compress", LENET5, "-o", out4, "--recipe", mixed, *data, "--report", report4])
check(code == 0, f"quant.mixed recipe: exit 0 {err.strip()[:200]}")
if code == 0:
    j = json.load(open(report4))
    layers = j["after"]["layers"]
    check(len(layers) == 4 and sum(l["params"] * l["bits"] for l in layers) <= 4 * sum(l["params"] for l in layers),
          f"the report has the 4 layers with their packed widths: {[l['bits'] for l in layers]}")
    check(j["after"]["macs"] == j["before"]["macs"], "decoding packed weights adds no MACs (runtimes fold it)")
code, stdout, _ = run([nnc, "passes", "--json"])
names = [p["name"] for p in json.loads(stdout)] if code == 0 else []
check({"prune.channels", "prune.magnitude", "prune.autoprune", "quant.int8", "quant.focused", "quant.mixed", "finetune"} <= set(names),
      f"passes --json lists every pass: {names}")
finish()
