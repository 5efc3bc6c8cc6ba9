"""Matching Networks (Vinyals et al. 2016), without full-context embeddings.

A query x^ attends over the support embeddings with a softmax of cosine similarities,
``a(x^, x_i) = softmax_i(scale * cos(f(x^), f(x_i)))``, and predicts the attention-weighted
sum of the support labels, ``P(y = k | x^) = sum_{i: y_i = k} a(x^, x_i)``. Trained
episodically on the negative log of that probability. ``scale`` (1 in the paper's
formula) sharpens the attention; it is a hyperparameter, not learned.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F

from .base import Task
from .errors import BadHyperparameterError
from .protonet import ProtoNet, ProtoNetHparams


def matching_log_probs(query: torch.Tensor, support: torch.Tensor, labels: torch.Tensor, ways: int,
                       scale: float = 1.0) -> torch.Tensor:
    """``log P(y = k | query)`` of the attention over the support set, ``[queries, ways]``."""
    sim = scale * F.normalize(query, dim=1) @ F.normalize(support, dim=1).T  # [q, s]
    log_attn = sim.log_softmax(dim=1)
    return torch.stack([torch.logsumexp(log_attn[:, labels == k], dim=1) for k in range(ways)], dim=1)


def block_matching_log_probs(query: torch.Tensor, support: torch.Tensor, labels: torch.Tensor, ways: int,
                             scale: float = 1.0) -> torch.Tensor:
    """``matching_log_probs`` of E episodes at once: ``[E, Q, D]``, ``[E, S, D]``, labels ``[E, S]`` -> ``[E, Q, N]``."""
    sim = scale * F.normalize(query, dim=-1) @ F.normalize(support, dim=-1).transpose(1, 2)  # [E, q, s]
    # log(attention @ one-hot) as one batched matmul: the [E, q, s, N] masked logsumexp was 3-20x slower. Cosine
    # similarities bound the attention below by exp(-2 scale) / s, so the sum underflows only at extreme scales (clamped)
    mass = sim.softmax(dim=-1) @ F.one_hot(labels, ways).to(sim.dtype)  # [E, q, N]
    return mass.clamp_min(torch.finfo(sim.dtype).tiny).log()


@dataclass
class MatchingHparams(ProtoNetHparams):
    scale: float = 10.0

    SEARCH_SPACE: ClassVar[dict[str, tuple]] = {"lr": ("log", 1e-4, 1e-2), "scale": ("log", 1.0, 50.0)}

    def validate(self) -> None:
        super().validate()
        if not self.scale > 0:
            raise BadHyperparameterError(f"scale must be > 0, got {self.scale}")


class MatchingNet(ProtoNet):
    """Cosine attention over the support set; labels weighted by the attention. Trained
    like ProtoNet (the same episodes and optimiser); its "logits" are the log-probabilities
    ``log P(y = k | x^)``, whose cross-entropy is exactly their negative log-likelihood."""

    Hparams = MatchingHparams

    def _logits(self, task: Task) -> torch.Tensor:
        fs, fq = self.embed_task(task, self.hparams.joint_batch)
        ways = int(task.support_y.max()) + 1
        return matching_log_probs(fq, fs, task.support_y, ways, self.hparams.scale)

    def _block_logits(self, fs: torch.Tensor, ys: torch.Tensor, fq: torch.Tensor, ways: int) -> torch.Tensor:
        return block_matching_log_probs(fq, fs, ys, ways, self.hparams.scale)
