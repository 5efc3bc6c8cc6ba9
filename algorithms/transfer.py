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

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from .base import EpisodicAlgorithm, Task, TestTask
from .batched import by_episodes, episode_cross_entropy
from .errors import BadHyperparameterError
from .inner import functional_forward, inner_loop, parameter_groups
from .optim import OptimHparams, build_optimizer

SUPERVISED_BATCHES = ("task", "meta_batch")


def check_supervised_batch(value: str) -> None:
    if value not in SUPERVISED_BATCHES:
        raise BadHyperparameterError(f"supervised_batch must be one of {', '.join(SUPERVISED_BATCHES)}, got {value!r}")


@dataclass
class PretrainHparams(OptimHparams):
    """The transfer family's supervised pre-training. ``supervised_batch``: ``task`` (default) puts one task's images
    through the network at a time (batch norm over one task's images, as every meta-learner's forward pass) and
    accumulates the gradient of the mean loss over the meta-batch; ``meta_batch`` puts every image of the meta-batch
    through as one batch (protocol v2). The step is the same mean loss either way; only batch norm's statistics
    differ, and on a CPU one task at a time is faster (the activations stay in the cache)."""

    supervised_batch: str = "task"

    def validate(self) -> None:
        super().validate()
        check_supervised_batch(self.supervised_batch)


@dataclass
class TransferHparams(PretrainHparams):
    finetune_lr: float = 0.1
    finetune_steps: int = 50

    SEARCH_SPACE: ClassVar[dict[str, tuple]] = {
        "lr": ("log", 1e-4, 1e-2), "finetune_lr": ("log", 1e-3, 1.0), "finetune_steps": ("int", 10, 100),
    }

    def validate(self) -> None:
        super().validate()
        if self.finetune_steps < 0 or self.finetune_lr <= 0:
            raise BadHyperparameterError("finetune_steps must be >= 0 and finetune_lr > 0")


def supervised_backward(model: nn.Module, head: nn.Module, tasks: Sequence[Task], backward: Callable[[torch.Tensor], None],
                        per_task: bool = True) -> tuple[float, int, int]:
    """Backpropagate the mean cross-entropy of ``head(embed(x))`` over all instances of the tasks (global labels),
    one task's images per forward pass (``per_task``) or all of them as one batch; returns (loss, correct, count)."""
    total = sum(len(t.support_g) + len(t.query_g) for t in tasks)
    loss_sum, correct = 0.0, 0
    for chunk in ([[t] for t in tasks] if per_task else [list(tasks)]):
        x = torch.cat([t for task in chunk for t in (task.support_x, task.query_x)])
        g = torch.cat([t for task in chunk for t in (task.support_g, task.query_g)])
        logits = head(model.embed(x))
        loss = F.cross_entropy(logits, g, reduction="sum") / total
        backward(loss)
        loss_sum += loss.item()
        correct += (logits.detach().argmax(1) == g).sum().item()
    return loss_sum, correct, total


def head_loss(feats: torch.Tensor, w: torch.Tensor, b: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of a linear head: one episode (``feats [n, D]``), or E at once (``[E, n, D]``, heads
    ``[E, N, D]``): the sum of the episodes' mean losses, so each head gets its own episode's gradient."""
    logits = feats @ w.transpose(-1, -2) + b.unsqueeze(-2)
    return F.cross_entropy(logits, labels) if feats.dim() == 2 else episode_cross_entropy(logits, labels)


def fit_head(feats: torch.Tensor, labels: torch.Tensor, ways: int, lr: float, steps: int,
             start: tuple[torch.Tensor, torch.Tensor] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Plain SGD on a linear head over fixed features, from zero (or ``start``, ANIL's learned head);
    ``feats`` ``[n, D]`` for one episode or ``[E, n, D]`` for E episodes, each with its own head."""
    lead = feats.shape[:-2]
    if start is None:
        w = torch.zeros(*lead, ways, feats.shape[-1], dtype=feats.dtype, device=feats.device)
        b = torch.zeros(*lead, ways, dtype=feats.dtype, device=feats.device)
    else:
        w, b = (t.detach().expand(*lead, *t.shape).clone() for t in start)
    w.requires_grad_(True)
    b.requires_grad_(True)
    with torch.enable_grad():
        for _ in range(steps):
            gw, gb = torch.autograd.grad(head_loss(feats, w, b, labels), [w, b])
            with torch.no_grad():
                w -= lr * gw
                b -= lr * gb
    return w.detach(), b.detach()


class Transfer(EpisodicAlgorithm):
    """Transfer learning: pretrain on all meta-training classes, fit a new head per task."""

    loss_scaling = True  # trains through backward()/step(): fp16 with a gradient scaler
    uses_model_head = False  # embeddings only: any number of ways at test
    Hparams = TransferHparams
    # transductive, CPU: blocks 1.6-2.2x faster at 5-way 1/5-shot, 0.9x at 20-way 15-shot (300 support images)
    loop_wins_from = 100

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
        loss, correct, count = supervised_backward(self.model, self.global_head, tasks, self.backward,
                                                   self.hparams.supervised_batch == "task")
        self.step(self.params, self.hparams.weight_decay)
        return {"loss": loss, "train_loss": loss, "train_correct": correct, "train_count": count}

    @torch.no_grad()
    def query_logits(self, task: TestTask) -> torch.Tensor:
        ways = int(task.support_y.max()) + 1
        fs, fq = self.embed_task(task)
        w, b = fit_head(fs, task.support_y, ways, self.hparams.finetune_lr, self.hparams.finetune_steps)
        return fq @ w.T + b

    @torch.no_grad()
    def query_logits_block(self, block) -> torch.Tensor:
        fs, fq = self.embed_block(block)
        hp, n = self.hparams, block.ways

        def fitted(s, y, q):
            w, b = fit_head(s, y, n, hp.finetune_lr, hp.finetune_steps)
            return q @ w.transpose(1, 2) + b[:, None, :]

        return by_episodes(fitted, (fs.shape[1] + fq.shape[1]) * fs.shape[2], fs, block.support_y, fq)

    def extra_state(self) -> dict[str, torch.Tensor]:
        return {f"global_head.{k}": v for k, v in self.global_head.state_dict(keep_vars=True).items()}


@dataclass
class NearestNeighbourHparams(TransferHparams):
    SEARCH_SPACE: ClassVar[dict[str, tuple]] = {"lr": ("log", 1e-4, 1e-2)}  # no head is fitted


class NearestNeighbour(Transfer):
    loop_wins_from = None  # blocks were level with the loop (0.9-1.0x) in the transductive mode
    """1-nearest neighbour on the support set in the transfer-pretrained embedding."""

    Hparams = NearestNeighbourHparams

    @torch.no_grad()
    def query_logits(self, task: TestTask) -> torch.Tensor:
        fs, fq = self.embed_task(task)
        return nearest_logits(fs, task.support_y, fq, int(task.support_y.max()) + 1)

    @torch.no_grad()
    def query_logits_block(self, block) -> torch.Tensor:
        fs, fq = self.embed_block(block)
        return by_episodes(lambda s, y, q: nearest_logits(s, y, q, block.ways), 3 * fq.shape[1] * fs.shape[1], fs,
                           block.support_y, fq)


def nearest_logits(fs: torch.Tensor, ys: torch.Tensor, fq: torch.Tensor, ways: int) -> torch.Tensor:
    """Each query's ``-min squared distance`` to the support examples of each class: ``[Q, N]`` for one
    episode (``fs [S, D]``), ``[E, Q, N]`` for E (``[E, S, D]``)."""
    d = torch.cdist(fq, fs) ** 2  # [(E,) query, support]
    # d's dtype, not the features': under autocast cdist runs in fp32 while the features are bf16/fp16
    logits = torch.full((*fq.shape[:-1], ways), float("-inf"), dtype=d.dtype, device=fq.device)
    return logits.scatter_reduce(-1, ys.unsqueeze(-2).expand(*d.shape), -d, reduce="amax")


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

    def query_logits(self, task: TestTask) -> torch.Tensor:
        start = {n: p.detach().requires_grad_(True) for n, p in self.model.named_parameters()}
        with torch.enable_grad():
            fast = inner_loop(self.model, start, task.support_x, task.support_y, steps=self.hparams.finetune_steps,
                              step_size=lambda n: self.hparams.finetune_lr, adapt=self.adapt_names, first_order=True)
        with torch.no_grad():
            return functional_forward(self.model, fast, task.query_x)
