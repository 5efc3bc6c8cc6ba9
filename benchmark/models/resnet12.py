"""ResNet-12, the few-shot field's standard backbone since MetaOptNet (Lee et al. 2019) and RFS (Tian et al. 2020):
four residual blocks of widths 64-160-320-640, each three 3x3 conv + batch norm + LeakyReLU(0.1) with a 1x1 conv +
batch norm shortcut, then a 2x2 max-pool; the features are the last map averaged over space (640, as RFS and
LibFewShot; MetaOptNet flattens the 5x5 map instead: a declared deviation of the profiles that cite it).

``resnet12-dropblock``: DropBlock (Ghiasi et al. 2018) after the last two blocks in training, block size 5 and drop
rate 0.1 as MetaOptNet's, held constant (MetaOptNet and RFS ramp the rate up over training: declared).

Batch norm keeps no running statistics (the few-shot suite's transductive default, as Conv-4); ``--bn-eval
inductive`` adds them (``set_batchnorm``). Every parameter is a module parameter, so the MAML family's
``functional_call`` adapts it, batch norm included, at every inner step.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .registry import Backbone, register_model

WIDTHS = (64, 160, 320, 640)


class DropBlock(nn.Module):
    """Drops ``block_size`` x ``block_size`` squares of a feature map in training (rescaling the rest); identity at test."""

    def __init__(self, rate: float, block_size: int) -> None:
        super().__init__()
        self.rate, self.block_size = rate, block_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.rate == 0:
            return x
        _, _, h, w = x.shape
        b = min(self.block_size, h, w)
        valid = (h - b + 1) * (w - b + 1)
        gamma = self.rate * h * w / (b * b * valid)  # seeds so that about ``rate`` of the map is dropped
        seeds = (torch.rand(x.shape[0], x.shape[1], h - b + 1, w - b + 1, device=x.device) < gamma).to(x.dtype)
        mask = 1 - F.max_pool2d(F.pad(seeds, (b - 1, b - 1, b - 1, b - 1)), b, stride=1)  # h x w: each seed's block
        return x * mask * mask.numel() / mask.sum().clamp_min(1.0)


class Block(nn.Module):
    def __init__(self, cin: int, cout: int, drop: nn.Module | None) -> None:
        super().__init__()
        convs = []
        for i in range(3):
            convs += [nn.Conv2d(cin if i == 0 else cout, cout, 3, padding=1, bias=False),
                      nn.BatchNorm2d(cout, track_running_stats=False)]
            if i < 2:
                convs.append(nn.LeakyReLU(0.1))
        self.body = nn.Sequential(*convs)
        self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout, track_running_stats=False))
        self.pool = nn.MaxPool2d(2, ceil_mode=True)  # ceil: 32x32 CIFAR-FS images keep a 2x2 map after four blocks
        self.drop = drop or nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.pool(F.leaky_relu(self.body(x) + self.shortcut(x), 0.1)))


class ResNet12(Backbone):
    """``embed(x)``: the 640 features; ``head``: the linear classifier (one output per way or class)."""

    def __init__(self, num_classes: int, in_channels: int, image_size: int, dropblock: float = 0.0) -> None:
        super().__init__()
        blocks, c = [], in_channels
        for i, w in enumerate(WIDTHS):
            blocks.append(Block(c, w, DropBlock(dropblock, 5) if dropblock and i >= 2 else None))
            c = w
        self.features = nn.Sequential(*blocks, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.feature_dim = WIDTHS[-1]
        self.head = nn.Linear(self.feature_dim, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="leaky_relu")



register_model("resnet12")(lambda num_classes, in_channels, image_size: ResNet12(num_classes, in_channels, image_size))
register_model("resnet12-dropblock")(
    lambda num_classes, in_channels, image_size: ResNet12(num_classes, in_channels, image_size, dropblock=0.1))
