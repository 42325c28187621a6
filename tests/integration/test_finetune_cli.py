"""`finetune` from the command line: byte-identical output for the same seed, a JSON summary, a
log line per epoch, distillation without labels, and clear errors (exit 2) for what cannot work."""
import json

import numpy as np
import pytest

from harness import LENET5, MNIST_TEST, run

COMMON = ["--data", MNIST_TEST, "--limit", "512", "--epochs", "2", "--batch", "64", "--augment-crop", "2"]


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return tmp_path_factory.mktemp("finetune")


def finetune(nncompress, out, *extra, quiet=True):
    return run([nncompress, *(["--quiet"] if quiet else []), "finetune", LENET5, "-o", out, *COMMON, *extra])


@pytest.fixture(scope="module")
def seeded(nncompress, work):
    """(path, JSON summary) of a 2-epoch run with seed 7."""
    out = work / "a.onnx"
    code, stdout, err = finetune(nncompress, out, "--seed", "7", "--json", "--val", MNIST_TEST)
    assert code == 0, err
    return out, json.loads(stdout)


def test_json_summary(seeded):
    j = seeded[1]
    assert len(j["epochs"]) == 2 and j["best_epoch"] in (1, 2) and j["best_val_top1"] is not None
    assert [e["samples"] for e in j["epochs"]] == [512, 512]


def test_a_log_line_per_epoch_and_the_same_model_for_the_same_seed(nncompress, work, seeded):
    out = work / "b.onnx"
    code, _, err = finetune(nncompress, out, "--seed", "7", "--val", MNIST_TEST, quiet=False)
    lines = [line for line in err.splitlines() if "val top-1" in line]
    assert code == 0 and len(lines) == 2 and "epoch 1/2" in lines[0] and "epoch 2/2" in lines[1], lines
    assert out.read_bytes() == seeded[0].read_bytes()


def test_epoch_samples(nncompress, work, seeded):
    code, stdout, err = finetune(nncompress, work / "sub.onnx", "--seed", "7", "--json", "--epoch-samples", "128")
    assert code == 0 and [e["samples"] for e in json.loads(stdout)["epochs"]] == [128, 128], err
    # Above the data size: the same model as without it.
    finetune(nncompress, work / "all.onnx", "--seed", "7", "--val", MNIST_TEST, "--epoch-samples", "100000")
    assert (work / "all.onnx").read_bytes() == seeded[0].read_bytes()


def test_another_seed_gives_another_model(nncompress, work, seeded):
    finetune(nncompress, work / "c.onnx", "--seed", "8", "--val", MNIST_TEST)
    assert (work / "c.onnx").read_bytes() != seeded[0].read_bytes()


@pytest.fixture(scope="module")
def unlabeled(work):
    path = work / "unlabeled.npy"
    np.save(path, np.load(MNIST_TEST)["x"][:512])
    return path


def test_distillation_works_without_labels(nncompress, work, unlabeled):
    out = work / "e.onnx"
    code, _, err = run([nncompress, "--quiet", "finetune", LENET5, "-o", out, "--data", unlabeled, "--distill-from", LENET5,
                        "--epochs", "1"])
    assert code == 0 and out.exists(), err


@pytest.mark.parametrize("case", ["no labels", "output is input", "zero epochs", "unknown optimizer"])
def test_what_cannot_work_exits_2(nncompress, work, unlabeled, case):
    out = work / "f.onnx"
    if case == "no labels":
        code, _, err = run([nncompress, "finetune", LENET5, "-o", out, "--data", unlabeled])
        assert "labels" in err
    elif case == "output is input":
        code, _, err = run([nncompress, "finetune", LENET5, "-o", LENET5, *COMMON])
    elif case == "zero epochs":
        code, _, err = finetune(nncompress, out, "--epochs", "0")
    else:
        code, _, err = finetune(nncompress, out, "--optimizer", "rmsprop")
    assert code == 2 and not out.exists(), err
