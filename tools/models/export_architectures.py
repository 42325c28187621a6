#!/usr/bin/python3
"""Exports the reference architectures with random weights (fixed seed) as trainable ONNX
(BatchNormalization kept as nodes, not folded), for `nncompress finetune` to train.

  lenet-300-100: 784-300-100-10 MLP (ReLU), 266,610 params.
  lenet5:        Caffe LeNet-5: conv 20 5x5, max pool, conv 50 5x5, max pool, fc 500, ReLU, fc 10.
  resnet20:      CIFAR-style ResNet-20 (3 stages x 3 basic blocks, 16/32/64 channels, BatchNorm),
                 1x1-conv projection shortcuts where the shape changes, for 1x28x28 input.
  mobilenetv2:   MobileNetV2, width 0.5, inverted residuals, strides adapted to 28x28 (total 8).
  vit:           Vision Transformer: 7x7 patches (16 tokens + class token), dim 128, 4 layers of
                 pre-norm attention (4 heads, separate Q/K/V) and GELU MLP 256, learned positions.
                 Exported at opset 17 (LayerNormalization, GELU as Erf), in eval mode.
  text:          BERT-style text classifier (tools/models/make_text_dataset.py's token ids):
                 word + position embeddings (vocabulary 2048, 16 tokens), dim 256, 2 post-norm
                 encoder layers of 4-head attention (separate Q/K/V, padding masked by Where) and
                 GELU (Erf) MLP 768, dropout 0.1 on the embeddings and the [CLS] feature, a
                 linear head on the [CLS] token. Exported at opset 17 with its Dropout nodes.

  /usr/bin/python3 tools/models/export_architectures.py --out build/archs
  /usr/bin/python3 tools/models/export_architectures.py --text-weights TRAINED.onnx --opset 14 --out DIR
      the trained text model again at an older opset: LayerNorm written out as ReduceMean, Sub,
      Pow, Sqrt, Div (what exporters before opset 17 write), same weights
"""
import argparse
import math
import os

import onnx
import onnx.numpy_helper
import torch
from torch import nn
from torchvision.models.mobilenetv2 import MobileNetV2


class LeNet300(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(784, 300), nn.ReLU(), nn.Linear(300, 100), nn.ReLU(),
                                 nn.Linear(100, 10))

    def forward(self, x):
        return self.net(x)


class LeNet5(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(1, 20, 5), nn.MaxPool2d(2), nn.Conv2d(20, 50, 5), nn.MaxPool2d(2), nn.Flatten(),
                                 nn.Linear(800, 500), nn.ReLU(), nn.Linear(500, 10))

    def forward(self, x):
        return self.net(x)


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(y)) + self.shortcut(x))


class ResNet20(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU())
        layers, cin = [], 16
        for cout, stride in [(16, 1), (32, 2), (64, 2)]:
            for i in range(3):
                layers.append(BasicBlock(cin, cout, stride if i == 0 else 1))
                cin = cout
        self.layers = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10))

    def forward(self, x):
        return self.head(self.layers(self.stem(x)))


def mobilenetv2():
    # (expansion, channels, blocks, stride) as torchvision's, with the first two strides set to 1.
    setting = [[1, 16, 1, 1], [6, 24, 2, 1], [6, 32, 3, 2], [6, 64, 4, 2], [6, 96, 3, 1], [6, 160, 3, 2], [6, 320, 1, 1]]
    m = MobileNetV2(num_classes=10, width_mult=0.5, inverted_residual_setting=setting)
    first = m.features[0][0]
    m.features[0][0] = nn.Conv2d(1, first.out_channels, 3, 1, 1, bias=False)  # 1 channel in, stride 1
    return m


class Dense(nn.Module):
    """x @ W + b with W stored [in, out], so the export writes MatMul on the parameter itself under
    its own name (nn.Linear on a 3-D input writes a folded transpose under a generated name)."""

    def __init__(self, cin, cout):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(cin, cout))
        self.bias = nn.Parameter(torch.empty(cout))
        nn.init.trunc_normal_(self.weight, std=0.02)
        nn.init.normal_(self.bias, std=1e-3)

    def forward(self, x):
        return x @ self.weight + self.bias


class EncoderBlock(nn.Module):
    def __init__(self, dim, heads, hidden):
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(dim)
        self.q, self.k, self.v, self.o = Dense(dim, dim), Dense(dim, dim), Dense(dim, dim), Dense(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.up, self.down = Dense(dim, hidden), Dense(hidden, dim)
        self.gelu = nn.GELU()

    def split_heads(self, x):
        return x.reshape(x.shape[0], x.shape[1], self.heads, -1).transpose(1, 2)

    def forward(self, x):
        y = self.norm1(x)
        q, k, v = self.split_heads(self.q(y)), self.split_heads(self.k(y)), self.split_heads(self.v(y))
        attention = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-1)
        y = (attention @ v).transpose(1, 2).reshape(x.shape[0], x.shape[1], -1)
        x = x + self.o(y)
        return x + self.down(self.gelu(self.up(self.norm2(x))))


class ViT(nn.Module):
    def __init__(self, patch=7, dim=128, depth=4, heads=4, hidden=256, classes=10):
        super().__init__()
        tokens = (28 // patch) ** 2
        self.patch_embed = nn.Conv2d(1, dim, patch, patch)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.empty(1, tokens + 1, dim))
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        self.blocks = nn.Sequential(*[EncoderBlock(dim, heads, hidden) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, classes)
        # The exporter merges parameters of equal value into one tensor (every zero bias, every
        # LayerNorm scale of ones), which training would then tie: start them distinct.
        for norm in [m for m in self.modules() if isinstance(m, nn.LayerNorm)]:
            nn.init.normal_(norm.weight, 1.0, 1e-3)
            nn.init.normal_(norm.bias, 0.0, 1e-3)
        nn.init.normal_(self.cls_token, std=0.02)

    def forward(self, x):
        x = self.patch_embed(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        return self.head(self.norm(self.blocks(x))[:, 0])


class TextLayer(nn.Module):
    """A BERT encoder layer: post-norm residuals, separate Q/K/V, padding masked by Where."""

    def __init__(self, dim, heads, hidden):
        super().__init__()
        self.heads = heads
        self.q, self.k, self.v, self.o = Dense(dim, dim), Dense(dim, dim), Dense(dim, dim), Dense(dim, dim)
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.up, self.down = Dense(dim, hidden), Dense(hidden, dim)
        self.gelu = nn.GELU()

    def split_heads(self, x):
        return x.reshape(x.shape[0], x.shape[1], self.heads, -1).transpose(1, 2)

    def forward(self, x, padding):
        q, k, v = self.split_heads(self.q(x)), self.split_heads(self.k(x)), self.split_heads(self.v(x))
        scores = (q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])).masked_fill(padding, -1e4)
        y = (torch.softmax(scores, dim=-1) @ v).transpose(1, 2).reshape(x.shape[0], x.shape[1], -1)
        x = self.norm1(x + self.o(y))
        return self.norm2(x + self.down(self.gelu(self.up(x))))


class TextEncoder(nn.Module):
    """BERT-style classifier of token ids (tools/models/make_text_dataset.py): token + learned
    position embeddings, LayerNorm, post-norm encoder layers, a linear head on the [CLS] token."""

    def __init__(self, vocab=2048, seq=16, dim=256, depth=2, heads=4, hidden=768, classes=10, dropout=0.1):
        super().__init__()
        self.seq = seq
        self.tokens = nn.Embedding(vocab, dim)
        nn.init.trunc_normal_(self.tokens.weight, std=0.02)
        self.positions = nn.Parameter(torch.empty(1, seq, dim))
        nn.init.trunc_normal_(self.positions, std=0.02)
        self.norm = nn.LayerNorm(dim)
        # Dropout on the embeddings and the [CLS] feature only: the encoder layers stay the plain
        # pattern that the head and neuron pruning and SmoothQuant match.
        self.dropout = nn.Dropout(dropout)
        self.layers = nn.ModuleList([TextLayer(dim, heads, hidden) for _ in range(depth)])
        self.head = nn.Linear(dim, classes)
        for norm in [m for m in self.modules() if isinstance(m, nn.LayerNorm)]:
            nn.init.normal_(norm.weight, 1.0, 1e-3)
            nn.init.normal_(norm.bias, 0.0, 1e-3)

    def forward(self, input_ids, attention_mask):
        x = self.dropout(self.norm(self.tokens(input_ids) + self.positions))
        padding = (attention_mask == 0)[:, None, None, :]
        for layer in self.layers:
            x = layer(x, padding)
        return self.head(self.dropout(x[:, 0]))


ARCHS = {"lenet-300-100": LeNet300, "lenet5": LeNet5, "resnet20": ResNet20, "mobilenetv2": mobilenetv2, "vit": ViT,
         "text": TextEncoder}
# Transformers export in eval mode at opset 17 (LayerNormalization); the CNNs in training mode.
TRANSFORMERS = {"vit", "text"}


def export_text(model, path, opset, training):
    """The text encoder with inputs input_ids and attention_mask (int64 [N, seq]); `training`
    keeps its Dropout nodes (in inference form) for nncompress's trainer."""
    ids = torch.ones(1, model.seq, dtype=torch.long)
    mode = torch.onnx.TrainingMode.TRAINING if training else torch.onnx.TrainingMode.EVAL
    torch.onnx.export(model, (ids, ids), path, opset_version=opset, input_names=["input_ids", "attention_mask"],
                      output_names=["logits"], dynamic_axes={n: {0: "N"} for n in ["input_ids", "attention_mask", "logits"]},
                      training=mode)
    proto = onnx.load(path)
    inference_form(proto)
    onnx.save(proto, path)
    finish(path)


def export_trained_text(weights, out, opset):
    """Loads a trained text model's initializers (named after the torch parameters) into the
    architecture and exports it as out/<name>-opset<opset>.onnx."""
    trained = {t.name: torch.from_numpy(onnx.numpy_helper.to_array(t).copy()) for t in onnx.load(weights).graph.initializer}
    model = TextEncoder().eval()
    model.load_state_dict({name: trained[name] for name, _ in model.state_dict().items()})
    name = os.path.splitext(os.path.basename(weights))[0]
    export_text(model, os.path.join(out, f"{name}-opset{opset}.onnx"), opset, training=False)


def export(name, path, seed):
    torch.manual_seed(seed)
    model = ARCHS[name]().eval()
    if name == "text":
        export_text(model.train(), path, 17, training=True)
        return
    x = torch.zeros(1, 1, 28, 28)
    if name in TRANSFORMERS:
        torch.onnx.export(model, x, path, opset_version=17, input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}})
        finish(path)
        return
    export_trainable(model, x, path, "input", "logits")


def export_trainable(model, x, path, input_name, output_name):
    """Opset 13 with a dynamic batch. TRAINING mode keeps BatchNormalization as a node (EVAL folds
    it into the convolutions); its running-statistics outputs are dropped so the node is the plain
    inference form."""
    torch.onnx.export(model, x, path, opset_version=13, input_names=[input_name], output_names=[output_name],
                      dynamic_axes={input_name: {0: "N"}, output_name: {0: "N"}}, training=torch.onnx.TrainingMode.TRAINING,
                      do_constant_folding=False)
    proto = onnx.load(path)
    inference_form(proto)
    onnx.save(proto, path)
    finish(path)


def finish(path):
    proto = onnx.load(path)
    proto.producer_name = "nncompress tools/models/export_architectures.py"
    onnx.checker.check_model(proto)
    onnx.save(proto, path)


def inference_form(proto):
    """TRAINING-mode export writes training forms: BatchNormalization's running-statistics outputs
    are dropped, and Dropout loses its training_mode input (a constant true that would drop
    activations in inference too) and its mask output. nncompress's trainer still applies dropout
    while training."""
    graph = proto.graph
    for node in graph.node:
        if node.op_type == "BatchNormalization":
            del node.output[1:]
        if node.op_type == "Dropout":
            del node.input[2:]
            del node.output[1:]
    used = {name for node in graph.node for name in node.input} | {o.name for o in graph.output}
    dead = [n for n in graph.node if n.op_type == "Constant" and not any(o in used for o in n.output)]
    for n in dead:
        graph.node.remove(n)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("archs", nargs="*", default=list(ARCHS))
    ap.add_argument("--text-weights", metavar="MODEL", help="export the text architecture with this model's weights")
    ap.add_argument("--opset", type=int, default=17, help="with --text-weights: the opset to export at")
    ap.add_argument("--inference-form", metavar="MODEL",
                    help="rewrite a model trained from an older export in place with inference_form() and exit")
    args = ap.parse_args()
    if args.inference_form:
        proto = onnx.load(args.inference_form)
        inference_form(proto)
        onnx.checker.check_model(proto)
        onnx.save(proto, args.inference_form)
        return
    os.makedirs(args.out, exist_ok=True)
    if args.text_weights:
        export_trained_text(args.text_weights, args.out, args.opset)
        return
    for name in args.archs:
        export(name, os.path.join(args.out, name + ".onnx"), args.seed)


if __name__ == "__main__":
    main()
