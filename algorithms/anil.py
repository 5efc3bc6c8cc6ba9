"""ANIL, "almost no inner loop" (Raghu et al. 2020, "Rapid Learning or Feature Reuse?").

MAML whose inner loop adapts only the head: the body's features of the support and
query sets are computed once per task (with a graph to the body's weights), the head
takes ``inner_steps`` SGD steps on the support features, and the query loss at the
adapted head is differentiated, second order through the head's steps, w.r.t. both the
head's initialisation and the body. The outer loop is MAML's.

Mathematically this is ``maml`` with ``adapt=head`` (the body's inner updates removed),
which the tests check; the speed comes from not re-running the body at every inner
step and not differentiating twice through it.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .base import Task
from .batched import by_episodes
from .errors import BadHyperparameterError
from .inner import gradient_step
from .maml import MAMLBase, MAMLHparams
from .transfer import fit_head


@dataclass
class ANILHparams(MAMLHparams):
    adapt: str = "head"

    def validate(self) -> None:
        super().validate()
        if self.adapt != "head":
            raise BadHyperparameterError(
                f"anil adapts only the head (adapt=head), got adapt={self.adapt!r}; use maml --set adapt=... for other layers")


def head_inner_loop(feats: torch.Tensor, labels: torch.Tensor, head: dict[str, torch.Tensor], steps: int, lr: float,
                    first_order: bool) -> dict[str, torch.Tensor]:
    """``steps`` SGD steps of a linear head (``weight``, ``bias``) on fixed features."""
    for _ in range(steps):
        loss = F.cross_entropy(F.linear(feats, head["weight"], head["bias"]), labels)
        head, _ = gradient_step(loss, head, ("weight", "bias"), lambda n: lr, first_order=first_order)
    return head


class ANIL(MAMLBase):
    """MAML with the inner loop on the head only; second order through the head."""

    Hparams = ANILHparams
    first_order, second_order = False, True

    def _head(self) -> dict[str, torch.Tensor]:
        return {"weight": self.model.head.weight, "bias": self.model.head.bias}

    def meta_gradient(self, tasks: Sequence[Task]) -> dict[str, float]:
        loss_sum, correct, count = 0.0, 0, 0
        for task in tasks:
            fs, fq = self.embed_task(task)
            head = head_inner_loop(fs, task.support_y, self._head(), self.hparams.inner_steps, self.hparams.inner_lr,
                                   self.first_order)
            logits = F.linear(fq, head["weight"], head["bias"])
            loss = F.cross_entropy(logits, task.query_y)
            (loss / len(tasks)).backward()
            loss_sum += loss.item()
            correct += (logits.detach().argmax(1) == task.query_y).sum().item()
            count += len(task.query_y)
        return {"loss": loss_sum / len(tasks), "train_loss": loss_sum / len(tasks), "train_correct": correct, "train_count": count}

    def query_logits(self, task: Task) -> torch.Tensor:
        steps = self.hparams.test_inner_steps or self.hparams.inner_steps
        with torch.no_grad():
            fs, fq = self.embed_task(task)
        start = {n: p.detach().requires_grad_(True) for n, p in self._head().items()}
        with torch.enable_grad():
            head = head_inner_loop(fs, task.support_y, start, steps, self.hparams.inner_lr, first_order=True)
        return F.linear(fq, head["weight"].detach(), head["bias"].detach())

    def query_logits_block(self, block) -> torch.Tensor:
        """The head's SGD steps for E episodes at once (``transfer.fit_head`` from the learned head)."""
        steps = self.hparams.test_inner_steps or self.hparams.inner_steps
        with torch.no_grad():
            fs, fq = self.embed_block(block)
        start = (self.model.head.weight, self.model.head.bias)

        def fitted(s, y, q):
            w, b = fit_head(s, y, block.ways, self.hparams.inner_lr, steps, start=start)
            return q @ w.transpose(1, 2) + b[:, None, :]

        return by_episodes(fitted, (fs.shape[1] + fq.shape[1]) * fs.shape[2], fs, block.support_y, fq)
