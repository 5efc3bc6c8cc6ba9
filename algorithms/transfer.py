"""Few-shot baselines that are not meta-learners.

* ``transfer``: supervised training of the embedding with a head over all
  meta-training classes (on every instance of the sampled tasks, with their global
  labels, so it sees exactly the data the meta-learners see); a new task is solved by
  fitting a new, zero-initialised N-way head on the support set with plain SGD.
* ``nearest_neighbour``: the same pretrained embedding; each query takes the label of
  its nearest support example (squared Euclidean distance).
* ``finetune``: no meta-training at all; the randomly initialised network is trained
  from scratch on each support set with plain SGD (the MAML paper's lower baseline).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from .base import EpisodicAlgorithm, Task
from .errors import BadHyperparameterError
from .inner import functional_forward, inner_loop, parameter_groups
from .optim import OptimHparams, build_optimizer


@dataclass
class TransferHparams(OptimHparams):
    finetune_lr: float = 0.1
    finetune_steps: int = 50

    SEARCH_SPACE: ClassVar[dict[str, tuple]] = {
        "lr": ("log", 1e-4, 1e-2), "finetune_lr": ("log", 1e-3, 1.0), "finetune_steps": ("int", 10, 100),
    }

    def validate(self) -> None:
        super().validate()
        if self.finetune_steps < 0 or self.finetune_lr <= 0:
            raise BadHyperparameterError("finetune_steps must be >= 0 and finetune_lr > 0")


def supervised_loss(model: nn.Module, head: nn.Module, tasks: Sequence[Task]) -> tuple[torch.Tensor, int, int]:
    """Cross-entropy of ``head(embed(x))`` on all instances of the tasks, global labels."""
    x = torch.cat([t for task in tasks for t in (task.support_x, task.query_x)])
    g = torch.cat([t for task in tasks for t in (task.support_g, task.query_g)])
    logits = head(model.embed(x))
    return F.cross_entropy(logits, g), (logits.detach().argmax(1) == g).sum().item(), len(g)


def fit_head(feats: torch.Tensor, labels: torch.Tensor, ways: int, lr: float, steps: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Plain SGD on a zero-initialised linear head over fixed features."""
    w = torch.zeros(ways, feats.shape[1], dtype=feats.dtype, device=feats.device, requires_grad=True)
    b = torch.zeros(ways, dtype=feats.dtype, device=feats.device, requires_grad=True)
    with torch.enable_grad():
        for _ in range(steps):
            loss = F.cross_entropy(feats @ w.T + b, labels)
            gw, gb = torch.autograd.grad(loss, [w, b])
            with torch.no_grad():
                w -= lr * gw
                b -= lr * gb
    return w.detach(), b.detach()


class Transfer(EpisodicAlgorithm):
    """Transfer learning: pretrain on all meta-training classes, fit a new head per task."""

    loss_scaling = True  # trains through backward()/step(): fp16 with a gradient scaler
    uses_model_head = False  # embeddings only: any number of ways at test
    Hparams = TransferHparams

    def __init__(self, model, hparams: TransferHparams, train_classes: int | None = None) -> None:
        super().__init__(model, hparams, train_classes)
        ref = next(model.parameters())
        self.global_head = self._global_head(model.feature_dim, self.need_train_classes()).to(ref.device, ref.dtype)
        self.params = [p for n, p in model.named_parameters() if not n.startswith("head.")] + list(self.global_head.parameters())
        self.optimizer = build_optimizer(self.params, hparams)

    def _global_head(self, features: int, classes: int) -> nn.Module:
        """The pre-training head over all meta-training classes (Baseline++: a cosine one)."""
        return nn.Linear(features, classes)

    def train_step(self, tasks: Sequence[Task]) -> dict[str, float]:
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        loss, correct, count = supervised_loss(self.model, self.global_head, tasks)
        self.backward(loss)
        self.step(self.params, self.hparams.weight_decay)
        return {"loss": loss.item(), "train_loss": loss.item(), "train_correct": correct, "train_count": count}

    @torch.no_grad()
    def query_logits(self, task: Task) -> torch.Tensor:
        ways = int(task.support_y.max()) + 1
        fs, fq = self.embed_task(task)
        w, b = fit_head(fs, task.support_y, ways, self.hparams.finetune_lr, self.hparams.finetune_steps)
        return fq @ w.T + b

    def extra_state(self) -> dict[str, torch.Tensor]:
        return {f"global_head.{k}": v for k, v in self.global_head.state_dict(keep_vars=True).items()}


@dataclass
class NearestNeighbourHparams(TransferHparams):
    SEARCH_SPACE: ClassVar[dict[str, tuple]] = {"lr": ("log", 1e-4, 1e-2)}  # no head is fitted


class NearestNeighbour(Transfer):
    """1-nearest neighbour on the support set in the transfer-pretrained embedding."""

    Hparams = NearestNeighbourHparams

    @torch.no_grad()
    def query_logits(self, task: Task) -> torch.Tensor:
        ways = int(task.support_y.max()) + 1
        fs, fq = self.embed_task(task)
        d = torch.cdist(fq, fs) ** 2  # [query, support]
        # d's dtype, not the features': under autocast cdist runs in fp32 while the features are bf16/fp16
        logits = torch.full((len(fq), ways), float("-inf"), dtype=d.dtype, device=fq.device)
        return logits.scatter_reduce(1, task.support_y.expand(len(fq), -1), -d, reduce="amax")


@dataclass
class FinetuneHparams:
    """Test-time fine-tuning only: there is no meta-training, hence no outer optimiser."""

    finetune_lr: float = 0.1
    finetune_steps: int = 50

    SEARCH_SPACE: ClassVar[dict[str, tuple]] = {"finetune_lr": ("log", 1e-3, 1.0), "finetune_steps": ("int", 10, 100)}

    def validate(self) -> None:
        if self.finetune_steps < 0 or self.finetune_lr <= 0:
            raise BadHyperparameterError("finetune_steps must be >= 0 and finetune_lr > 0")


class Finetune(EpisodicAlgorithm):
    """Fine-tuning from scratch: no meta-training; SGD on each support set from a random init."""

    Hparams = FinetuneHparams
    trains = False
    bn_modes = ("transductive",)
    bn_note = "it trains nothing, so it collects no running statistics"

    def __init__(self, model, hparams: FinetuneHparams, train_classes: int | None = None) -> None:
        super().__init__(model, hparams, train_classes)
        self.adapt_names = [n for ns in parameter_groups(model, "all").values() for n in ns]

    def train_step(self, tasks: Sequence[Task]) -> dict[str, float]:
        return {"loss": 0.0}

    def query_logits(self, task: Task) -> torch.Tensor:
        start = {n: p.detach().requires_grad_(True) for n, p in self.model.named_parameters()}
        with torch.enable_grad():
            fast = inner_loop(self.model, start, task.support_x, task.support_y, steps=self.hparams.finetune_steps,
                              step_size=lambda n: self.hparams.finetune_lr, adapt=self.adapt_names, first_order=True)
        with torch.no_grad():
            return functional_forward(self.model, fast, task.query_x)
