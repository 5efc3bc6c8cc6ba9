"""Tiny float64 few-shot model (embed + N-way head, batch norm) and toy tasks."""
from types import SimpleNamespace

import torch
from torch import nn


class TinyConv4(nn.Module):
    def __init__(self, ways: int = 3) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 3, 3, padding=1), nn.BatchNorm2d(3, track_running_stats=False), nn.Tanh(),
            nn.AvgPool2d(2), nn.Flatten(),
        )
        self.feature_dim = 3 * 2 * 2
        self.head = nn.Linear(self.feature_dim, ways)

    def embed(self, x):
        return self.features(x)

    def forward(self, x):
        return self.head(self.features(x))


def tiny_model(seed: int = 0, ways: int = 3) -> TinyConv4:
    torch.manual_seed(seed)
    return TinyConv4(ways).double()


def toy_task(seed: int, ways: int = 3, shots: int = 2, queries: int = 2, classes: int = 7):
    g = torch.Generator().manual_seed(seed)
    glob = torch.randperm(classes, generator=g)[:ways]
    return SimpleNamespace(
        support_x=torch.randn(ways * shots, 1, 4, 4, generator=g, dtype=torch.float64),
        support_y=torch.arange(ways).repeat_interleave(shots),
        query_x=torch.randn(ways * queries, 1, 4, 4, generator=g, dtype=torch.float64),
        query_y=torch.arange(ways).repeat_interleave(queries),
        support_g=glob.repeat_interleave(shots),
        query_g=glob.repeat_interleave(queries),
    )
