"""compress --batch: a manifest (YAML and CSV) with a model that passes, one that fails its gate and
one that is missing; all three run (two at a time), each gets its report and log, the summary
names each outcome, and the exit code is the first failure's (3). Bad manifests exit 2 before any
work, naming the line."""
import json
import os

import pytest

from harness import LENET5, MNIST_TEST, ROOT, run

LENET300 = os.path.join(ROOT, "models", "lenet-300-100-mnist.onnx")


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    w = tmp_path_factory.mktemp("batch")
    (w / "int8.yaml").write_text("steps:\n  - pass: quant.int8\n    calib-limit: 100\n")
    return w


@pytest.fixture(scope="module")
def manifest(work):
    out, recipe = work / "out", work / "int8.yaml"
    path = work / "batch.yaml"
    path.write_text(f"""models:
  - model: {LENET5}
    output: {out}/a.onnx
    recipe: {recipe}
    data: {MNIST_TEST}
    limit: 500
    max-accuracy-drop: 2
  - model: {LENET300}
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
    return path


def test_every_entry_runs_and_the_first_failure_sets_the_exit_code(nncompress, work, manifest):
    out = work / "out"
    code, stdout, err = run([nncompress, "--quiet", "compress", "--batch", manifest, "--jobs", "2", "--json"])
    assert code == 3, err
    rows = json.loads(stdout)["models"]
    assert [r["status"] for r in rows] == ["ok", "gate failed", "bad input"]
    assert [r["exit_code"] for r in rows] == [0, 3, 2]
    assert (out / "a.onnx").exists() and (out / "b.onnx").exists()  # a failed gate still writes
    assert (out / "a.report.json").exists() and (out / "a.report.log").exists()
    assert rows[0]["size_ratio"] and rows[0]["size_ratio"] > 3 and rows[0]["top1_after"] is not None
    assert "min-size-ratio" in rows[1]["message"] and "missing.onnx" in rows[2]["message"]


def test_shards_split_a_manifest_and_their_summaries_merge(nncompress, work):
    """--shard I/N runs entries I, I+N, ...: two shards of a three-entry manifest run every entry once,
    each row says its place in the manifest, and no shard writes another's outputs."""
    out = work / "sharded"
    csv = work / "sharded.csv"
    csv.write_text("model,output,recipe,data,limit\n" + "".join(
        f"{LENET5},{out}/{i}.onnx,{work}/int8.yaml,{MNIST_TEST},200\n" for i in range(3)))
    merged = []
    for shard, expected in (("0/2", [0, 2]), ("1/2", [1])):
        code, stdout, err = run([nncompress, "--quiet", "compress", "--batch", csv, "--shard", shard, "--json"])
        assert code == 0, err
        summary = json.loads(stdout)
        assert summary["shard"] == shard and [r["entry"] for r in summary["models"]] == expected
        assert sorted(p.name for p in out.glob("*.onnx")) == sorted(f"{i}.onnx" for i in expected + merged)
        merged += expected
    assert sorted(merged) == [0, 1, 2]


@pytest.mark.parametrize("shard", ["2/2", "-1/2", "1", "a/b", "0/0", "1/2x"])
def test_a_bad_shard_exits_2(nncompress, work, manifest, shard):
    code, _, err = run([nncompress, "compress", "--batch", manifest, "--shard", shard])
    assert code == 2 and "is not I/N" in err, err


def test_a_csv_manifest(nncompress, work):
    csv = work / "batch.csv"
    csv.write_text(f"model,output,recipe,data,limit\n{LENET5},{work}/out/d.onnx,{work}/int8.yaml,{MNIST_TEST},300\n")
    code, stdout, err = run([nncompress, "--quiet", "compress", "--batch", csv])
    assert code == 0 and "| 1 | " in stdout and " ok " in stdout, err


@pytest.mark.parametrize("name,text,needle", [
    ("unknown-key.yaml", f"models:\n  - model: {LENET5}\n    outptu: x.onnx\n", ":2: unknown key 'outptu'"),
    ("no-output.csv", f"model\n{LENET5}\n", ":2: each entry needs 'model' and 'output'"),
    ("twice.yaml", "models:\n  - model: a.onnx\n    output: OUT/x.onnx\n  - model: b.onnx\n    output: OUT/x.onnx\n", ":4: output"),
    # Found by fuzz_manifest: a limit past int64 was converted with undefined behaviour.
    ("huge-limit.csv", f"model,output,limit\n{LENET5},OUT/x.onnx,3003333333333333333333333\n", ":2: 'limit' must be a non-negative integer"),
    ("nan-drop.csv", f"model,output,max-accuracy-drop\n{LENET5},OUT/x.onnx,nan\n", ":2: 'max-accuracy-drop' must be a finite"),
])
def test_bad_manifests_exit_2_naming_the_line(nncompress, work, name, text, needle):
    path = work / name
    path.write_text(text.replace("OUT", str(work / "out")))
    code, _, err = run([nncompress, "compress", "--batch", path])
    assert code == 2 and needle in err, err


def test_a_model_with_batch_is_a_usage_error(nncompress, manifest):
    code, _, err = run([nncompress, "compress", LENET5, "--batch", manifest])
    assert code == 2 and "--manifest" in err
