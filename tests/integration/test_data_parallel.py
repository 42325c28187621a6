"""Data-parallel fine-tuning over LibTorch's c10d (Gloo on the loopback): N ranks train what one
process trains on the same global batch, byte-identical runs for one seed, and a rank that dies,
hangs or never comes ends every other rank with an error and no output."""
import json
import os
import signal
import socket
import subprocess
import time

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from harness import LENET5, MNIST_TEST, ROOT, run

RESNET20 = os.path.join(ROOT, "models", "resnet20-fmnist.onnx")
FMNIST_TEST = os.path.join(ROOT, "models", "data", "fmnist-test.npz")
# After 8 steps (512 samples, global batch 64) the two runs differ only by the order of float
# sums (a rank's share of the batch, SyncBatchNorm's statistics): measured ~2e-4 of each tensor's
# largest value, the same order as one process on 1 vs 2 threads. Differences grow with steps
# (training amplifies them), so this compares a short run.
WEIGHT_TOLERANCE = 1e-3


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return tmp_path_factory.mktemp("data_parallel")


@pytest.fixture(scope="module")
def val(work):
    """1,000 test images other than the 512 trained on."""
    d = np.load(FMNIST_TEST)
    path = work / "val.npz"
    np.savez(path, x=d["x"][5000:6000], y=d["y"][5000:6000])
    return str(path)


def finetune_args(out, *extra, samples=512):
    return ["finetune", RESNET20, "-o", str(out), "--data", FMNIST_TEST, "--limit", str(samples), "--seed", "3", *extra]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def float_weights(path):
    return {t.name: numpy_helper.to_array(t) for t in onnx.load(str(path)).graph.initializer
            if numpy_helper.to_array(t).dtype.kind == "f"}


def largest_relative_difference(a, b):
    wa, wb = float_weights(a), float_weights(b)
    assert wa.keys() == wb.keys()
    return max(float(np.abs(wa[k].astype(np.float64) - wb[k]).max() / (np.abs(wa[k]).max() + 1e-12)) for k in wa)


@pytest.fixture(scope="module")
def two_ranks(nncompress, work, val):
    """(model, JSON summary) of 2 local ranks x batch 32."""
    out = work / "two.onnx"
    code, stdout, err = run([nncompress, "--nproc", "2", *finetune_args(out, "--batch", "32", "--val", val, "--json")])
    assert code == 0, err
    return out, json.loads(stdout)


def test_two_ranks_train_what_one_process_trains_on_the_same_global_batch(nncompress, work, val, two_ranks):
    one = work / "one.onnx"
    code, stdout, err = run([nncompress, "--threads", "2", *finetune_args(one, "--batch", "64", "--val", val, "--json")])
    assert code == 0, err
    single = json.loads(stdout)
    assert largest_relative_difference(one, two_ranks[0]) < WEIGHT_TOLERANCE
    assert abs(single["best_val_top1"] - two_ranks[1]["best_val_top1"]) <= 0.001
    assert two_ranks[1]["epochs"][0]["samples"] == single["epochs"][0]["samples"] == 512
    # Not vacuous: each rank's own BatchNorm statistics (half the batch) train another model.
    local = work / "local.onnx"
    code, _, err = run([nncompress, "--nproc", "2", "--dist-batchnorm", "local", *finetune_args(local, "--batch", "32")])
    assert code == 0, err
    assert largest_relative_difference(one, local) > 10 * WEIGHT_TOLERANCE


def test_the_same_seed_gives_the_same_bytes(nncompress, work, val, two_ranks):
    again = work / "again.onnx"
    code, _, err = run([nncompress, "--nproc", "2", *finetune_args(again, "--batch", "32", "--val", val, "--json")])
    assert code == 0, err
    assert again.read_bytes() == two_ranks[0].read_bytes()


def test_rank_zero_alone_prints_and_writes(nncompress, work):
    out = work / "quiet.onnx"
    code, stdout, err = run([nncompress, "--nproc", "2", *finetune_args(out, "--batch", "32", "--json", samples=128)])
    assert code == 0, err
    json.loads(stdout)  # one JSON document: rank 1's stdout goes nowhere
    assert "[rank 0]" in err and "[rank 1] info" not in err


def test_eval_splits_labeled_data_across_ranks_and_adds_up_the_counts(nncompress, val):
    results = []
    for ranks in ([], ["--nproc", "2"]):
        code, stdout, err = run([nncompress, "--quiet", *ranks, "eval", RESNET20, "--data", val, "--limit", "999", "--json"])
        assert code == 0, err
        results.append(json.loads(stdout))
    assert results[0]["samples"] == results[1]["samples"] == 999  # an odd count: shares of 499 and 500
    assert results[0]["top1"] == results[1]["top1"] and results[0]["top5"] == results[1]["top5"]


def test_autoprune_sums_its_auxiliary_gradients_across_ranks(nncompress, work):
    """AutoPrune's auxiliaries move by their gradients: summed across ranks, the pruned model keeps
    the channels one process keeps."""
    args = ["prune", RESNET20, "--method", "autoprune", "--granularity", "channels", "--target-macs", "0.6",
            "--data", FMNIST_TEST, "--limit", "512", "--epochs", "1", "--seed", "3"]
    one, two = work / "ap1.onnx", work / "ap2.onnx"
    code, _, err = run([nncompress, "--quiet", "--threads", "2", *args, "--batch", "64", "-o", one])
    assert code == 0, err
    code, _, err = run([nncompress, "--quiet", "--nproc", "2", *args, "--batch", "32", "-o", two])
    assert code == 0, err
    shapes = [{k: v.shape for k, v in float_weights(p).items()} for p in (one, two)]
    assert shapes[0] == shapes[1]
    assert shapes[0] != {k: v.shape for k, v in float_weights(RESNET20).items()}  # it did prune


def test_compress_with_two_ranks_writes_one_model_and_report_of_the_same_quality(nncompress, work):
    """A recipe's fine-tuning split over 2 ranks: rank 0 alone writes the model and the three
    reports, which say what one process's say."""
    recipe = work / "prune-finetune.yaml"
    recipe.write_text("steps:\n  - pass: prune.channels\n    target-macs: 0.5\n    prune-first-conv: true\n    epochs: 1\n")
    reports = {}
    for name, ranks, batch in (("one", [], "64"), ("two", ["--nproc", "2"], "32")):
        folder = work / f"compress-{name}"
        folder.mkdir()
        code, _, err = run([nncompress, "--quiet", *ranks, "compress", LENET5, "-o", folder / "out.onnx", "--recipe", recipe,
                            "--data", MNIST_TEST, "--limit", "512", "--batch", batch, "--seed", "5",
                            "--report", folder / "report.json"])
        assert code == 0, err
        assert sorted(p.name for p in folder.iterdir()) == ["out.onnx", "report.html", "report.json", "report.md"]
        reports[name] = json.loads((folder / "report.json").read_text())
    one, two = reports["one"], reports["two"]
    assert one["after"]["macs"] == two["after"]["macs"]
    assert abs(one["accuracy"]["top1_after"] - two["accuracy"]["top1_after"]) <= 0.001
    assert largest_relative_difference(work / "compress-one" / "out.onnx", work / "compress-two" / "out.onnx") < WEIGHT_TOLERANCE


def start_rank(nncompress, rank, port, out, timeout, samples=4096):
    return subprocess.Popen([nncompress, "--rank", str(rank), "--world-size", "2", "--dist-url", f"tcp://127.0.0.1:{port}",
                             "--dist-timeout", str(timeout), *finetune_args(out, "--batch", "32", samples=samples)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def wait_until_training(rank0):
    for line in rank0.stderr:
        if "joined a data-parallel group" in line:
            return
    pytest.fail("rank 0 never joined")


def test_a_killed_rank_ends_the_other_with_an_error_and_no_output(nncompress, work):
    out, port = work / "killed.onnx", free_port()
    rank0 = start_rank(nncompress, 0, port, out, timeout=30)
    rank1 = start_rank(nncompress, 1, port, out, timeout=30)
    wait_until_training(rank0)
    time.sleep(1.5)
    rank1.send_signal(signal.SIGKILL)
    killed = time.monotonic()
    err = rank0.stderr.read()
    code = rank0.wait(timeout=60)
    assert code == 1 and "a peer rank died" in err, err
    assert time.monotonic() - killed < 30
    assert not out.exists()


def test_a_hung_rank_ends_the_other_within_the_timeout(nncompress, work):
    out, port = work / "hung.onnx", free_port()
    rank0 = start_rank(nncompress, 0, port, out, timeout=4)
    rank1 = start_rank(nncompress, 1, port, out, timeout=4)
    try:
        wait_until_training(rank0)
        time.sleep(1)
        rank1.send_signal(signal.SIGSTOP)
        stopped = time.monotonic()
        err = rank0.stderr.read()
        assert rank0.wait(timeout=60) == 1 and "did not answer within 4 s" in err, err
        assert time.monotonic() - stopped < 4 + 10  # the timeout, and the rest of a step
        assert not out.exists()
    finally:
        rank1.kill()
        rank1.wait()


def test_the_launcher_stops_every_rank_when_one_dies(nncompress, work):
    out = work / "launched.onnx"
    launcher = subprocess.Popen([nncompress, "--nproc", "2", "--dist-timeout", "60",
                                 *finetune_args(out, "--batch", "32", samples=8192)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wait_until_training(launcher)
    children = open(f"/proc/{launcher.pid}/task/{launcher.pid}/children").read().split()
    assert len(children) == 2
    rank1 = [pid for pid in children if b"RANK=1" in open(f"/proc/{pid}/environ", "rb").read().split(b"\0")]
    assert len(rank1) == 1
    os.kill(int(rank1[0]), signal.SIGKILL)
    err = launcher.stderr.read()
    assert launcher.wait(timeout=30) != 0 and "rank 1 was killed by signal 9" in err, err
    assert not out.exists()
    for pid in children:
        assert not os.path.exists(f"/proc/{pid}/status") or "zombie" in open(f"/proc/{pid}/status").read()


def test_what_the_user_can_fix_exits_2(nncompress, work):
    out = work / "never.onnx"
    args = finetune_args(out, "--batch", "32", samples=64)
    code, _, err = run([nncompress, "--rank", "2", "--world-size", "2", "--dist-url", "tcp://127.0.0.1:29999", *args])
    assert code == 2 and "rank 2 is outside a world of 2" in err, err
    code, _, err = run([nncompress, "--rank", "0", "--world-size", "2", "--dist-url", "udp://x", *args])
    assert code == 2 and "not tcp://HOST:PORT" in err, err
    code, _, err = run([nncompress, "--nproc", "2", "--rank", "0", *args])
    assert code == 2 and "--nproc starts its own ranks" in err, err
    code, _, err = run([nncompress, "--world-size", "2", *args])
    assert code == 2 and "needs --rank" in err, err
    # The port is taken: rank 0 cannot serve the rendezvous.
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        code, _, err = run([nncompress, "--rank", "0", "--world-size", "2", "--dist-url", f"tcp://127.0.0.1:{port}", *args])
        assert code == 2 and "is the port in use?" in err, err
    # Nobody serves the rendezvous: rank 1 gives up after --dist-timeout.
    env = dict(os.environ, RANK="1", WORLD_SIZE="2", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(free_port()))
    start = time.monotonic()
    code, _, err = run([nncompress, "--dist-timeout", "2", *args], env=env)
    assert code == 2 and "cannot reach the rendezvous" in err, err
    assert time.monotonic() - start < 2 + 10
    # WORLD_SIZE says 3, two ranks come: both give up with the reason.
    port = free_port()
    ranks = [subprocess.Popen([nncompress, "--rank", str(r), "--world-size", "3", "--dist-url", f"tcp://127.0.0.1:{port}",
                               "--dist-timeout", "3", *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
             for r in (0, 1)]
    for p in ranks:
        err = p.stderr.read()
        assert p.wait(timeout=60) == 2 and "not every one of the 3 ranks joined" in err, err
    assert not out.exists()
    # A manifest is split over machines by --shard, not by ranks.
    manifest = work / "m.csv"
    manifest.write_text(f"model,output\n{LENET5},{work}/m.onnx\n")
    code, _, err = run([nncompress, "--nproc", "2", "compress", "--manifest", manifest])
    assert code == 2 and "--shard" in err and not (work / "m.onnx").exists(), err
