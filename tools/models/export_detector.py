#!/usr/bin/python3
"""Exports a YOLOv8-style anchor-free detector with random weights (fixed seed) as trainable ONNX
(BatchNormalization kept as nodes) for `nncompress finetune --task detection` to train.

The architecture is Ultralytics' YOLOv8 at a chosen width and depth (default: YOLOv8n with its deepest
stage at 128 channels instead of 256: 38% fewer parameters, 88% of the MACs at 128 x 128): Conv = Conv2d + BN + SiLU;
C2f (1x1 conv, Split in two, n bottlenecks on the last part, Concat of every part, 1x1 conv);
SPPF (three chained 5x5 max pools, Concat); an FPN-PAN neck (nearest Upsample x2 + Concat, strided
convs + Concat); a decoupled head per level (box branch: 4 x reg_max logits, the distance
distributions of DFL; class branch: one logit per class), with YOLOv8's bias initialization.
Its one output `head` is the raw head [N, 4 * reg_max + classes, anchors], anchors level by level
(strides 8, 16, 32, each a row-major grid): what `nncompress eval --task detection` decodes.

  /usr/bin/python3 tools/models/export_detector.py --out build/archs/yolo.onnx [--size 128]
      [--channels 1] [--classes 20] [--width 0.25] [--depth 0.33] [--reg-max 16] [--seed 0]
"""
import argparse
import math
import os
import sys

import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from export_architectures import export_trainable  # noqa: E402


class Conv(nn.Module):
    def __init__(self, cin, cout, k=1, s=1):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, s, k // 2, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=1e-3, momentum=0.03)
        self.act = nn.SiLU()

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))


class Bottleneck(nn.Module):
    def __init__(self, c, shortcut):
        super().__init__()
        self.cv1, self.cv2 = Conv(c, c, 3), Conv(c, c, 3)
        self.add = shortcut

    def forward(self, x):
        y = self.cv2(self.cv1(x))
        return x + y if self.add else y


class C2f(nn.Module):
    def __init__(self, cin, cout, n, shortcut):
        super().__init__()
        self.c = cout // 2
        self.cv1 = Conv(cin, 2 * self.c, 1)
        self.cv2 = Conv((2 + n) * self.c, cout, 1)
        self.m = nn.ModuleList(Bottleneck(self.c, shortcut) for _ in range(n))

    def forward(self, x):
        y = list(self.cv1(x).split((self.c, self.c), 1))
        y.extend(m(y[-1]) for m in self.m)
        return self.cv2(torch.cat(y, 1))


class SPPF(nn.Module):
    def __init__(self, cin, cout, k=5):
        super().__init__()
        c = cin // 2
        self.cv1, self.cv2 = Conv(cin, c, 1), Conv(4 * c, cout, 1)
        self.m = nn.MaxPool2d(k, 1, k // 2)

    def forward(self, x):
        y = [self.cv1(x)]
        y.extend(self.m(y[-1]) for _ in range(3))
        return self.cv2(torch.cat(y, 1))


class Detect(nn.Module):
    def __init__(self, classes, reg_max, channels, strides):
        super().__init__()
        c2, c3 = max(16, channels[0] // 4, reg_max * 4), max(channels[0], min(classes, 100))
        self.cv2 = nn.ModuleList(nn.Sequential(Conv(c, c2, 3), Conv(c2, c2, 3), nn.Conv2d(c2, 4 * reg_max, 1)) for c in channels)
        self.cv3 = nn.ModuleList(nn.Sequential(Conv(c, c3, 3), Conv(c3, c3, 3), nn.Conv2d(c3, classes, 1)) for c in channels)
        self.no = 4 * reg_max + classes
        self.strides = strides

    def init_bias(self, size):
        """YOLOv8's: box logits start equal (the mean distance), class logits at a prior of
        5 objects per (size/stride)^2 cells spread over the classes."""
        for box, cls, s in zip(self.cv2, self.cv3, self.strides):
            box[-1].bias.data[:] = 1.0
            cls[-1].bias.data[:] = math.log(5 / cls[-1].out_channels / (size / s) ** 2)

    def forward(self, xs):
        return torch.cat([torch.cat([b(x), c(x)], 1).flatten(2) for x, b, c in zip(xs, self.cv2, self.cv3)], 2)


class Detector(nn.Module):
    def __init__(self, channels, classes, width, depth, reg_max, size, max_channels):
        super().__init__()
        w = lambda c: max(8, int(math.ceil(min(c, max_channels) * width / 8) * 8))  # noqa: E731
        d = lambda n: max(1, round(n * depth))  # noqa: E731
        c1, c2, c3, c4, c5 = w(64), w(128), w(256), w(512), w(1024)
        self.stem = nn.Sequential(Conv(channels, c1, 3, 2), Conv(c1, c2, 3, 2), C2f(c2, c2, d(3), True))
        self.p3 = nn.Sequential(Conv(c2, c3, 3, 2), C2f(c3, c3, d(6), True))
        self.p4 = nn.Sequential(Conv(c3, c4, 3, 2), C2f(c4, c4, d(6), True))
        self.p5 = nn.Sequential(Conv(c4, c5, 3, 2), C2f(c5, c5, d(3), True), SPPF(c5, c5))
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.top_down4 = C2f(c5 + c4, c4, d(3), False)
        self.top_down3 = C2f(c4 + c3, c3, d(3), False)
        self.down3 = Conv(c3, c3, 3, 2)
        self.bottom_up4 = C2f(c3 + c4, c4, d(3), False)
        self.down4 = Conv(c4, c4, 3, 2)
        self.bottom_up5 = C2f(c4 + c5, c5, d(3), False)
        self.detect = Detect(classes, reg_max, (c3, c4, c5), (8, 16, 32))
        self.detect.init_bias(size)

    def forward(self, x):
        p3 = self.p3(self.stem(x))
        p4 = self.p4(p3)
        p5 = self.p5(p4)
        t4 = self.top_down4(torch.cat([self.up(p5), p4], 1))
        n3 = self.top_down3(torch.cat([self.up(t4), p3], 1))
        n4 = self.bottom_up4(torch.cat([self.down3(n3), t4], 1))
        n5 = self.bottom_up5(torch.cat([self.down4(n4), p5], 1))
        return self.detect([n3, n4, n5])


def export(path, size, channels, classes, width, depth, reg_max, max_channels, seed):
    torch.manual_seed(seed)
    model = Detector(channels, classes, width, depth, reg_max, size, max_channels).eval()
    x = torch.zeros(1, channels, size, size)
    export_trainable(model, x, path, "images", "head")
    return model


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="the .onnx file to write")
    ap.add_argument("--size", type=int, default=128, help="input height and width")
    ap.add_argument("--channels", type=int, default=1)
    ap.add_argument("--classes", type=int, default=20)
    ap.add_argument("--width", type=float, default=0.25, help="channel multiplier (YOLOv8n: 0.25)")
    ap.add_argument("--depth", type=float, default=0.33, help="bottleneck-count multiplier (YOLOv8n: 0.33)")
    ap.add_argument("--max-channels", type=int, default=512,
                    help="channels before the width multiplier are capped at this (YOLOv8n: 1024)")
    ap.add_argument("--reg-max", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    export(a.out, a.size, a.channels, a.classes, a.width, a.depth, a.reg_max, a.max_channels, a.seed)


if __name__ == "__main__":
    main()
