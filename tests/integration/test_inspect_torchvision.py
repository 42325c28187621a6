"""inspect --json on torchvision resnet18 and mobilenet_v2 (exported at 224x224 by
tools/export_torchvision.py): params equal python3-onnx's count (initializers and Constant nodes),
MACs within 1% of fvcore's."""
import json
import os

import onnx
import pytest
from onnx import numpy_helper

from harness import export_torchvision, run

# fvcore's counts of multiply-accumulates at 224x224.
FVCORE_MACS = {"resnet18": 1.814e9, "mobilenet_v2": 0.300e9}


@pytest.fixture(scope="module")
def exported(models_dir):
    return export_torchvision(models_dir, list(FVCORE_MACS))


@pytest.mark.parametrize("name", list(FVCORE_MACS))
def test_params_and_macs_match_independent_counts(nncompress, models_dir, exported, name):
    path = exported[name]
    facts = json.load(open(os.path.join(models_dir, name + ".json")))
    code, out, err = run([nncompress, "inspect", "--json", path])
    assert code == 0, err
    j = json.loads(out)
    assert {"nodes", "params", "macs", "file_bytes", "layers"} <= set(j)
    # Constant-node tensors are weights too (intake normalization lifts them into initializers).
    m = onnx.load(path)
    constants = sum(numpy_helper.to_array(n.attribute[0].t).size for n in m.graph.node
                    if n.op_type == "Constant" and n.attribute[0].name == "value")
    assert j["params"] == facts["params"] + constants
    macs = FVCORE_MACS[name]
    assert abs(j["macs"] - macs) / macs < 0.01
    assert j["file_bytes"] == os.path.getsize(path)
    assert sum(l["params"] for l in j["layers"]) == j["params"]
    assert sum(l["macs"] or 0 for l in j["layers"]) == j["macs"]
    assert all({"name", "op", "params", "macs"} <= set(l) for l in j["layers"])
    assert j["onnx_check"] == "passed"
