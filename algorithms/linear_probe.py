"""Linear probe (Tian et al. 2020, "Rethinking Few-Shot Image Classification: a Good
Embedding Is All You Need?"): the transfer baseline's supervised pre-training; a new
task is solved by L2-normalising the frozen features and fitting scikit-learn's
multinomial ``LogisticRegression`` (L2 penalty, ``C``) on the support set."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F

from .base import Task
from .errors import BadHyperparameterError
from .optim import OptimHparams
from .transfer import Transfer


@dataclass
class LinearProbeHparams(OptimHparams):
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


class LinearProbe(Transfer):
    """Transfer pre-training; logistic regression on normalised frozen features per task."""

    Hparams = LinearProbeHparams

    @torch.no_grad()
    def query_logits(self, task: Task) -> torch.Tensor:
        fs, fq = self.embed_task(task)
        return probe_logits(fs, task.support_y, fq, self.hparams.C, self.hparams.max_iter)
