"""MAML (Finn et al. 2017) and first-order MAML.

For each task of a meta-batch: ``inner_steps`` SGD steps on the support set from the
shared initialisation theta (the shared functional inner loop, ``inner.inner_loop``),
then the query loss at the adapted weights theta'. The outer step minimises the mean
query loss over the meta-batch w.r.t. theta:

* ``maml``: second order, differentiating through the inner steps;
* ``fomaml``: first order, d theta'/d theta treated as the identity, so the
  meta-gradient is the query gradient at theta'.

Batch norm is used as in MAML: statistics of the current batch, in training and at
test time alike (Conv-4 here has no running statistics), with its affine parameters
adapted in the inner loop. At test time the inner loop runs ``test_inner_steps``.
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
class MAMLHparams(OptimHparams):
    inner_lr: float = 0.4
    inner_steps: int = 1
    test_inner_steps: int = 0  # 0: the same as inner_steps
    adapt: str = "all"  # which layers the inner loop adapts: all | conv | fc | head

    SEARCH_SPACE: ClassVar[dict[str, tuple]] = {
        "lr": ("log", 1e-4, 1e-2), "inner_lr": ("log", 1e-3, 1.0), "inner_steps": ("int", 1, 5),
    }

    def validate(self) -> None:
        super().validate()
        if self.inner_steps < 1 or self.test_inner_steps < 0:
            raise BadHyperparameterError("inner_steps must be >= 1 and test_inner_steps >= 0")
        if self.inner_lr <= 0:
            raise BadHyperparameterError(f"inner_lr must be > 0, got {self.inner_lr}")


class MAMLBase(EpisodicAlgorithm):
    Hparams = MAMLHparams
    first_order: bool = False

    def __init__(self, model, hparams: MAMLHparams, train_classes: int | None = None) -> None:
        super().__init__(model, hparams, train_classes)
        self.adapt_names = [n for ns in parameter_groups(model, hparams.adapt).values() for n in ns]
        self.params = list(model.parameters())
        self.optimizer = build_optimizer(self.params, hparams)

    def _step_size(self, name: str) -> float:
        return self.hparams.inner_lr

    def adapt(self, params: dict[str, torch.Tensor], task: Task, steps: int, first_order: bool) -> dict[str, torch.Tensor]:
        return inner_loop(
            self.model, params, task.support_x, task.support_y, steps=steps,
            step_size=self._step_size, adapt=self.adapt_names, first_order=first_order,
        )

    def meta_gradient(self, tasks: Sequence[Task]) -> dict[str, float]:
        """Accumulate d(mean query loss)/d theta into ``p.grad``; return statistics."""
        params = dict(self.model.named_parameters())
        loss_sum, correct, count = 0.0, 0, 0
        for task in tasks:
            fast = self.adapt(params, task, self.hparams.inner_steps, self.first_order)
            logits = functional_forward(self.model, fast, task.query_x)
            loss = F.cross_entropy(logits, task.query_y)
            (loss / len(tasks)).backward()  # one task's graph at a time
            loss_sum += loss.item()
            correct += (logits.detach().argmax(1) == task.query_y).sum().item()
            count += len(task.query_y)
        return {"loss": loss_sum / len(tasks), "train_loss": loss_sum / len(tasks), "train_correct": correct, "train_count": count}

    def train_step(self, tasks: Sequence[Task]) -> dict[str, float]:
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        stats = self.meta_gradient(tasks)
        add_weight_decay(self.params, self.hparams.weight_decay)
        self.optimizer.step()
        return stats

    def query_logits(self, task: Task) -> torch.Tensor:
        steps = self.hparams.test_inner_steps or self.hparams.inner_steps
        params = {n: p.detach().requires_grad_(True) for n, p in self.model.named_parameters()}
        with torch.enable_grad():
            fast = self.adapt(params, task, steps, first_order=True)
        with torch.no_grad():
            return functional_forward(self.model, fast, task.query_x)


class MAML(MAMLBase):
    """MAML: second-order meta-gradient through the inner SGD steps (Finn et al. 2017)."""

    first_order, second_order = False, True


class FOMAML(MAMLBase):
    """First-order MAML: the query gradient at the adapted weights is the meta-gradient."""

    first_order = True
