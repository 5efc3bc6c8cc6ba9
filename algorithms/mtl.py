"""Meta-Transfer Learning (Eshratifar et al., seed 003, Algorithm 1).

Each iteration, on the sampled tasks, from theta:

1. the meta-learner (MAML or Reptile) takes its own step: ``theta_meta`` (its parent's
   optimiser, step size and schedule, unchanged);
2. a supervised step on all instances of the same tasks with their global labels (a
   head over all meta-training classes), with the transfer baseline's optimiser (Adam,
   ``disc_lr``): ``theta_disc``;
3. ``theta = beta * theta_meta' + (1 - beta) * theta_disc`` with the meta step scaled by
   1 / beta, ``theta_meta' = theta + (theta_meta - theta) / beta``; that is
   ``theta + (theta_meta - theta) + (1 - beta) * (theta_disc - theta)``.

Why the 1 / beta: Algorithm 1 sums the meta-learner's task gradients (or Reptile's task
differences) instead of averaging them, so its meta step is the meta-batch times the
parent's mean step and is then shrunk by beta; neither value is given. Averaging, as the
parents do, and scaling by 1 / beta keeps the parent's full step: with beta = 1 (or a
supervised step of zero) MTL is exactly its parent, so the comparison measures the
supervised part, not a smaller meta step. beta = 0 (no meta-learning) is refused.

The feature extractor is shared; the episodic loss uses the N-way head (untouched by
step 2), the supervised loss the global head (untouched by step 1). New tasks are
adapted with the meta-learner's own test-time procedure (MAML: its SGD inner steps;
Reptile: its Adam inner loop); seed 003 says "regular stochastic gradient descent",
which MAML's is and Reptile's is not (declared in the profiles).
"""
from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import ClassVar

import torch
from torch import nn

from .base import EpisodicAlgorithm, Task
from .errors import BadHyperparameterError
from .maml import MAML, MAMLHparams
from .reptile import Reptile, ReptileHparams
from .transfer import check_supervised_batch, supervised_backward


@dataclass
class MTLFields:
    beta: float = 0.5
    disc_lr: float = 1e-3  # alpha_d: the supervised step (the transfer baseline's Adam lr)
    disc_optimizer: str = "adam"  # adam (the transfer baseline's) | sgd (plain, Algorithm 1's formula)
    supervised_batch: str = "task"  # the supervised branch's forward passes: one task's images at a time (the transfer baseline's)

    MTL_SEARCH: ClassVar[dict[str, tuple]] = {"beta": ("float", 0.1, 1.0), "disc_lr": ("log", 1e-4, 1e-2)}

    def validate_mtl(self) -> None:
        if not 0 < self.beta <= 1:
            raise BadHyperparameterError(f"beta must be in (0, 1] (beta = 0 is no meta-learning), got {self.beta}")
        if self.disc_lr < 0:
            raise BadHyperparameterError(f"disc_lr must be >= 0, got {self.disc_lr}")
        if self.disc_optimizer not in ("adam", "sgd"):
            raise BadHyperparameterError(f"disc_optimizer must be 'adam' or 'sgd', got {self.disc_optimizer!r}")
        check_supervised_batch(self.supervised_batch)


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
        # the supervised branch: body and global head (the N-way head is the meta-learner's alone)
        disc = [p for n, p in model.named_parameters() if not n.startswith("head.")] + list(self.global_head.parameters())
        lr = hparams.disc_lr or 1.0  # lr 0 is a supervised step of zero: the combination below skips it
        self.disc_optimizer = torch.optim.Adam(disc, lr=lr) if hparams.disc_optimizer == "adam" else torch.optim.SGD(disc, lr=lr)

    def _snapshot(self) -> list[torch.Tensor]:
        return [p.detach().clone() for p in self.all_params]

    def _restore(self, values: list[torch.Tensor]) -> None:
        with torch.no_grad():
            for p, v in zip(self.all_params, values):
                p.copy_(v)

    def _supervised_step(self, tasks: Sequence[Task]) -> tuple[float, float]:
        """theta -> theta_disc: one step of the supervised branch's optimiser; its loss and accuracy at theta."""
        self.model.train()
        self.disc_optimizer.zero_grad(set_to_none=True)
        loss, correct, count = supervised_backward(self.model, self.global_head, tasks, torch.Tensor.backward,
                                                   self.hparams.supervised_batch == "task")
        if self.hparams.disc_lr > 0:
            self.disc_optimizer.step()
        return loss, correct / max(count, 1)

    def train_step(self, tasks: Sequence[Task]) -> dict[str, float]:
        beta = self.hparams.beta
        theta = self._snapshot()
        stats = dict(self.meta.train_step(tasks))  # theta -> theta_meta, the parent's full step (global head unchanged)
        theta_meta = self._snapshot()
        self._restore(theta)
        loss, acc = self._supervised_step(tasks)  # theta -> theta_disc (N-way head unchanged)
        with torch.no_grad():
            for p, t0, tm in zip(self.all_params, theta, theta_meta):
                p.copy_(tm + (1 - beta) * (p - t0))  # theta + (theta_meta - theta) + (1 - beta) (theta_disc - theta)
        stats["supervised_loss"] = loss
        stats["supervised_acc"] = acc
        return stats

    def state_dict(self) -> dict:
        return {**super().state_dict(), "disc_optimizer": copy.deepcopy(self.disc_optimizer.state_dict())}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        if "disc_optimizer" in state:
            self.disc_optimizer.load_state_dict(state["disc_optimizer"])

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
