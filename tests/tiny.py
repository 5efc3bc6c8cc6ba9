"""Tiny float64 networks for gradient checks."""
import torch
from torch import nn


class TinyNet(nn.Module):
    """conv -> relu -> pool -> fc -> tanh -> fc: two conv-group and two fc-group layers."""

    def __init__(self, classes: int = 3) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 2, 3, padding=1)
        self.conv2 = nn.Conv2d(2, 2, 3, padding=1)
        self.fc1 = nn.Linear(2 * 3 * 3, 5)
        self.fc2 = nn.Linear(5, classes)

    def forward(self, x):
        x = torch.tanh(self.conv1(x))  # smooth activations: finite differences stay accurate
        x = torch.nn.functional.avg_pool2d(torch.tanh(self.conv2(x)), 2)
        return self.fc2(torch.tanh(self.fc1(x.flatten(1))))


def tiny_net(seed: int = 0) -> TinyNet:
    torch.manual_seed(seed)
    return TinyNet().double()


def tiny_batch(n: int = 8, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 1, 6, 6, generator=g, dtype=torch.float64)
    y = torch.randint(0, 3, (n,), generator=g)
    return x, y
