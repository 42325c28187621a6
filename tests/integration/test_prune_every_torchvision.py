"""Every torchvision classification architecture (random weights, opset 13) prunes with
--target-macs 0.6 and real removal, and ONNX Runtime runs the result with the original's output
shape and nncompress's outputs. CI runs one small model of each block that needs its own rule;
NNCOMPRESS_ALL_TORCHVISION=1 (bench/prune_every_torchvision.sh) runs all of torchvision 0.14."""
import json
import os

import numpy as np
import pytest

from harness import export_torchvision, ort_outputs, our_outputs, run

CASES = ["regnet_y_400mf",  # grouped convolutions under squeeze-excitation
         "resnext50_32x4d"]  # grouped convolutions in bottlenecks
# torch 1.13 cannot export these at opset 13 ("Exporting the operator 'aten::zero' to ONNX opset
# version 13 is not supported"): outside the check, which covers what exports.
NOT_EXPORTABLE = {"swin_v2_t", "swin_v2_s", "swin_v2_b"}
if os.environ.get("NNCOMPRESS_ALL_TORCHVISION") == "1":
    import torchvision
    CASES = [m for m in torchvision.models.list_models(module=torchvision.models) if m not in NOT_EXPORTABLE]


def input_size(name):
    return 299 if name == "inception_v3" else 224


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("inputs")
    for size in (224, 299):
        np.save(folder / f"{size}.npy", np.random.RandomState(3).randn(2, 3, size, size).astype(np.float32))
    return folder


@pytest.mark.parametrize("name", CASES)
def test_prunes_to_0_6_of_the_macs_and_onnxruntime_agrees(nncompress, models_dir, inputs, tmp_path, name):
    size = input_size(name)
    model = export_torchvision(os.path.join(models_dir, f"opset13-{size}"), [name], size=size)[name]
    pruned = tmp_path / "pruned.onnx"
    code, out, err = run([nncompress, "--quiet", "prune", model, "-o", pruned, "--target-macs", "0.6", "--json"])
    assert code == 0, err.strip()[-600:]
    j = json.loads(out)
    assert j["macs_after"] <= 0.6 * j["macs_before"] and j["params_after"] < j["params_before"]
    x = inputs / f"{size}.npy"
    ours = our_outputs(nncompress, pruned, x, tmp_path / "ours")["logits"]
    theirs = ort_outputs(pruned, {"input": x}, tmp_path / "ort")["logits"]
    assert ours.shape == theirs.shape == (2, 1000)
    rel = float(np.abs(ours - theirs).max() / max(np.abs(theirs).max(), 1e-12))
    assert rel <= 1e-4, f"relative difference {rel:.1e}"


def export_small(model, path, opset):
    """A small test network on 3 x 16 x 16 images, exported with a dynamic batch."""
    import torch
    torch.onnx.export(model, torch.randn(1, 3, 16, 16), path, opset_version=opset, input_names=["input"],
                      output_names=["logits"], dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}})


def prune_small(nncompress, model, tmp_path, *options):
    """Prunes a small network with `options`: (prune's JSON, the pruned model, its logits on three
    random images from nncompress and from ONNX Runtime, checked to agree)."""
    pruned = tmp_path / "pruned.onnx"
    code, out, err = run([nncompress, "--quiet", "prune", model, "-o", pruned, *options, "--json"])
    assert code == 0, err.strip()[-600:]
    x = tmp_path / "x.npy"
    np.save(x, np.random.RandomState(0).randn(3, 3, 16, 16).astype(np.float32))
    ours = our_outputs(nncompress, pruned, x, tmp_path / "ours")["logits"]
    theirs = ort_outputs(pruned, {"input": x}, tmp_path / "ort")["logits"]
    assert ours.shape == theirs.shape == (3, 10)
    assert np.allclose(ours, theirs, rtol=1e-4, atol=1e-4 * np.abs(theirs).max())
    return json.loads(out), pruned, x, theirs


def export_c2f(path, opset):
    """Two YOLOv8 C2f blocks (1x1 conv, SiLU, Split along channels, residual bottlenecks, Concat of
    every part) and a classifier, as torch exports `tensor.split((c, c), 1)`."""
    import torch
    from torch import nn

    class ConvSiLU(nn.Sequential):
        def __init__(self, cin, cout, k=1, groups=1):
            super().__init__(nn.Conv2d(cin, cout, k, padding=k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout),
                             nn.SiLU())

    class C2f(nn.Module):
        def __init__(self, cin, cout, n=2):
            super().__init__()
            self.c = cout // 2
            self.cv1 = ConvSiLU(cin, 2 * self.c)
            self.m = nn.ModuleList(nn.Sequential(ConvSiLU(self.c, self.c, 3), ConvSiLU(self.c, self.c, 3)) for _ in range(n))
            self.cv2 = ConvSiLU((2 + n) * self.c, cout)

        def forward(self, x):
            y = list(self.cv1(x).split((self.c, self.c), 1))
            for m in self.m:
                y.append(y[-1] + m(y[-1]))
            return self.cv2(torch.cat(y, 1))

    torch.manual_seed(0)
    model = nn.Sequential(ConvSiLU(3, 16, 3), C2f(16, 32), nn.ConvTranspose2d(32, 24, 2, stride=2), C2f(24, 32),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10)).eval()
    with torch.no_grad():
        for m in model.modules():  # BatchNorm statistics away from the identity, so channels differ
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
        model[2].weight[:, 12:] *= 0.1  # half the ConvTranspose's output channels are weak
        export_small(model, path, opset)


@pytest.mark.parametrize("opset", [11, 13])
def test_c2f_split_parts_and_conv_transpose_prune_and_onnxruntime_agrees(nncompress, tmp_path, opset):
    model = tmp_path / "c2f.onnx"
    export_c2f(model, opset)
    j = prune_small(nncompress, model, tmp_path, "--target-macs", "0.6")[0]
    assert j["macs_after"] <= 0.6 * j["macs_before"]
    changed = {layer["name"] for layer in j["layers"] if layer["channels_after"] < layer["channels_before"]}
    assert any("cv1" in name for name in changed), changed  # the convolutions whose outputs are split
    assert any("ConvTranspose" in name for name in changed), changed


def export_slices_and_grouped(path, opset):
    """Channels sliced apart (`x[:, :c]`, `x[:, c:]`: Slice along channels, bounds as attributes
    before opset 10 and as inputs after), a grouped convolution that widens (16 -> 32 channels in 4
    groups) and one that narrows (32 -> 16), and a classifier."""
    import torch
    from torch import nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 24, 1), nn.ReLU())
            self.left = nn.Sequential(nn.Conv2d(8, 16, 3, padding=1), nn.ReLU())
            self.widen = nn.Sequential(nn.Conv2d(16, 32, 3, padding=1, groups=4), nn.BatchNorm2d(32), nn.ReLU())
            self.narrow = nn.Conv2d(32, 16, 1, groups=4)
            self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10))

        def forward(self, x):
            x = self.stem(x)
            left, right = x[:, :8], x[:, 8:]
            return self.head(torch.cat([self.left(left), self.narrow(self.widen(right))], 1))

    torch.manual_seed(0)
    model = Net().eval()
    with torch.no_grad():
        model.widen[1].running_mean.uniform_(-0.5, 0.5)
        model.widen[1].running_var.uniform_(0.5, 2.0)
        model.stem[2].weight[4:8] *= 0.1  # weak channels on both sides of the slice boundary
        model.stem[2].weight[8:12] *= 0.1
        model.widen[0].weight[::2] *= 0.1  # weak outputs in every conv group
        export_small(model, path, opset)


@pytest.mark.parametrize("opset", [9, 13])
def test_channel_slices_and_widening_grouped_convolutions_prune_and_onnxruntime_agrees(nncompress, tmp_path, opset):
    import onnx

    model = tmp_path / "net.onnx"
    export_slices_and_grouped(model, opset)
    assert sum(n.op_type == "Slice" for n in onnx.load(model).graph.node) == 2
    j = prune_small(nncompress, model, tmp_path, "--target-macs", "0.6")[0]
    assert j["macs_after"] <= 0.6 * j["macs_before"]
    after = {layer["name"]: (layer["channels_before"], layer["channels_after"]) for layer in j["layers"]}
    stem = after["/stem/stem.2/Conv"]
    widen = next(v for k, v in after.items() if "widen" in k)
    assert stem[1] < stem[0], after  # the sliced channels
    assert widen[1] < widen[0] and widen[1] % 4 == 0, after  # the same count left in each conv group


def export_group_norm(path):
    """Two GroupNorm(4 groups of 4 channels) blocks as torch exports them (Reshape to [N, 4, -1],
    InstanceNormalization, Reshape back, Mul and Add), the last group of each dead: zero weights,
    bias, scale and shift, so removing that whole group leaves every output as it was."""
    import torch
    from torch import nn

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 16, 3, padding=1), nn.GroupNorm(4, 16),
                          nn.ReLU(), nn.Conv2d(16, 16, 3, padding=1), nn.GroupNorm(4, 16), nn.SiLU(),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10)).eval()
    with torch.no_grad():
        for conv, norm in ((model[2], model[3]), (model[5], model[6])):
            norm.weight.uniform_(0.5, 1.5)
            norm.bias.uniform_(-0.5, 0.5)
            for t in (conv.weight, conv.bias, norm.weight, norm.bias):
                t[12:] = 0
        export_small(model, path, 13)


def test_group_norm_loses_whole_groups_and_its_group_count(nncompress, tmp_path):
    import onnx
    from onnx import numpy_helper

    model = tmp_path / "gn.onnx"
    export_group_norm(model)
    j, pruned, x, after = prune_small(nncompress, model, tmp_path, "--ratio", "0.25")
    changed = {layer["name"]: layer["channels_after"] for layer in j["layers"]
               if layer["channels_after"] < layer["channels_before"]}
    assert changed == {"/2/Conv": 12, "/5/Conv": 12}, changed
    g = onnx.load(pruned).graph
    consts = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    targets = [consts[n.input[1]].tolist() for n in g.node if n.op_type == "Reshape" and n.input[1] in consts]
    assert targets.count([0, 3, -1]) == 2, targets  # three groups of four channels left in each
    before = ort_outputs(model, {"input": x}, tmp_path / "before")["logits"]
    assert np.allclose(after, before, rtol=1e-4, atol=1e-5 * np.abs(before).max())  # the dead groups went whole


def test_group_norm_over_channels_of_two_sources_is_left_whole_with_its_reason(nncompress, tmp_path):
    """A GroupNorm over a Concat of two convolutions: whole norm groups cannot be followed back to
    one producer, so both stay whole, say why, and the rest still prunes."""
    import torch
    from torch import nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU())
            self.a, self.b = nn.Conv2d(8, 8, 3, padding=1), nn.Conv2d(8, 8, 3, padding=1)
            self.norm = nn.GroupNorm(4, 16)
            self.tail = nn.Sequential(nn.ReLU(), nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                                      nn.Flatten(), nn.Linear(16, 10))

        def forward(self, x):
            x = self.stem(x)
            return self.tail(self.norm(torch.cat([self.a(x), self.b(x)], 1)))

    torch.manual_seed(0)
    model = tmp_path / "gn_concat.onnx"
    with torch.no_grad():
        export_small(Net().eval(), model, 13)
    j = prune_small(nncompress, model, tmp_path, "--ratio", "0.25")[0]
    reasons = {u["node"]: u["reason"] for u in j["unprunable"]}
    assert "cannot remove whole" in reasons["/a/Conv"] and "cannot remove whole" in reasons["/b/Conv"], reasons
    changed = {layer["name"] for layer in j["layers"] if layer["channels_after"] < layer["channels_before"]}
    assert changed == {"/tail/tail.1/Conv"}, changed
