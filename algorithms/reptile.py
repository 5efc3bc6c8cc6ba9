"""Reptile (Nichol et al. 2018): ``theta += epsilon * mean_i(theta_i - theta)``.

Each task's ``theta_i`` comes from ``inner_steps`` plain SGD steps (the shared inner
loop, first order) on the task's data (support and query: at meta-training time the
whole task is training data). The outer update is applied through the optimiser as
the pseudo-gradient ``-(mean_i theta_i - theta)``: with the default plain SGD at
``lr = epsilon`` that is exactly the formula above. Test-time adaptation is SGD on the
support set.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F

from .base import EpisodicAlgorithm, Task
from .errors import BadHyperparameterError
from .inner import functional_forward, inner_loop, parameter_groups
from .optim import OptimHparams, add_weight_decay, build_optimizer


@dataclass
class ReptileHparams(OptimHparams):
    optimizer: str = "sgd"
    lr: float = 1.0  # epsilon, the outer step size
    momentum: float = 0.0
    inner_lr: float = 0.01
    inner_steps: int = 5
    test_inner_steps: int = 0  # 0: the same as inner_steps

    SEARCH_SPACE: ClassVar[dict[str, tuple]] = {
        "lr": ("float", 0.1, 1.0), "inner_lr": ("log", 1e-3, 0.5), "inner_steps": ("int", 1, 10),
    }

    def validate(self) -> None:
        super().validate()
        if self.inner_steps < 1 or self.test_inner_steps < 0 or self.inner_lr <= 0:
            raise BadHyperparameterError("Reptile needs inner_steps >= 1, test_inner_steps >= 0, inner_lr > 0")


class Reptile(EpisodicAlgorithm):
    """Reptile: move the initialisation towards each task's SGD-adapted weights."""

    Hparams = ReptileHparams

    def __init__(self, model, hparams: ReptileHparams, train_classes: int | None = None) -> None:
        super().__init__(model, hparams, train_classes)
        self.adapt_names = [n for ns in parameter_groups(model, "all").values() for n in ns]
        self.params = list(model.parameters())
        self.optimizer = build_optimizer(self.params, hparams)

    def _adapt(self, x, y, steps: int) -> dict[str, torch.Tensor]:
        start = {n: p.detach().requires_grad_(True) for n, p in self.model.named_parameters()}
        with torch.enable_grad():
            return inner_loop(self.model, start, x, y, steps=steps, step_size=lambda n: self.hparams.inner_lr,
                              adapt=self.adapt_names, first_order=True)

    def reptile_direction(self, tasks: Sequence[Task]) -> tuple[dict[str, torch.Tensor], dict[str, float]]:
        """``mean_i(theta_i - theta)`` and the tasks' mean loss at theta_i."""
        names = [n for n, _ in self.model.named_parameters()]
        theta = {n: p.detach() for n, p in self.model.named_parameters()}
        delta = {n: torch.zeros_like(p) for n, p in theta.items()}
        loss_sum = 0.0
        for task in tasks:
            x = torch.cat([task.support_x, task.query_x])
            y = torch.cat([task.support_y, task.query_y])
            fast = self._adapt(x, y, self.hparams.inner_steps)
            for n in names:
                delta[n] += (fast[n].detach() - theta[n]) / len(tasks)
            with torch.no_grad():
                loss_sum += F.cross_entropy(functional_forward(self.model, fast, task.query_x), task.query_y).item()
        return delta, {"loss": loss_sum / len(tasks), "train_loss": loss_sum / len(tasks)}

    def train_step(self, tasks: Sequence[Task]) -> dict[str, float]:
        self.model.train()
        delta, stats = self.reptile_direction(tasks)
        self.optimizer.zero_grad(set_to_none=True)
        for n, p in self.model.named_parameters():
            p.grad = -delta[n]
        add_weight_decay(self.params, self.hparams.weight_decay)
        self.optimizer.step()
        return stats

    def query_logits(self, task: Task) -> torch.Tensor:
        fast = self._adapt(task.support_x, task.support_y, self.hparams.test_inner_steps or self.hparams.inner_steps)
        with torch.no_grad():
            return functional_forward(self.model, fast, task.query_x)
