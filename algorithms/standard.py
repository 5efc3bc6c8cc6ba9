"""Standard supervised training: one optimiser step on the loss of each batch (eq. 1)."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .base import Algorithm
from .optim import OptimHparams, build_optimizer


@dataclass
class StandardHparams(OptimHparams):
    pass


class Standard(Algorithm):
    """``w <- opt(w, dL(w; B)/dw + beta * w)`` on each batch B."""

    consumes = "batches"
    loss_scaling = True
    Hparams = StandardHparams

    def __init__(self, model, hparams: StandardHparams, train_classes: int | None = None) -> None:
        super().__init__(model, hparams, train_classes)
        self.params = list(model.parameters())
        self.optimizer = build_optimizer(self.params, hparams)

    def train_step(self, data: tuple[torch.Tensor, torch.Tensor]) -> dict[str, float]:
        x, y = data
        self.model.train()
        logits = self.model(x)
        loss = self.loss(logits, y)
        self.optimizer.zero_grad(set_to_none=True)
        self.backward(loss)
        self.step(self.params, self.hparams.weight_decay)
        correct = (logits.detach().argmax(1) == y).sum().item()
        return {"loss": loss.item(), "train_loss": loss.item(), "train_correct": correct, "train_count": len(y)}

    def loss(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The training loss of one batch (a variant, e.g. a plugin, overrides only this)."""
        return F.cross_entropy(logits, y)
