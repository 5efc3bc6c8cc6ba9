"""Meta-Transfer Learning (Eshratifar et al., seed 003, Algorithm 1).

Each iteration, on the sampled tasks:

1. the meta-learner (MAML or Reptile) takes its step from theta: ``theta_meta``;
2. a plain supervised SGD step from theta on all instances of the same tasks with
   their global labels (a head over all meta-training classes):
   ``theta_disc = theta - alpha_d * grad L_(x,y)(theta)``;
3. ``theta = beta * theta_meta + (1 - beta) * theta_disc``.

The feature extractor is shared; the episodic loss uses the N-way head (untouched by
step 2), the supervised loss the global head (untouched by step 1). New tasks are
adapted with plain SGD on the support set (the meta-learner's own test-time adaptation).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import ClassVar

import torch
from torch import nn

from .base import EpisodicAlgorithm, Task
from .errors import BadHyperparameterError
from .maml import MAML, MAMLHparams
from .reptile import Reptile, ReptileHparams
from .transfer import supervised_loss


@dataclass
class MTLFields:
    beta: float = 0.5
    disc_lr: float = 0.01  # alpha_d

    MTL_SEARCH: ClassVar[dict[str, tuple]] = {"beta": ("float", 0.1, 0.9), "disc_lr": ("log", 1e-3, 0.1)}

    def validate_mtl(self) -> None:
        if not 0 <= self.beta <= 1:
            raise BadHyperparameterError(f"beta must be in [0, 1], got {self.beta}")
        if self.disc_lr < 0:
            raise BadHyperparameterError(f"disc_lr must be >= 0, got {self.disc_lr}")


@dataclass
class MTLMAMLHparams(MAMLHparams, MTLFields):
    SEARCH_SPACE: ClassVar[dict[str, tuple]] = {**MAMLHparams.SEARCH_SPACE, **MTLFields.MTL_SEARCH}

    def validate(self) -> None:
        super().validate()
        self.validate_mtl()


@dataclass
class MTLReptileHparams(ReptileHparams, MTLFields):
    SEARCH_SPACE: ClassVar[dict[str, tuple]] = {**ReptileHparams.SEARCH_SPACE, **MTLFields.MTL_SEARCH}

    def validate(self) -> None:
        super().validate()
        self.validate_mtl()


class MTL(EpisodicAlgorithm):
    meta_class: type[EpisodicAlgorithm]

    def __init__(self, model, hparams, train_classes: int | None = None) -> None:
        super().__init__(model, hparams, train_classes)
        meta_hp = self.meta_class.Hparams(**{f.name: getattr(hparams, f.name) for f in fields(self.meta_class.Hparams)})
        self.meta = self.meta_class(model, meta_hp)
        self.optimizer = self.meta.optimizer
        ref = next(model.parameters())
        self.global_head = nn.Linear(model.feature_dim, self.need_train_classes()).to(ref.device, ref.dtype)
        self.all_params = list(model.parameters()) + list(self.global_head.parameters())

    def _snapshot(self) -> list[torch.Tensor]:
        return [p.detach().clone() for p in self.all_params]

    def _restore(self, values: list[torch.Tensor]) -> None:
        with torch.no_grad():
            for p, v in zip(self.all_params, values):
                p.copy_(v)

    def train_step(self, tasks: Sequence[Task]) -> dict[str, float]:
        hp = self.hparams
        theta = self._snapshot()
        stats = self.meta.train_step(tasks)  # theta -> theta_meta (global head unchanged)
        theta_meta = self._snapshot()
        self._restore(theta)
        self.model.train()
        loss, correct, count = supervised_loss(self.model, self.global_head, tasks)
        grads = torch.autograd.grad(loss, self.all_params, allow_unused=True)
        with torch.no_grad():
            for p, g, tm in zip(self.all_params, grads, theta_meta):
                disc = p - hp.disc_lr * g if g is not None else p  # theta_disc (N-way head unchanged)
                p.copy_(hp.beta * tm + (1 - hp.beta) * disc)
        stats = dict(stats)
        stats["supervised_loss"] = loss.item()
        stats["supervised_acc"] = correct / max(count, 1)
        return stats

    def query_logits(self, task: Task) -> torch.Tensor:
        return self.meta.query_logits(task)

    def train_task(self, ways: int, shots: int, queries: int) -> tuple[int, int, int]:
        return self.meta.train_task(ways, shots, queries)

    def progress(self, step: int, total: int) -> None:
        self.meta.progress(step, total)

    def extra_state(self) -> dict[str, torch.Tensor]:
        heads = {f"global_head.{k}": v for k, v in self.global_head.state_dict(keep_vars=True).items()}
        return {**heads, **{f"meta.{k}": v for k, v in self.meta.extra_state().items()}}


class MTLMAML(MTL):
    """Meta-Transfer Learning with MAML as the meta-learner (seed 003, Algorithm 1)."""

    Hparams = MTLMAMLHparams
    meta_class = MAML
    second_order = True


class MTLReptile(MTL):
    """Meta-Transfer Learning with Reptile as the meta-learner (seed 003, Algorithm 1)."""

    Hparams = MTLReptileHparams
    meta_class = Reptile
