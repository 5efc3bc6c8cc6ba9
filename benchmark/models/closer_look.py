"""ResNet-10 and ResNet-18 for few-shot learning as in "A Closer Look at Few-shot Classification" (Chen et al. 2019,
wyharveychen/CloserLookFewShot ``backbone.py``): a 7x7 stride-2 conv, batch norm, ReLU and a 3x3 stride-2 max-pool,
then four stages of basic residual blocks (1 or 2 per stage) of widths 64-128-256-512 (stride 2 from the second), the
last map averaged to 512 features. CloserLook feeds them 224x224 images; the profile that cites it says which size it
uses. Batch norm keeps no running statistics (the few-shot suite's transductive default; ``--bn-eval inductive`` adds
them), and every parameter is a module parameter, so the MAML family adapts them through ``functional_call``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .registry import Backbone, register_model


def _bn(c: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(c, track_running_stats=False)


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False), _bn(cout)
        self.conv2, self.bn2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False), _bn(cout)
        self.shortcut = (nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), _bn(cout))
                         if stride != 1 or cin != cout else nn.Identity())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class CloserLookResNet(Backbone):
    """``embed(x)``: the 512 features; ``head``: the linear classifier."""

    def __init__(self, num_classes: int, in_channels: int, image_size: int, blocks: tuple[int, ...]) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False), _bn(64), nn.ReLU(),
                                   nn.MaxPool2d(3, 2, 1)]
        c = 64
        for stage, (width, n) in enumerate(zip((64, 128, 256, 512), blocks)):
            for j in range(n):
                layers.append(BasicBlock(c, width, 2 if stage > 0 and j == 0 else 1))
                c = width
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.feature_dim = 512
        self.head = nn.Linear(512, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")



register_model("resnet10-fs")(lambda num_classes, in_channels, image_size: CloserLookResNet(num_classes, in_channels, image_size, (1, 1, 1, 1)))
register_model("resnet18-fs")(lambda num_classes, in_channels, image_size: CloserLookResNet(num_classes, in_channels, image_size, (2, 2, 2, 2)))
