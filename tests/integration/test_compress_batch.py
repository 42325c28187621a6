#!/usr/bin/python3
"""compress --batch: a manifest (YAML and CSV) with a model that passes, one that fails its gate and
one that is missing; all three run (two at a time), each gets its report and log, the summary
names each outcome, and the exit code is the first failure's (3). Bad manifests exit 2 before any
work, naming the line."""
import argparse
import json
import os
import tempfile

from harness import LENET5, MNIST_TEST, ROOT, check, finish, run

ap = argparse.ArgumentParser()
ap.add_argument("--nncompress", required=True)
args = ap.parse_args()
work = tempfile.mkdtemp(prefix="nncompress_batch_")
lenet300 = os.path.join(ROOT, "models", "lenet-300-100-mnist.onnx")


def write(name, text):
    path = os.path.join(work, name)
    with open(path, "w") as f:
        f.write(text)
    return path


recipe = write("int8.yaml", "steps:\n  - pass: quant.int8\n    calib-limit: 100\n")
out = os.path.join(work, "out")
manifest = write("batch.yaml", f"""models:
  - model: {LENET5}
    output: {out}/a.onnx
    recipe: {recipe}
    data: {MNIST_TEST}
    limit: 500
    max-accuracy-drop: 2
  - model: {lenet300}
    output: {out}/b.onnx
    recipe: {recipe}
    data: {MNIST_TEST}
    limit: 500
    min-size-ratio: 100
  - model: {work}/missing.onnx
    output: {out}/c.onnx
    recipe: {recipe}
    data: {MNIST_TEST}
""")
code, stdout, err = run([args.nncompress, "--quiet", "compress", "--batch", manifest, "--jobs", "2", "--json"])
check(code == 3, f"exit code is the first failure's (gate: 3), got {code} {err.strip()[:200]}")
if stdout.strip():
    rows = json.loads(stdout)["models"]
    check([r["status"] for r in rows] == ["ok", "gate failed", "bad input"], f"statuses {[r['status'] for r in rows]}")
    check([r["exit_code"] for r in rows] == [0, 3, 2], "per-model exit codes 0, 3, 2")
    check(os.path.exists(f"{out}/a.onnx") and os.path.exists(f"{out}/b.onnx"), "both models written (a failed gate still writes)")
    check(os.path.exists(f"{out}/a.report.json") and os.path.exists(f"{out}/a.report.log"), "report and log per model")
    check(rows[0]["size_ratio"] and rows[0]["size_ratio"] > 3 and rows[0]["top1_after"] is not None, "summary numbers from the reports")
    check("min-size-ratio" in rows[1]["message"] and "missing.onnx" in rows[2]["message"], "failures say why")

csv = write("batch.csv", f"model,output,recipe,data,limit\n{LENET5},{out}/d.onnx,{recipe},{MNIST_TEST},300\n")
code, stdout, err = run([args.nncompress, "--quiet", "compress", "--batch", csv])
check(code == 0 and "| 1 | " in stdout and " ok " in stdout, f"CSV manifest: exit {code}, Markdown table {err.strip()[:200]}")

for name, text, needle in (("unknown-key.yaml", f"models:\n  - model: {LENET5}\n    outptu: x.onnx\n", ":2: unknown key 'outptu'"),
                           ("no-output.csv", f"model\n{LENET5}\n", ":2: each entry needs 'model' and 'output'"),
                           ("twice.yaml", f"models:\n  - model: a.onnx\n    output: {out}/x.onnx\n  - model: b.onnx\n    output: {out}/x.onnx\n",
                            ":4: output")):
    code, _, err = run([args.nncompress, "compress", "--batch", write(name, text)])
    check(code == 2 and needle in err, f"{name}: exit {code}, {err.strip()[:160]}")
code, _, err = run([args.nncompress, "compress", LENET5, "--batch", manifest])
check(code == 2 and "--batch" in err, f"MODEL with --batch is a usage error: {err.strip()[:120]}")
finish()
