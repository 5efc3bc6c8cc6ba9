"""Baseline++ (Chen et al. 2019, "A Closer Look at Few-shot Classification").

Pre-training as the transfer baseline (every instance of the sampled tasks, a head
over all meta-training classes), but the head is a cosine classifier: logits are
``scale * cos(w_k, f(x))`` with a learned scale. A new task is solved with the body
frozen and a new N-way cosine head fitted on the support features by SGD
(``finetune_steps`` steps of ``finetune_lr``, momentum 0.9 as in Chen et al.), using the
learned scale. The new head starts from the normalised support class means, so
evaluation is deterministic (Chen et al. start from a random layer; recorded decision).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from .base import Task
from .errors import BadHyperparameterError
from .transfer import Transfer, TransferHparams


def cosine_logits(feats: torch.Tensor, weight: torch.Tensor, scale: torch.Tensor | float) -> torch.Tensor:
    """``scale * cos(w_k, f)`` for every feature row and class weight ``w_k``."""
    return scale * F.normalize(feats, dim=1) @ F.normalize(weight, dim=1).T


class CosineHead(nn.Module):
    def __init__(self, features: int, classes: int, scale: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(classes, features))
        nn.init.kaiming_uniform_(self.weight, a=5 ** 0.5)  # nn.Linear's initialisation
        self.scale = nn.Parameter(torch.tensor(float(scale)))

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        return cosine_logits(feats, self.weight, self.scale)


@dataclass
class BaselinePPHparams(TransferHparams):
    scale_init: float = 10.0
    finetune_lr: float = 0.01
    finetune_steps: int = 100

    SEARCH_SPACE: ClassVar[dict[str, tuple]] = {
        "lr": ("log", 1e-4, 1e-2), "finetune_lr": ("log", 1e-3, 1.0), "finetune_steps": ("int", 10, 100),
    }

    def validate(self) -> None:
        super().validate()
        if not self.scale_init > 0:
            raise BadHyperparameterError(f"scale_init must be > 0, got {self.scale_init}")


def fit_cosine_head(feats: torch.Tensor, labels: torch.Tensor, ways: int, scale: float, lr: float, steps: int) -> torch.Tensor:
    """SGD (momentum 0.9) on an N-way cosine head over fixed features, from the class means."""
    means = torch.zeros(ways, feats.shape[1], dtype=feats.dtype, device=feats.device)
    means.index_add_(0, labels, F.normalize(feats, dim=1))
    w = means.clone().requires_grad_(True)
    opt = torch.optim.SGD([w], lr=lr, momentum=0.9)
    with torch.enable_grad():
        for _ in range(steps):
            opt.zero_grad()
            F.cross_entropy(cosine_logits(feats, w, scale), labels).backward()
            opt.step()
    return w.detach()


class BaselinePP(Transfer):
    """Transfer learning with a cosine-similarity classifier (learned scale)."""

    Hparams = BaselinePPHparams

    def _global_head(self, features: int, classes: int) -> nn.Module:
        return CosineHead(features, classes, self.hparams.scale_init)

    def metrics(self) -> dict[str, float]:
        return {"cosine_scale": self.global_head.scale.item()}

    @torch.no_grad()
    def query_logits(self, task: Task) -> torch.Tensor:
        ways = int(task.support_y.max()) + 1
        fs, fq = self.model.embed(task.support_x), self.model.embed(task.query_x)
        scale = self.global_head.scale.item()
        w = fit_cosine_head(fs, task.support_y, ways, scale, self.hparams.finetune_lr, self.hparams.finetune_steps)
        return cosine_logits(fq, w, scale)
