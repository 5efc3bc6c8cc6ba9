"""Reptile (Nichol et al. 2018): ``theta += epsilon * mean_i(theta_i - theta)``.

Each task's ``theta_i`` comes from ``inner_steps`` first-order steps from theta on the
task's training examples, as in the authors' code (openai/supervised-reptile,
``supervised_reptile/reptile.py`` and ``models.py``):

* a meta-training task has ``train_shots`` examples per class (more than the test
  shots; 0: the run's shots + queries), all of them training data;
* each inner step takes a mini-batch of ``inner_batch`` examples (0: the whole task),
  drawn without replacement from a stream of reshuffles (a batch cut short by the end of
  one shuffle is completed from the next, as the authors' ``_mini_batches``);
* the inner optimiser is Adam with beta1 = 0 (``inner_optimizer="adam"``; its second
  moments persist across tasks and iterations, as the authors' TensorFlow slots do) or
  plain SGD (``"sgd"``, the paper's analysis);
* the outer step epsilon (``lr``) is annealed linearly to ``lr_final`` over training
  (the README's ``--meta-step-final 0``); ``lr_final < 0`` keeps it constant.

The outer update is applied through the optimiser as the pseudo-gradient
``-(mean_i theta_i - theta)``: with plain SGD at ``lr = epsilon`` that is the formula
above. At test time the same inner procedure runs on the support set for
``test_inner_steps`` steps of ``test_inner_batch`` examples, from a copy of the
training Adam state (the authors restore their full state after evaluating).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F

from .base import EpisodicAlgorithm, Task
from .errors import BadHyperparameterError
from .inner import functional_forward, parameter_groups
from .optim import OptimHparams, add_weight_decay, build_optimizer

ADAM_BETA2, ADAM_EPS = 0.999, 1e-8  # TensorFlow's defaults, which the authors kept (beta1 = 0)


@dataclass
class ReptileHparams(OptimHparams):
    optimizer: str = "sgd"
    lr: float = 1.0  # epsilon, the outer step size (--meta-step)
    momentum: float = 0.0
    lr_final: float = 0.0  # epsilon at the end of training, linear in between (--meta-step-final); < 0: constant
    inner_optimizer: str = "adam"  # adam (beta1 = 0) | sgd
    inner_lr: float = 0.001  # --learning-rate
    inner_steps: int = 5  # --inner-iters
    inner_batch: int = 10  # --inner-batch; 0: the whole task
    train_shots: int = 10  # --train-shots; 0: the run's shots + queries
    test_inner_steps: int = 0  # --eval-iters; 0: the same as inner_steps
    test_inner_batch: int = 0  # --eval-batch; 0: the same as inner_batch

    SEARCH_SPACE: ClassVar[dict[str, tuple]] = {
        "lr": ("float", 0.1, 1.0), "inner_lr": ("log", 1e-4, 1e-2), "inner_steps": ("int", 1, 10),
    }

    def validate(self) -> None:
        super().validate()
        if self.inner_steps < 1 or self.test_inner_steps < 0 or self.inner_lr <= 0:
            raise BadHyperparameterError("Reptile needs inner_steps >= 1, test_inner_steps >= 0, inner_lr > 0")
        if self.inner_optimizer not in ("adam", "sgd"):
            raise BadHyperparameterError(f"inner_optimizer must be 'adam' or 'sgd', got {self.inner_optimizer!r}")
        if min(self.inner_batch, self.test_inner_batch, self.train_shots) < 0 or self.train_shots == 1:
            raise BadHyperparameterError("inner_batch, test_inner_batch >= 0 and train_shots 0 or >= 2")


class Reptile(EpisodicAlgorithm):
    """Reptile: move the initialisation towards each task's adapted weights."""

    Hparams = ReptileHparams

    def __init__(self, model, hparams: ReptileHparams, train_classes: int | None = None) -> None:
        super().__init__(model, hparams, train_classes)
        self.adapt_names = [n for ns in parameter_groups(model, "all").values() for n in ns]
        self.params = list(model.parameters())
        self.optimizer = build_optimizer(self.params, hparams)
        named = dict(model.named_parameters())
        self.adam_v = {n: torch.zeros_like(named[n]) for n in self.adapt_names}  # second moments
        self.adam_t = torch.zeros((), dtype=torch.float64)  # Adam's step count (bias correction)

    def train_task(self, ways: int, shots: int, queries: int) -> tuple[int, int, int]:
        k = self.hparams.train_shots
        return (ways, k - 1, 1) if k else (ways, shots, queries)  # all train_shots examples are training data

    def progress(self, step: int, total: int) -> None:
        hp = self.hparams
        if hp.lr_final >= 0 and total > 0:
            frac = step / total
            for g in self.optimizer.param_groups:
                g["lr"] = frac * hp.lr_final + (1 - frac) * hp.lr

    def _batches(self, n: int, size: int, steps: int) -> list[torch.Tensor]:
        """Index mini-batches without replacement from a stream of reshuffles: a batch that the
        examples' end cuts short is completed from the next shuffle (the authors' ``_mini_batches``)."""
        size = size if 0 < size < n else n
        out: list[torch.Tensor] = []
        cur: list[int] = []
        while len(out) < steps:
            for i in torch.randperm(n).tolist():
                cur.append(i)
                if len(cur) == size:
                    out.append(torch.tensor(cur))
                    cur = []
                    if len(out) == steps:
                        break
        return out

    def adapt(self, x: torch.Tensor, y: torch.Tensor, steps: int, batch: int,
              v: dict[str, torch.Tensor], t: torch.Tensor) -> dict[str, torch.Tensor]:
        """First-order inner loop from theta; updates the Adam state ``v``, ``t`` in place."""
        hp = self.hparams
        fast = {n: p.detach().clone() for n, p in self.model.named_parameters()}
        for idx in self._batches(len(y), batch, steps):
            with torch.enable_grad():
                params = {n: (q.requires_grad_(True) if n in v else q) for n, q in fast.items()}
                loss = F.cross_entropy(functional_forward(self.model, params, x[idx]), y[idx])
                grads = torch.autograd.grad(loss, [params[n] for n in self.adapt_names])
            with torch.no_grad():
                if hp.inner_optimizer == "sgd":
                    for n, g in zip(self.adapt_names, grads):
                        fast[n] = fast[n].detach() - hp.inner_lr * g
                    continue
                t += 1
                lr_t = hp.inner_lr * math.sqrt(1 - ADAM_BETA2 ** float(t))  # beta1 = 0: m = g, no first-moment correction
                vs = [v[n] for n in self.adapt_names]
                torch._foreach_mul_(vs, ADAM_BETA2)
                torch._foreach_addcmul_(vs, grads, grads, value=1 - ADAM_BETA2)
                denom = torch._foreach_add(torch._foreach_sqrt(vs), ADAM_EPS)
                steps = torch._foreach_div(torch._foreach_mul(grads, lr_t), denom)
                for n, s in zip(self.adapt_names, steps):
                    fast[n] = fast[n].detach() - s
        return fast

    def reptile_direction(self, tasks: Sequence[Task]) -> tuple[dict[str, torch.Tensor], dict[str, float]]:
        """``mean_i(theta_i - theta)`` and the tasks' mean loss at theta_i."""
        theta = {n: p.detach() for n, p in self.model.named_parameters()}
        delta = {n: torch.zeros_like(p) for n, p in theta.items()}
        loss_sum = 0.0
        for task in tasks:
            x = torch.cat([task.support_x, task.query_x])
            y = torch.cat([task.support_y, task.query_y])
            fast = self.adapt(x, y, self.hparams.inner_steps, self.hparams.inner_batch, self.adam_v, self.adam_t)
            for n in theta:
                delta[n] += (fast[n] - theta[n]) / len(tasks)
            with torch.no_grad():
                loss_sum += F.cross_entropy(functional_forward(self.model, fast, x), y).item()
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
        hp = self.hparams
        v = {n: s.clone() for n, s in self.adam_v.items()}
        fast = self.adapt(task.support_x, task.support_y, hp.test_inner_steps or hp.inner_steps,
                          hp.test_inner_batch or hp.inner_batch, v, self.adam_t.clone())
        with torch.no_grad():
            return functional_forward(self.model, fast, task.query_x)

    def extra_state(self) -> dict[str, torch.Tensor]:
        return {**{f"adam_v.{n}": s for n, s in self.adam_v.items()}, "adam_t": self.adam_t}
