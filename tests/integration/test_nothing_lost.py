"""Nothing lost, nothing silently wrong (issue 23, first part): no command writes over what it
reads or writes one file twice, and no number option takes NaN or infinity. Each case checks the
exit code and that no file changed besides the declared outputs (hashes of the folder)."""
import hashlib
import os
import re
import shutil

import pytest

from harness import LENET5, MNIST_TEST, run


def snapshot(folder):
    """Every file under `folder` (symlinks as their target's name) with a hash of its bytes."""
    files = {}
    for root, _, names in os.walk(folder):
        for n in names:
            p = os.path.join(root, n)
            files[os.path.relpath(p, folder)] = os.readlink(p) if os.path.islink(p) else \
                hashlib.sha256(open(p, "rb").read()).hexdigest()
    return files


@pytest.fixture
def nnc(nncompress):
    return os.path.abspath(nncompress)  # the tests run in their own folder


@pytest.fixture
def work(tmp_path):
    shutil.copy(LENET5, tmp_path / "m.onnx")
    return tmp_path


def refused(nnc, work, args, message):
    before = snapshot(work)
    code, _, err = run([nnc] + args, cwd=work)
    assert code == 2, err
    assert message in err, err
    assert snapshot(work) == before, "a refused command changed files"


def test_external_data_of_the_input_is_not_an_output(nnc, work):
    code, _, err = run([nnc, "convert", "m.onnx", "-o", "c.onnx", "--external-data"], cwd=work)
    assert code == 0 and (work / "c.onnx.data").exists(), err
    refused(nnc, work, ["convert", "c.onnx", "-o", "c.onnx.data"], "is an input of this command")
    # p's data in q.onnx.data, then q.onnx written with external data: would replace p's data.
    shutil.copy(work / "c.onnx.data", work / "q.onnx.data")
    (work / "p.onnx").write_bytes((work / "c.onnx").read_bytes().replace(b"c.onnx.data", b"q.onnx.data"))
    refused(nnc, work, ["convert", "p.onnx", "-o", "q.onnx", "--external-data"], "is an input of this command")
    code, _, err = run([nnc, "inspect", "p.onnx"], cwd=work)
    assert code == 0, err


def test_links_and_devices(nnc, work):
    os.link(work / "m.onnx", work / "hard.onnx")
    os.symlink("m.onnx", work / "soft.onnx")
    refused(nnc, work, ["convert", "m.onnx", "-o", "hard.onnx"], "the input")
    refused(nnc, work, ["convert", "soft.onnx", "-o", "m.onnx"], "the input")
    refused(nnc, work, ["convert", "m.onnx", "-o", "/dev/null"], "not a regular file")


def test_compress_report_over_its_model_or_an_input(nnc, work):
    data = ["--data", MNIST_TEST, "--limit", "200", "--recipe", "r.yaml"]
    (work / "r.yaml").write_text("steps:\n  - pass: prune.magnitude\n    sparsity: 0.5\n")
    refused(nnc, work, ["compress", "m.onnx", "-o", "out.onnx", "--report", "out.onnx"] + data, "the same file")
    refused(nnc, work, ["compress", "m.onnx", "-o", "out.onnx", "--report", "r.yaml"] + data, "is an input")
    refused(nnc, work, ["compress", "m.onnx", "-o", "out.onnx", "--report", "r.md"] + data, "cannot end in .md")


def test_manifest_entries_do_not_write_each_others_files(nnc, work):
    (work / "r.yaml").write_text("steps:\n  - pass: prune.magnitude\n    sparsity: 0.5\n")
    manifest = work / "batch.yaml"
    manifest.write_text("models:\n"
                        f"  - {{model: m.onnx, output: a.onnx, recipe: r.yaml, data: {MNIST_TEST}, limit: 200}}\n"
                        f"  - {{model: a.onnx, output: b.onnx, recipe: r.yaml, data: {MNIST_TEST}, limit: 200}}\n")
    refused(nnc, work, ["compress", "--manifest", "batch.yaml"], "batch.yaml:")
    manifest.write_text("models:\n"
                        f"  - {{model: m.onnx, output: a.onnx, recipe: r.yaml, data: {MNIST_TEST}, limit: 200}}\n"
                        f"  - {{model: m.onnx, output: b.onnx, report: a.onnx, recipe: r.yaml, data: {MNIST_TEST}}}\n")
    refused(nnc, work, ["compress", "--manifest", "batch.yaml"], "the same file")


def float_options(nnc, command):
    """The floating-point options of a command, from its --help (integer options cannot parse
    "nan" at all)."""
    code, out, _ = run([nnc, command, "--help"])
    assert code == 0
    return sorted(set(re.findall(r"^\s+(--[a-z0-9-]+)(?:,--[a-z0-9-]+)* FLOAT", out, re.M)))


COMMANDS = {
    "prune": ["m.onnx", "-o", "out.onnx", "--data", MNIST_TEST],
    "quantize": ["m.onnx", "-o", "out.onnx", "--calib", MNIST_TEST],
    "finetune": ["m.onnx", "-o", "out.onnx", "--data", MNIST_TEST],
    "compress": ["m.onnx", "-o", "out.onnx", "--data", MNIST_TEST],
    "eval": ["m.onnx", "--data", MNIST_TEST],
    "sensitivity": ["m.onnx", "--data", MNIST_TEST],
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_no_number_option_takes_nan(nnc, work, command):
    """One run per floating-point option of each command, all refused before any work (CLI11's
    range checks let NaN through: NaN compares false)."""
    options = float_options(nnc, command)
    assert len(options) >= 2, options
    before = snapshot(work)
    for i, option in enumerate(options):
        value = ("nan", "inf", "-inf")[i % 3]
        code, _, err = run([nnc, command] + COMMANDS[command] + [option, value], cwd=work)
        assert code == 2 and option in err, f"{command} {option} {value}: exit {code}: {err}"
    assert snapshot(work) == before


def test_values_out_of_range_are_refused_not_crashed(nnc, work):
    data = ["--data", MNIST_TEST, "--limit", "100"]
    for args, message in [
            (["finetune", "m.onnx", "-o", "f.onnx", "--augment-crop", "1000000"] + data, "augment-crop"),
            (["finetune", "m.onnx", "-o", "f.onnx", "--temperature", "0"] + data, "--temperature: 0 is not > 0"),
            (["finetune", "m.onnx", "-o", "f.onnx", "--lr", "0"] + data, "--lr: 0 is not > 0")]:
        refused(nnc, work, args, message)
    (work / "r.yaml").write_text("steps:\n  - pass: prune.channels\n    round-to: 9223372036854775807\n")
    refused(nnc, work, ["compress", "m.onnx", "-o", "c.onnx", "--recipe", "r.yaml"] + data, "round-to")
    (work / "r.yaml").write_text("steps:\n  - pass: finetune\n    epochs: 3000000000\n")
    refused(nnc, work, ["compress", "m.onnx", "-o", "c.onnx", "--recipe", "r.yaml"] + data, "epochs")
    (work / "r.yaml").write_text("steps:\n  - pass: finetune\n    epochs: 99999999999999999999\n")
    refused(nnc, work, ["compress", "m.onnx", "-o", "c.onnx", "--recipe", "r.yaml"] + data, "integer range")


def test_too_many_threads_are_lowered_with_a_warning(nnc, work):
    code, _, err = run([nnc, "--threads", "100000", "inspect", "m.onnx"], cwd=work)
    assert code == 0 and "more threads only contend" in err, err


def test_run_does_not_write_over_its_input(nnc, work):
    """`run m.onnx -i chain/logits.npy -o chain` would replace its input with its output."""
    import numpy as np
    (work / "chain").mkdir()
    np.save(work / "chain" / "logits.npy", np.zeros((1, 1, 28, 28), np.float32))
    refused(nnc, work, ["run", "m.onnx", "-i", "chain/logits.npy", "-o", "chain"], "is an input of this command")


def test_run_outputs_that_map_to_one_file_are_refused_before_writing(nnc, work):
    """Outputs named "a/b" and "a_b" both become a_b.npy: refused before the first write."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["a/b"]), helper.make_node("Neg", ["x"], ["a_b"])], "two",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("a/b", TensorProto.FLOAT, [2]), helper.make_tensor_value_info("a_b", TensorProto.FLOAT, [2])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), work / "two.onnx")
    np.save(work / "x.npy", np.array([1, -1], np.float32))
    refused(nnc, work, ["run", "two.onnx", "-i", "x.npy", "-o", "out"], "are the same file")


def test_labels_outside_the_models_classes(nnc, work):
    """A label 11 for a 10-class model: exit 2 naming it, not torch's "Target 11 is out of bounds"
    (exit 1) nor a silent 0% top-1."""
    import numpy as np
    d = np.load(MNIST_TEST)
    y = d["y"][:100].copy()
    y[5] = 11
    np.savez(work / "bad.npz", x=d["x"][:100], y=y)
    for args in (["eval", "m.onnx", "--data", "bad.npz"], ["compare", "m.onnx", "m.onnx", "--data", "bad.npz"],
                 ["finetune", "m.onnx", "-o", "f.onnx", "--data", "bad.npz"],
                 ["prune", "m.onnx", "-o", "p.onnx", "--criterion", "taylor", "--data", "bad.npz"]):
        refused(nnc, work, args, "label 11 is not a class of the model")


def write_zero_npz(path, rows):
    """A 1 MB .npz whose x (uint8 [rows,28,28]) and y unpack to rows * 792 bytes of zeros."""
    import io
    import zipfile
    import numpy as np
    chunk = bytes(16 << 20)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name, shape, dtype in (("x", (rows, 28, 28), np.uint8), ("y", (rows,), np.int64)):
            header = io.BytesIO()
            np.lib.format.write_array_header_1_0(header, {"descr": np.dtype(dtype).str, "fortran_order": False,
                                                          "shape": shape})
            with z.open(name + ".npy", "w") as f:
                f.write(header.getvalue())
                left = int(np.prod(shape)) * np.dtype(dtype).itemsize
                while left > 0:
                    f.write(chunk[:min(left, len(chunk))])
                    left -= len(chunk)


def test_limit_bounds_what_a_compressed_archive_unpacks(nnc, work):
    """A 1 MB .npz that unpacks to 1.1 GB, read with --limit 10: only 10 rows are inflated, so the
    peak memory stays near the tool's own (~0.2 GB), far below the archive's 1.1 GB."""
    write_zero_npz(work / "bomb.npz", 1_400_000)
    assert os.path.getsize(work / "bomb.npz") < 2 << 20
    measure = ("import resource, subprocess, sys\n"
               "rc = subprocess.run(sys.argv[1:], capture_output=True).returncode\n"
               "print(rc, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n")
    code, out, err = run(["/usr/bin/python3", "-c", measure, nnc, "eval", "m.onnx", "--data", "bomb.npz",
                          "--limit", "10", "--json"], cwd=work)
    assert code == 0, err
    rc, peak_kb = map(int, out.split())
    assert rc == 0
    assert peak_kb < 700 * 1024, f"peak memory {peak_kb} KB: the archive was unpacked whole"


KILL_RECIPE = """name: killed
steps:
  - pass: prune.magnitude
    sparsity: 0.8
  - pass: finetune
    epochs: 1
  - pass: quant.int8
    calibration: minmax
"""


def test_kill_9_during_compress_leaves_the_input_and_no_partial_file(nnc, work):
    """Ten `compress` runs killed with SIGKILL at random moments (seeded) of a whole run's span:
    every file that was there is unchanged, no temporary file is left, and any output that
    appeared is complete (the model loads, the JSON report parses)."""
    import json
    import random
    import subprocess
    import time

    import onnx
    (work / "r.yaml").write_text(KILL_RECIPE)
    data = ["--data", MNIST_TEST, "--limit", "2000", "--val", MNIST_TEST]
    args = lambda out: [nnc, "--quiet", "--threads", "1", "compress", "m.onnx", "-o", out, "--recipe", "r.yaml", *data,
                        "--report", out.replace(".onnx", ".json")]
    start = time.monotonic()
    code, _, err = run(args("whole.onnx"), cwd=work)
    span = time.monotonic() - start
    assert code == 0, err
    rng = random.Random(9)
    for i in range(10):
        before = snapshot(work)
        p = subprocess.Popen(args(f"k{i}.onnx"), cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.1, span))
        p.kill()
        p.wait()
        after = snapshot(work)
        assert {k: after.get(k) for k in before} == before, f"kill {i}: a file that was there changed"
        new = sorted(set(after) - set(before))
        assert all(re.fullmatch(rf"k{i}\.(onnx|json|md|html)", n) for n in new), f"kill {i} left {new}"
        if f"k{i}.onnx" in new:
            onnx.checker.check_model(onnx.load(str(work / f"k{i}.onnx")))
        if f"k{i}.json" in new:
            json.loads((work / f"k{i}.json").read_text())


def test_a_write_that_fails_midway_leaves_no_file(nnc, work):
    """A full disk, simulated by a file-size limit (RLIMIT_FSIZE, SIGXFSZ ignored, so writes past
    100 kB fail with EFBIG): exit 2 naming the output, nothing written, the folder unchanged."""
    import resource
    import signal
    import subprocess

    def limit_file_size():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))

    before = snapshot(work)
    p = subprocess.run([nnc, "convert", "m.onnx", "-o", "big.onnx"], cwd=work, capture_output=True, text=True,
                       preexec_fn=limit_file_size)
    assert p.returncode == 2 and "cannot write 'big.onnx'" in p.stderr, p.stderr
    assert snapshot(work) == before


def test_wrong_yaml_types_and_unknown_commands_are_bad_input(nnc, work):
    """A list or map where a single value belongs in a recipe or a manifest: exit 2 with the file
    and line (was: "internal error: yaml-cpp: bad conversion"); an unknown command is named."""
    (work / "r.yaml").write_text("name: [1, 2]\nsteps:\n  - pass: finetune\n")
    refused(nnc, work, ["compress", "m.onnx", "-o", "c.onnx", "--recipe", "r.yaml", "--data", MNIST_TEST],
            "r.yaml:1: a list or map where a single value belongs")
    (work / "batch.yaml").write_text("models:\n  - model: m.onnx\n    output: c.onnx\n    recipe: {a: 1}\n")
    refused(nnc, work, ["compress", "--batch", "batch.yaml"], "batch.yaml:4:")
    code, _, err = run([nnc, "--threads", "1", "frobnicate", "m.onnx"], cwd=work)
    assert code == 2 and "unknown command 'frobnicate'" in err, err


def test_an_output_folder_that_is_a_file(nnc, work):
    (work / "afile").write_text("x")
    import numpy as np
    np.save(work / "x.npy", np.zeros((1, 1, 28, 28), np.float32))
    refused(nnc, work, ["run", "m.onnx", "-i", "x.npy", "-o", "afile/out"], "cannot create the output folder 'afile/out'")


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_data_holding_nan_or_infinity_is_refused(nnc, work, bad):
    """One non-finite value anywhere in the data (the last, the first or a middle element) is
    refused before it reaches the model."""
    import numpy as np
    x = np.random.RandomState(0).rand(3, 1, 28, 28).astype(np.float32)
    np.savez(work / "clean.npz", x=x, y=np.array([1, 2, 3]))
    code, _, err = run([nnc, "eval", "m.onnx", "--data", "clean.npz"], cwd=work)
    assert code == 0, err
    for index in [(2, 0, 27, 27), (0, 0, 0, 0), (1, 0, 13, 5)]:
        x_bad = x.copy()
        x_bad[index] = bad
        np.savez(work / "bad.npz", x=x_bad, y=np.array([1, 2, 3]))
        refused(nnc, work, ["eval", "m.onnx", "--data", "bad.npz"], "holds NaN or infinite values")
        os.remove(work / "bad.npz")
