#!/usr/bin/python3
"""Export torchvision architectures to ONNX with random weights (fixed seed) for tests.

Uses Debian's python3-torch/torchvision; nncompress itself never needs Python. Beside each
MODEL.onnx it writes MODEL.json with facts counted by python3-onnx (the independent oracle):
{"params": total elements of the initializers, "opset": ..., "input_shape": [...]}.

  /usr/bin/python3 tools/export_torchvision.py --out build/testmodels resnet18 mobilenet_v2
"""
import argparse
import contextlib
import json
import os
import sys
import tempfile

import numpy as np
import onnx
import torch
import torchvision

MODELS = ["resnet18", "mobilenet_v2", "squeezenet1_1", "shufflenet_v2_x1_0", "densenet121", "googlenet",
          "efficientnet_b0"]


def classifiers():
    """Every classification architecture of torchvision; those beyond MODELS are exported only when
    named (vit_b_16 is 346 MB)."""
    return torchvision.models.list_models(module=torchvision.models)


def build(name):
    kwargs = {"weights": None}
    if name in ("googlenet", "inception_v3"):
        kwargs.update(aux_logits=False, init_weights=True)
    model = torchvision.models.get_model(name, **kwargs).eval()
    if name.startswith("vit_"):  # torchvision starts its classifier at zero: every logit would be 0
        torch.nn.init.normal_(model.heads.head.weight, std=0.02)
    return model


def settings(opset, size, seed):
    """What an export depends on; a cached export with other settings is redone."""
    return {"opset": opset, "input_shape": ["N", 3, size, size], "seed": seed, "format": 2}


def up_to_date(out_dir, name, wanted):
    try:
        with open(os.path.join(out_dir, name + ".json")) as f:
            return json.load(f).get("settings") == wanted and os.path.exists(os.path.join(out_dir, name + ".onnx"))
    except (OSError, ValueError):
        return False


def export(name, out_dir, opset, size, seed):
    torch.manual_seed(seed)
    model = build(name)
    x = torch.randn(1, 3, size, size)
    path = os.path.join(out_dir, name + ".onnx")
    fd, tmp = tempfile.mkstemp(dir=out_dir, suffix=".onnx.tmp")
    os.close(fd)
    # With gradients off, nn.MultiheadAttention takes its fused fast path, which has no ONNX export.
    grad = contextlib.nullcontext() if name.startswith(("vit_", "swin_", "maxvit_")) else torch.no_grad()
    try:
        with grad:
            torch.onnx.export(model, x, tmp, opset_version=opset, input_names=["input"], output_names=["logits"],
                              dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}}, do_constant_folding=True)
    except BaseException:
        os.remove(tmp)
        raise
    proto = onnx.load(tmp)
    params = int(sum(np.prod(t.dims, dtype=np.int64) for t in proto.graph.initializer))
    os.replace(tmp, path)
    facts = {"model": name, "params": params, "settings": settings(opset, size, seed)}
    with open(os.path.join(out_dir, name + ".json"), "w") as f:
        json.dump(facts, f, indent=1)
    return facts


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="*", default=MODELS, help="architectures (default: %(default)s)")
    ap.add_argument("--out", required=True, help="output folder")
    ap.add_argument("--opset", type=int, default=13)
    ap.add_argument("--size", type=int, default=224, help="input height and width")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--force", action="store_true", help="export even when the files exist")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    for name in args.models:
        if name not in classifiers():
            sys.exit(f"unknown model {name!r}; choose from {', '.join(classifiers())}")
        if not args.force and up_to_date(args.out, name, settings(args.opset, args.size, args.seed)):
            continue
        facts = export(name, args.out, args.opset, args.size, args.seed)
        print(f"exported {name}: {facts['params']:,} params", file=sys.stderr)


if __name__ == "__main__":
    main()
