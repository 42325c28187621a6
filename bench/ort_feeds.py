#!/usr/bin/python3
"""Writes one .npy per input of a model for ONNX Runtime latency runs and prints run.js's
NAME=FILE arguments: random floats, or ones for integer inputs (a valid token id and attention
mask). The latency of these models depends on shapes, not values.
  bench/ort_feeds.py INSPECT.json BATCH OUT_DIR      (INSPECT.json: `nncompress inspect --json MODEL`)
"""
import json
import re
import sys

import numpy as np

inspect, batch, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
feeds = []
for i in json.load(open(inspect))["inputs"]:
    elem, dims = re.match(r"(\w+)\[(.*)\]", i["type"]).groups()
    shape = [batch] + [int(d) if d.isdigit() else 1 for d in dims.split(",")[1:]]
    a = np.ones(shape, np.int64) if elem.startswith("INT") else np.random.RandomState(0).randn(*shape).astype(np.float32)
    path = f"{out}/{i['name']}{batch}.npy"
    np.save(path, a)
    feeds.append(f"{i['name']}={path}")
print(" ".join(feeds))
