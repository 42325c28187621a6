"""One declaration per pass option: `prune` and `quantize` offer every option of their passes as a
flag with the pass's default, reject flags the chosen method lacks, validate before touching the
model, and run the same code path as a one-step `compress` recipe (byte-identical output)."""
import json
import re

import pytest

from harness import LENET5, MNIST_TEST, run


@pytest.fixture(scope="module")
def registry(nncompress):
    code, out, err = run([nncompress, "passes", "--json"])
    assert code == 0, err
    return json.loads(out)


def help_lines(nncompress, command):
    """Each flag's help text (CLI11 may wrap a flag's description onto the next lines)."""
    code, out, err = run([nncompress, command, "--help"])
    assert code == 0, err
    flags, current = {}, None
    for line in out.splitlines():
        m = re.match(r"\s+(--[a-z0-9-]+)", line)
        if m:
            current = m.group(1)[2:]
            flags[current] = line
        elif current and line.startswith(" " * 20):
            flags[current] += " " + line.strip()
    return flags


@pytest.mark.parametrize("command,prefix", [("prune", "prune."), ("quantize", "quant.")])
def test_every_option_is_a_flag_with_the_declared_default(nncompress, registry, command, prefix):
    flags = help_lines(nncompress, command)
    passes = [p for p in registry if p["name"].startswith(prefix)]
    assert len(passes) == {"prune": 3, "quantize": 5}[command]  # quant.int8, focused, mixed, dynamic, weight-only
    for p in passes:
        method = p["name"][len(prefix):]
        for o in p["options"]:
            assert o["name"] in flags, f"{p['name']}.{o['name']} has no --{o['name']} in `{command} --help`"
            if o["default"] and o["kind"] != "boolean":
                assert f"{method}: default {o['default']}" in flags[o["name"]], flags[o["name"]]
            if o["constraint"]:
                assert o["constraint"] in flags[o["name"]], flags[o["name"]]
    # ... and nothing else: the command's own flags are the data, task, output, reporting and ONNX
    # Runtime latency ones.
    own = {"help", "output", "method", "data", "limit", "batch", "scale", "mean", "std", "layout", "val", "calib", "seed",
           "json", "strict", "input-shape", "resize", "task", "strides", "reg-max", "conf", "iou", "max-det",
           "ort-latency", "ort-library", "ort-runs", "min-ort-speedup"}
    declared = {o["name"] for p in passes for o in p["options"]}
    assert set(flags) - own == declared


def test_flags_of_another_method_are_refused(nncompress, tmp_path):
    out = tmp_path / "x.onnx"
    code, _, err = run([nncompress, "prune", LENET5, "-o", out, "--lambda", "2"])
    assert code == 2 and "--lambda is not an option of --method channels (it applies to --method autoprune)" in err
    code, _, err = run([nncompress, "quantize", LENET5, "-o", out, "--calib", MNIST_TEST, "--epochs", "1"])
    assert code == 2 and "--epochs is not an option of --method int8" in err
    assert not out.exists()


@pytest.mark.parametrize("args,message", [
    (["--ratio", "1.5"], "--ratio: 1.5 is not in [0, 1)"),
    (["--criterion", "l3"], "--criterion: 'l3' is not one of l1, l2, bn-scale, fpgm, taylor"),
    (["--target-macs", "0.5", "--target-params", "0.5"], "--method channels: give --target-macs or --target-params, not both"),
    (["--method", "magnitude", "--gradual"], "--method magnitude: --gradual needs --epochs > 0"),
    (["--method", "autoprune", "--granularity", "channels", "--sparsity", "0.5"],
     "--granularity channels takes --target-macs or --target-params, not --sparsity"),
    (["--criterion", "taylor"], "prune.channels (--method channels) needs labeled training data: give --data"),
    (["--optimizer", "rmsprop"], "--optimizer: 'rmsprop' is not one of sgd, adam"),
    (["--schedule", "step"], "--schedule: 'step' is not one of cosine, onecycle, constant"),
])
def test_bad_values_are_refused_before_the_model_is_read(nncompress, tmp_path, args, message):
    out = tmp_path / "x.onnx"
    code, _, err = run([nncompress, "prune", "/no/such/model.onnx", "-o", out, *args])
    assert code == 2 and message in err, err
    assert "no such file" not in err  # the options were checked first


def test_a_bad_last_recipe_step_stops_before_any_pass(nncompress, tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("steps:\n  - pass: prune.magnitude\n    sparsity: 0.5\n    epochs: 1\n"
                      "  - pass: quant.int8\n    calibration: entropy\n    percentile: 40\n")
    out = tmp_path / "x.onnx"
    code, _, err = run([nncompress, "compress", LENET5, "-o", out, "--recipe", recipe, "--data", MNIST_TEST])
    assert code == 2 and f"{recipe}:7: quant.int8.percentile: 40 is not in (50, 100]" in err, err
    assert "step 1/" not in err and not out.exists()


@pytest.mark.parametrize("command,method,options", [
    ("prune", "magnitude", {"sparsity": "0.7", "per-layer": "true"}),
    ("prune", "channels", {"ratio": "0.4", "prune-first-conv": "true", "round-to": "2"}),
    ("quantize", "int8", {"calibration": "percentile", "calib-limit": "300", "symmetric": "true"}),
])
def test_a_command_is_a_one_step_recipe(nncompress, tmp_path, command, method, options):
    """The same options through `prune`/`quantize` and through a recipe give the same file."""
    flags = []
    for k, v in options.items():
        flags += [f"--{k}"] if v == "true" else [f"--{k}", v]
    data = ["--calib", MNIST_TEST] if command == "quantize" else []
    by_flags = tmp_path / "flags.onnx"
    code, _, err = run([nncompress, "--quiet", command, LENET5, "-o", by_flags, "--method", method, *flags, *data])
    assert code == 0, err
    prefix = "prune." if command == "prune" else "quant."
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"steps:\n  - pass: {prefix}{method}\n" + "".join(f"    {k}: {v}\n" for k, v in options.items()))
    by_recipe = tmp_path / "recipe.onnx"
    code, _, err = run([nncompress, "--quiet", "compress", LENET5, "-o", by_recipe, "--recipe", recipe,
                        "--data", MNIST_TEST, "--limit", "1000"])
    assert code == 0, err
    assert by_flags.read_bytes() == by_recipe.read_bytes()


def test_exclude_is_another_name_for_keep(nncompress, tmp_path):
    """ONNX Runtime and NNCF say exclude: `--exclude` and a recipe's `exclude:` are `keep`."""
    a, b = tmp_path / "a.onnx", tmp_path / "b.onnx"
    base = [nncompress, "prune", LENET5, "--method", "magnitude", "--sparsity", "0.5"]
    assert run(base + ["-o", a, "--keep", "/net/net.0/*"])[0] == 0
    assert run(base + ["-o", b, "--exclude", "/net/net.0/*"])[0] == 0
    assert a.read_bytes() == b.read_bytes()
    recipe = tmp_path / "r.yaml"
    recipe.write_text("steps:\n  - pass: prune.magnitude\n    exclude: [op:Gemm]\n    keep: [op:Conv]\n")
    code, _, err = run([nncompress, "compress", LENET5, "-o", tmp_path / "c.onnx", "--recipe", recipe, "--data", MNIST_TEST])
    assert code == 2 and "the same option as" in err and "exclude" in err, err


def test_passes_fine_tune_with_the_optimizer_and_schedule_asked_for(nncompress, tmp_path):
    """`--optimizer adam --schedule onecycle` (a detector's recipe) reach a pass's fine-tuning, by flag
    and by recipe key alike; they change the result."""
    base = [nncompress, "--quiet", "prune", LENET5, "--method", "magnitude", "--sparsity", "0.5", "--epochs", "1",
            "--data", MNIST_TEST, "--limit", "1000", "--seed", "1"]
    sgd, adam = tmp_path / "sgd.onnx", tmp_path / "adam.onnx"
    assert run(base + ["-o", sgd])[0] == 0
    code, _, err = run(base + ["-o", adam, "--optimizer", "adam", "--schedule", "onecycle", "--lr", "0.001"])
    assert code == 0, err
    assert sgd.read_bytes() != adam.read_bytes()
    recipe = tmp_path / "r.yaml"
    recipe.write_text("steps:\n  - pass: prune.magnitude\n    sparsity: 0.5\n    epochs: 1\n    optimizer: adam\n"
                      "    schedule: onecycle\n    lr: 0.001\n")
    by_recipe = tmp_path / "recipe.onnx"
    code, _, err = run([nncompress, "--quiet", "compress", LENET5, "-o", by_recipe, "--recipe", recipe,
                        "--data", MNIST_TEST, "--limit", "1000", "--seed", "1"])
    assert code == 0, err
    assert by_recipe.read_bytes() == adam.read_bytes()
