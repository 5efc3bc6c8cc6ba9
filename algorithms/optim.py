"""Optimiser settings shared by every algorithm (the outer / ordinary optimiser)."""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import ClassVar

import torch

from .errors import BadHyperparameterError


@dataclass
class OptimHparams:
    """The outer optimiser. ``weight_decay`` is beta of eq. (6): J + beta * R(w), R = ||w||^2 / 2."""

    optimizer: str = "adam"  # adam | sgd
    lr: float = 1e-3
    momentum: float = 0.9  # sgd only
    weight_decay: float = 0.0

    # Tuning search space: name -> (kind, low, high); kind "log" / "float" / "int" / "cat" (then a tuple of choices).
    SEARCH_SPACE: ClassVar[dict[str, tuple]] = {"lr": ("log", 1e-4, 1e-2)}

    def validate(self) -> None:
        if self.optimizer not in ("adam", "sgd"):
            raise BadHyperparameterError(f"optimizer must be 'adam' or 'sgd', got {self.optimizer!r}")
        if not self.lr > 0:
            raise BadHyperparameterError(f"lr must be > 0, got {self.lr}")
        if self.momentum < 0:
            raise BadHyperparameterError(f"momentum must be >= 0, got {self.momentum}")
        if self.weight_decay < 0:
            raise BadHyperparameterError(f"weight_decay must be >= 0, got {self.weight_decay}")


def build_optimizer(groups: Iterable, hp: OptimHparams) -> torch.optim.Optimizer:
    """Adam or SGD with momentum; weight decay is *not* given to the optimiser (see ``add_weight_decay``)."""
    if hp.optimizer == "adam":
        return torch.optim.Adam(groups, lr=hp.lr)
    return torch.optim.SGD(groups, lr=hp.lr, momentum=hp.momentum)


def add_weight_decay(params: Sequence[torch.Tensor], beta: float) -> None:
    """Add the gradient of beta * R(w), R(w) = sum ||w||^2 / 2, i.e. beta * w, to ``p.grad`` in place."""
    if beta == 0:
        return
    params = [p for p in params if p.grad is not None]
    torch._foreach_add_([p.grad for p in params], params, alpha=beta)
