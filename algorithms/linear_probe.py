"""Linear probe (Tian et al. 2020, "Rethinking Few-Shot Image Classification: a Good
Embedding Is All You Need?"): the transfer baseline's supervised pre-training; a new
task is solved by L2-normalising the frozen features and fitting scikit-learn's
multinomial ``LogisticRegression`` (L2 penalty, ``C``) on the support set.

A block of E episodes (``query_logits_block``) solves the same E problems at once: the sum of their
objectives, ``C * sum_i CE_i + ||W||^2 / 2`` each (scikit-learn's, intercept unpenalised), is separable,
so one L-BFGS run on all of them in float64 reaches every episode's optimum. It stops at a gradient of
1e-8 (scikit-learn's default stops at 1e-4), so its predictions are the optimum's; scikit-learn's
differ from them only for queries within its tolerance of a tie (tests/test_batched_eval.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F

from .base import TestTask
from .batched import by_episodes
from .errors import BadHyperparameterError
from .transfer import PretrainHparams, Transfer


@dataclass
class LinearProbeHparams(PretrainHparams):
    C: float = 1.0  # inverse L2 strength of the logistic regression (scikit-learn's default, Tian et al.'s)
    max_iter: int = 1000

    SEARCH_SPACE: ClassVar[dict[str, tuple]] = {"lr": ("log", 1e-4, 1e-2), "C": ("log", 0.01, 100.0)}

    def validate(self) -> None:
        super().validate()
        if not self.C > 0 or self.max_iter < 1:
            raise BadHyperparameterError(f"C must be > 0 and max_iter >= 1, got C={self.C}, max_iter={self.max_iter}")


def probe_logits(support: torch.Tensor, labels: torch.Tensor, query: torch.Tensor, C: float, max_iter: int) -> torch.Tensor:
    """Decision scores ``[queries, ways]`` of a logistic regression fitted on normalised support features."""
    from sklearn.linear_model import LogisticRegression

    xs = F.normalize(support, dim=1).double().cpu().numpy()
    xq = F.normalize(query, dim=1).double().cpu().numpy()
    ys = labels.cpu().numpy()
    clf = LogisticRegression(C=C, max_iter=max_iter).fit(xs, ys)
    scores = torch.as_tensor(clf.decision_function(xq), dtype=query.dtype, device=query.device)
    if scores.ndim == 1:  # two classes: scikit-learn gives the score of class 1 only
        scores = torch.stack([-scores, scores], dim=1)
    return scores


def block_probe_logits(support: torch.Tensor, labels: torch.Tensor, query: torch.Tensor, ways: int, C: float,
                       max_iter: int) -> torch.Tensor:
    """``probe_logits`` of E episodes at once (``[E, S, D]``, ``[E, S]``, ``[E, Q, D]`` -> ``[E, Q, N]``)."""
    xs = F.normalize(support, dim=-1).double()
    xq = F.normalize(query, dim=-1).double()
    e, s, d = xs.shape
    w = torch.zeros(e, ways, d, dtype=torch.float64, device=xs.device, requires_grad=True)
    b = torch.zeros(e, ways, dtype=torch.float64, device=xs.device, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], lr=1, max_iter=max_iter, tolerance_grad=1e-8, tolerance_change=0, history_size=20,
                            line_search_fn="strong_wolfe")

    def objective() -> torch.Tensor:
        opt.zero_grad()
        logits = xs @ w.transpose(1, 2) + b[:, None, :]
        loss = C * F.cross_entropy(logits.reshape(e * s, ways), labels.reshape(e * s), reduction="sum") + 0.5 * (w * w).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(objective)
    return (xq @ w.detach().transpose(1, 2) + b.detach()[:, None, :]).to(query.dtype)


class LinearProbe(Transfer):
    """Transfer pre-training; logistic regression on normalised frozen features per task."""

    Hparams = LinearProbeHparams
    # transductive, CPU: blocks 5x faster at 5-way 1-shot, level at 5-shot, 0.7x at 20-way 15-shot (300 support images)
    loop_wins_from = 100

    @torch.no_grad()
    def query_logits(self, task: TestTask) -> torch.Tensor:
        fs, fq = self.embed_task(task)
        return probe_logits(fs, task.support_y, fq, self.hparams.C, self.hparams.max_iter)

    @torch.no_grad()
    def query_logits_block(self, block) -> torch.Tensor:
        fs, fq = self.embed_block(block)
        hp, n = self.hparams, block.ways
        return by_episodes(lambda s, y, q: block_probe_logits(s, y, q, n, hp.C, hp.max_iter),
                           (fs.shape[1] + fq.shape[1]) * fs.shape[2], fs, block.support_y, fq)
