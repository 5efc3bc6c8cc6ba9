"""Baseline++ (Chen et al. 2019, "A Closer Look at Few-shot Classification"), as in the
authors' code (wyharveychen/CloserLookFewShot):

* the classifier is ``distLinear`` (``backbone.py``): logits ``s * g_k * cos(v_k, f(x))``
  with class-wise weight normalisation (a learned norm ``g_k`` per class, WeightNorm with
  ``dim=0``) and a FIXED scale ``s``: 2 for up to 200 classes, 10 above;
* pre-training as the transfer baseline (every instance of the sampled tasks, a
  ``distLinear`` head over all meta-training classes);
* a new task (``baselinefinetune.py``): the body frozen, a new N-way ``distLinear``
  (nn.Linear's initialisation, so s = 2) fitted on the support features for 100 epochs
  of mini-batches of 4 with SGD (lr 0.01, momentum 0.9, dampening 0.9, weight decay
  1e-3 on the direction and the norms). The random initialisation and the epochs'
  orders come from a generator seeded per episode, so evaluation is deterministic.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from .base import TestTask
from .batched import by_episodes, episode_cross_entropy
from .errors import BadHyperparameterError
from .transfer import PretrainHparams, Transfer

NORM_EPS = 1e-5  # distLinear's x / (||x|| + 1e-5)


def chen_scale(classes: int) -> float:
    """distLinear's fixed scale factor: 2 up to 200 classes, 10 above (Omniglot's many classes)."""
    return 2.0 if classes <= 200 else 10.0


def dist_logits(feats: torch.Tensor, v: torch.Tensor, g: torch.Tensor, scale: float) -> torch.Tensor:
    """``scale * g_k * cos(v_k, f)``: distLinear on features ``[n, d]`` with directions ``v [k, d]``, norms ``g [k]``
    (or E episodes at once: ``[E, n, d]``, ``[E, k, d]``, ``[E, k]``)."""
    x = feats / (feats.norm(dim=-1, keepdim=True) + NORM_EPS)
    return scale * x @ (g[..., None] * v / v.norm(dim=-1, keepdim=True)).transpose(-1, -2)


def linear_init(classes: int, features: int, generator: torch.Generator, like: torch.Tensor) -> torch.Tensor:
    """nn.Linear's default weight initialisation (kaiming uniform, a = sqrt 5: U(-1/sqrt d, 1/sqrt d)), from ``generator``."""
    bound = features ** -0.5
    w = (torch.rand(classes, features, generator=generator, dtype=torch.float64) * 2 - 1) * bound
    return w.to(like.device, like.dtype)


class DistLinear(nn.Module):
    """Chen et al.'s cosine classifier with class-wise weight normalisation and a fixed scale."""

    def __init__(self, features: int, classes: int) -> None:
        super().__init__()
        w = torch.empty(classes, features)
        nn.init.kaiming_uniform_(w, a=5 ** 0.5)  # nn.Linear's initialisation, as distLinear's nn.Linear
        self.weight_v = nn.Parameter(w)
        self.weight_g = nn.Parameter(w.norm(dim=1))  # WeightNorm starts at the weight's own norm
        self.scale = chen_scale(classes)

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        return dist_logits(feats, self.weight_v, self.weight_g, self.scale)


@dataclass
class BaselinePPHparams(PretrainHparams):
    finetune_lr: float = 0.01
    finetune_epochs: int = 100
    finetune_batch: int = 4
    finetune_momentum: float = 0.9
    finetune_dampening: float = 0.9
    finetune_weight_decay: float = 1e-3

    SEARCH_SPACE: ClassVar[dict[str, tuple]] = {
        "lr": ("log", 1e-4, 1e-2), "finetune_lr": ("log", 1e-3, 1.0), "finetune_epochs": ("int", 10, 100),
    }

    def validate(self) -> None:
        super().validate()
        if not self.finetune_lr > 0 or self.finetune_epochs < 0 or self.finetune_batch < 1:
            raise BadHyperparameterError("baseline_pp needs finetune_lr > 0, finetune_epochs >= 0, finetune_batch >= 1")
        if self.finetune_momentum < 0 or not 0 <= self.finetune_dampening <= 1 or self.finetune_weight_decay < 0:
            raise BadHyperparameterError("finetune_momentum >= 0, finetune_dampening in [0, 1], finetune_weight_decay >= 0")


def fit_dist_head(feats: torch.Tensor, labels: torch.Tensor, ways: int, hp: BaselinePPHparams,
                  generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``baselinefinetune.py``: a new distLinear fitted by mini-batch SGD on fixed features; returns (v, g).

    ``feats [n, d]`` for one episode, or ``[E, n, d]`` for E episodes fitted at once: every episode starts
    from the same initialisation and visits its support set in the same order (one generator, seeded per
    episode in the loop), SGD's update is elementwise and each head's loss is its own episode's mean, so
    each head follows exactly its own episode's trajectory."""
    lead, n = feats.shape[:-2], labels.shape[-1]
    v = linear_init(ways, feats.shape[-1], generator, feats).expand(*lead, ways, feats.shape[-1]).clone().requires_grad_(True)
    g = v.detach().norm(dim=-1).requires_grad_(True)
    opt = torch.optim.SGD([v, g], lr=hp.finetune_lr, momentum=hp.finetune_momentum, dampening=hp.finetune_dampening,
                          weight_decay=hp.finetune_weight_decay)
    scale = chen_scale(ways)
    with torch.enable_grad():
        for _ in range(hp.finetune_epochs):
            order = torch.randperm(n, generator=generator).to(feats.device)
            for i in range(0, n, hp.finetune_batch):
                idx = order[i: i + hp.finetune_batch]
                opt.zero_grad()
                logits = dist_logits(feats[..., idx, :], v, g, scale)
                loss = (F.cross_entropy(logits, labels[idx]) if feats.dim() == 2
                        else episode_cross_entropy(logits, labels[..., idx]))
                loss.backward()
                opt.step()
    return v.detach(), g.detach()


class BaselinePP(Transfer):
    loop_wins_from = None  # blocks won 4-9x in the transductive mode, 20-way 15-shot too
    """Transfer learning with Chen et al.'s distLinear classifier, in pre-training and at test."""

    Hparams = BaselinePPHparams
    test_seed: ClassVar[int] = 0  # the per-episode generator's seed (deterministic evaluation)

    def _global_head(self, features: int, classes: int) -> nn.Module:
        return DistLinear(features, classes)

    def metrics(self) -> dict[str, float]:
        return {"class_norm_mean": self.global_head.weight_g.detach().mean().item()}

    @torch.no_grad()
    def query_logits(self, task: TestTask) -> torch.Tensor:
        ways = int(task.support_y.max()) + 1
        fs, fq = self.embed_task(task)
        v, g = fit_dist_head(fs, task.support_y, ways, self.hparams, torch.Generator().manual_seed(self.test_seed))
        return dist_logits(fq, v, g, chen_scale(ways))

    @torch.no_grad()
    def query_logits_block(self, block) -> torch.Tensor:
        fs, fq = self.embed_block(block)
        hp, n = self.hparams, block.ways

        def fitted(s, y, q):  # every group starts from the loop's per-episode generator state
            v, g = fit_dist_head(s, y, n, hp, torch.Generator().manual_seed(self.test_seed))
            return dist_logits(q, v, g, chen_scale(n))

        return by_episodes(fitted, (fs.shape[1] + fq.shape[1]) * fs.shape[2], fs, block.support_y, fq)
