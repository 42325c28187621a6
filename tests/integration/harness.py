"""Tiny helpers shared by the integration tests (run by ctest with /usr/bin/python3)."""
import os
import subprocess
import sys

# The repository root (tests/integration/../..), and the shipped default model and its data.
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LENET5 = os.path.join(ROOT, "models", "lenet5-mnist.onnx")
MNIST_TEST = os.path.join(ROOT, "models", "data", "mnist-test.npz")

_results = {"passed": 0, "failed": []}


def run(cmd, **kw):
    """Runs a command and returns (exit code, stdout, stderr); a signal gives a negative code."""
    p = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, errors="replace", **kw)
    return p.returncode, p.stdout, p.stderr


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if cond:
        _results["passed"] += 1
    else:
        _results["failed"].append(what)


def finish():
    """Prints the 'N passed, N failed' line and exits non-zero on any failure."""
    print(f"{_results['passed']} passed, {len(_results['failed'])} failed")
    sys.exit(1 if _results["failed"] else 0)
