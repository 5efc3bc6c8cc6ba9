"""MLTP: meta-learning based training procedure (Deng & Zhang, seed 001), and its variants.

Each batch is split into two tasks ``B_i`` (first half) and ``B_j`` (second half);
one step minimises eq. (4)/(6)::

    J = L(w; B_i) + eta * L(w - alpha ⊙ dL(w; B_i)/dw ; B_j) + beta * R(w)

``alpha`` holds one inner step size per layer (shared by the layer's weight and bias),
initialised from N(alpha_mean, alpha_std) and updated by the same optimiser as ``w``
(``alpha <- alpha - r dJ/dalpha``) unless ``fix_alpha``.

Variants are one class with two knobs, exactly as the paper describes them:

* ``mltp``       adapt ``all`` layers, second order;
* ``mltp_conv``  adapt ``conv`` layers only, second order;
* ``mltp_fc``    adapt ``fc`` layers only, second order;
* ``mltp_fo``    adapt ``all`` layers, first order (second derivatives dropped).

MLTP is MAML with one task (support ``B_i``, query ``B_j``), plus the plain loss on
``B_i`` and learnable per-layer step sizes, so the fast weights come from the shared
``inner.gradient_step``. The inner gradient ``g_i = dL(w; B_i)/dw`` is also the gradient
of the first term, so it is computed once and reused (the paper's "very little even no
additional cost" of MLTP_FO).

Since ``alpha`` enters ``J`` only through ``w' = w - alpha ⊙ g_i`` (and ``g_i`` does not
depend on alpha), ``dJ/dalpha_l = -eta * g_i,l · g_j,l(w')`` exactly, in every variant.
The step reports that inner product, the gradient-agreement term of eq. (5).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from .base import Algorithm
from .errors import BadHyperparameterError
from .inner import functional_forward, gradient_step, parameter_groups
from .optim import OptimHparams, add_weight_decay, build_optimizer


@dataclass
class MLTPHparams(OptimHparams):
    eta: float = 1.0
    alpha_mean: float = 1e-3
    alpha_std: float = 1e-3
    fix_alpha: bool = False

    SEARCH_SPACE: ClassVar[dict[str, tuple]] = {
        "lr": ("log", 1e-4, 1e-2), "eta": ("float", 0.1, 2.0), "alpha_mean": ("log", 1e-4, 1e-1),
    }

    def validate(self) -> None:
        super().validate()
        if self.eta <= 0:
            raise BadHyperparameterError(f"eta must be > 0, got {self.eta}")
        if self.alpha_std < 0:
            raise BadHyperparameterError(f"alpha_std must be >= 0, got {self.alpha_std}")


class MLTP(Algorithm):
    consumes = "batches"
    Hparams = MLTPHparams
    group: str = "all"
    first_order: bool = False

    def __init__(self, model: nn.Module, hparams: MLTPHparams, train_classes: int | None = None) -> None:
        super().__init__(model, hparams, train_classes)
        self.layers = parameter_groups(model, self.group)
        self.adapt = [n for names in self.layers.values() for n in names]
        self.layer_index = {n: i for i, names in enumerate(self.layers.values()) for n in names}
        ref = next(model.parameters())
        # Drawn from torch's global generator, which the runner seeds per run.
        alpha = torch.empty(len(self.layers), device=ref.device, dtype=ref.dtype).normal_(hparams.alpha_mean, hparams.alpha_std)
        self.alpha = nn.Parameter(alpha)  # requires grad even when fixed: dJ/dalpha is the agreement term
        self.params = list(model.parameters())
        groups = [{"params": self.params}]
        if not hparams.fix_alpha:
            groups.append({"params": [self.alpha]})
        self.optimizer = build_optimizer(groups, hparams)

    def _step_size(self, name: str) -> torch.Tensor:
        return self.alpha[self.layer_index[name]]

    def train_step(self, data: tuple[torch.Tensor, torch.Tensor]) -> dict[str, float]:
        x, y = data
        if len(y) < 2:
            raise ValueError("MLTP needs batches of at least 2 samples (split into tasks i and j)")
        h = len(y) // 2
        xi, yi, xj, yj = x[:h], y[:h], x[h:], y[h:]
        self.model.train()
        params = dict(self.model.named_parameters())
        names = list(params)

        logits_i = functional_forward(self.model, params, xi)
        loss_i = F.cross_entropy(logits_i, yi)
        # g_i for every parameter (the first term's gradient), reused as the inner gradient.
        fast, g_i = gradient_step(
            loss_i, params, self.adapt, self._step_size, first_order=self.first_order, grads_for=names
        )
        loss_j = F.cross_entropy(functional_forward(self.model, fast, xj), yj)

        self.optimizer.zero_grad(set_to_none=True)
        self.alpha.grad = None
        (self.hparams.eta * loss_j).backward()
        with torch.no_grad():
            for n, p in params.items():
                gi = g_i[n].detach()
                if p.grad is None:
                    p.grad = gi.clone()
                else:
                    p.grad.add_(gi)
            add_weight_decay(self.params, self.hparams.weight_decay)
            # dJ/dalpha_l = -eta * g_i,l . g_j,l(w')  =>  per-layer agreement
            agreement = -self.alpha.grad / self.hparams.eta
            weighted = (self.alpha.detach() * agreement).sum()
        self.optimizer.step()
        if self.hparams.fix_alpha:
            self.alpha.grad = None
        correct = (logits_i.detach().argmax(1) == yi).sum().item()
        return {
            "loss": (loss_i + self.hparams.eta * loss_j).item(),
            "train_loss": loss_i.item(),
            "loss_j": loss_j.item(),
            "grad_agreement": agreement.sum().item(),
            "alpha_weighted_agreement": weighted.item(),
            "train_correct": correct,
            "train_count": h,
        }

    def metrics(self) -> dict[str, float]:
        a = self.alpha.detach()
        out = {"alpha_mean": a.mean().item(), "alpha_min": a.min().item(), "alpha_max": a.max().item()}
        out["alpha_std"] = a.std().item() if a.numel() > 1 else 0.0
        return out

    def extra_state(self) -> dict[str, torch.Tensor]:
        return {"alpha": self.alpha}


class MLTPAll(MLTP):
    """Full MLTP: inner step on every layer, second derivatives through it."""

    group, first_order, second_order = "all", False, True


class MLTPConv(MLTP):
    """MLTP_conv: inner step (and second-order term) on convolutional layers only."""

    group, first_order, second_order = "conv", False, True


class MLTPFc(MLTP):
    """MLTP_fc: inner step (and second-order term) on fully connected layers only."""

    group, first_order, second_order = "fc", False, True


class MLTPFirstOrder(MLTP):
    """MLTP_FO: every layer, first order (dw'/dw treated as the identity)."""

    group, first_order = "all", True
