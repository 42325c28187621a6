#!/usr/bin/python3
"""Random samples for eval throughput runs of a one-input model, shaped like its input (unknown
dims but the batch: 1): WORK/batch.npy (one batch, for ONNX Runtime) and WORK/batches.npz (at least
SAMPLES samples and 6 batches, for nncompress eval, whose steady state leaves the first batch out).
Prints the input's name.
  bench/eval_inputs.py INSPECT.json WORK BATCH SAMPLES     (INSPECT.json: `nncompress inspect --json MODEL`)
"""
import json
import re
import sys

import numpy as np

inspect, work, batch, samples = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
first = json.load(open(inspect))["inputs"][0]
dims = re.match(r"\w+\[(.*)\]", first["type"]).group(1).split(",")[1:]
x = np.random.RandomState(0).randn(batch, *[int(d) if d.isdigit() else 1 for d in dims]).astype(np.float32)
np.save(f"{work}/batch.npy", x)
np.savez(f"{work}/batches.npz", x=np.concatenate([x] * max(6, -(-samples // batch))))
print(first["name"])
