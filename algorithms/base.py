"""The one interface every training procedure implements.

An algorithm wraps a model and its optimiser. The runner feeds it data of the kind it
``consumes`` and asks it to evaluate; it never looks inside.

* ``consumes = "batches"``: ``train_step((x, y))`` on an ordinary supervised batch
  (standard training, MLTP).
* ``consumes = "episodes"``: ``train_step(list_of_tasks)`` on a meta-batch of N-way
  K-shot tasks (MAML, Reptile, ProtoNet, ... in the few-shot suite).

``train_step`` returns a dict of Python floats; it always has ``loss`` (the objective
the step minimised, without the weight-decay term) so the runner can stop a diverging
run. ``train_loss`` and ``train_correct`` / ``train_count`` (for an accuracy) are read
by name; every other key is an algorithm-specific diagnostic (``grad_agreement``,
``supervised_loss``) that the runner averages and logs without knowing what it is.
``metrics()`` reports the algorithm's own state (MLTP's alpha) at each evaluation point.

``trains`` says whether the algorithm has anything to (meta-)train; one that does not
(fine-tuning from scratch) gets no training steps and needs no optimiser.

``loss_scaling``: the training step goes through ``backward`` and ``step``, so it can run
fp16 forward passes with a gradient scaler (``enable_loss_scaling``): the loss is scaled
before the backward pass, the gradients unscaled before weight decay and the step, and a
step whose gradients overflowed is skipped while the scale shrinks (torch.amp.GradScaler).
Algorithms that take inner gradients with ``autograd.grad`` do not have it.
"""
from __future__ import annotations

import copy
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any, ClassVar, Protocol

import torch
from torch import nn

from . import batched
from .errors import BadHyperparameterError
from .optim import add_weight_decay


class Algorithm:
    name: ClassVar[str] = "?"
    consumes: ClassVar[str] = "batches"
    trains: ClassVar[bool] = True
    second_order: ClassVar[bool] = False  # differentiates through an inner gradient step (MAML, MLTP)
    loss_scaling: ClassVar[bool] = False  # trains through backward()/step(): fp16 with a gradient scaler
    Hparams: ClassVar[type]

    def __init__(self, model: nn.Module, hparams: Any, train_classes: int | None = None) -> None:
        self.model = model
        self.hparams = hparams
        self.train_classes = train_classes  # data, not a hyperparameter (see registry.build)
        self.optimizer: torch.optim.Optimizer | None = None
        self.scaler: torch.amp.GradScaler | None = None

    def enable_loss_scaling(self, device_type: str) -> None:
        """Scale the loss for fp16 forward passes (only algorithms with ``loss_scaling``)."""
        if not self.loss_scaling:
            raise ValueError(f"{self.name} takes inner gradients a gradient scaler does not reach; it cannot train in fp16")
        self.scaler = torch.amp.GradScaler(device_type)

    def backward(self, loss: torch.Tensor) -> None:
        """``loss.backward()``, of the scaled loss when a gradient scaler is on."""
        (self.scaler.scale(loss) if self.scaler else loss).backward()

    def step(self, params: Sequence[torch.Tensor], weight_decay: float) -> None:
        """Weight decay (beta * w added to the gradients) and the optimiser step; with a gradient
        scaler the gradients are unscaled first and a step with an inf/NaN gradient is skipped."""
        if self.scaler:
            self.scaler.unscale_(self.optimizer)
        add_weight_decay(params, weight_decay)
        if self.scaler:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()

    # -- training -----------------------------------------------------------------
    def train_step(self, data: Any) -> dict[str, float]:
        raise NotImplementedError

    def progress(self, step: int, total: int) -> None:
        """Called before training step ``step`` (0-based) of ``total``: the algorithm's own
        schedules (Reptile's annealed outer step, ProtoNet's halving learning rate)."""

    def metrics(self) -> dict[str, float]:
        """Diagnostics of the algorithm's own state (e.g. alpha statistics), logged at
        every evaluation point under these names."""
        return {}

    # -- evaluation ---------------------------------------------------------------
    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of the trained model on a batch (supervised evaluation)."""
        return self.model(x)

    # -- checkpointing ------------------------------------------------------------
    def extra_state(self) -> dict[str, torch.Tensor]:
        """Tensors beyond the model's own (e.g. MLTP's alpha)."""
        return {}

    def state_dict(self) -> dict[str, Any]:
        """A snapshot (deep copy): later steps do not change it, and loading it into
        another algorithm shares no buffers with this one."""
        return {
            "model": copy.deepcopy(self.model.state_dict()),
            "optimizer": copy.deepcopy(self.optimizer.state_dict()) if self.optimizer else {},
            "extra": {k: v.detach().clone() for k, v in self.extra_state().items()},
            **({"scaler": self.scaler.state_dict()} if self.scaler else {}),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        if self.optimizer:
            self.optimizer.load_state_dict(state["optimizer"])
        with torch.no_grad():
            for k, v in self.extra_state().items():
                v.copy_(state["extra"][k])
        if self.scaler and "scaler" in state:
            self.scaler.load_state_dict(state["scaler"])


class Task(Protocol):
    """What an episodic algorithm reads from a task (``datasets.Episode`` provides it).

    ``*_y``: labels 0..N-1 within the episode; ``*_g``: the classes' ids over all
    meta-training classes (used by transfer learning and Meta-Transfer Learning).
    """

    support_x: torch.Tensor
    support_y: torch.Tensor
    query_x: torch.Tensor
    query_y: torch.Tensor
    support_g: torch.Tensor
    query_g: torch.Tensor


class TestTask(Protocol):
    """What an algorithm receives of a TEST episode (``datasets.TestEpisode``): the labelled support set
    and the unlabelled queries. The query labels stay with the evaluator."""

    support_x: torch.Tensor
    support_y: torch.Tensor
    query_x: torch.Tensor


class EpisodicAlgorithm(Algorithm):
    """Consumes meta-batches of tasks; scored by adapting to a new task's support set
    and classifying its query set.

    The model must expose ``embed(x)`` (features), ``head`` (an ``nn.Linear`` with one
    output per way) and ``feature_dim`` (Conv-4 in ``benchmark.models`` does).
    """

    consumes: ClassVar[str] = "episodes"
    # the batch-norm rules at test (--bn-eval) this algorithm can honour; inductive needs running statistics
    # collected while (meta-)training
    bn_modes: ClassVar[tuple[str, ...]] = ("transductive", "inductive")
    uses_model_head: ClassVar[bool] = True  # its test-time logits come from the model's N-way head (so N is fixed)

    def train_step(self, tasks: Sequence[Task]) -> dict[str, float]:
        raise NotImplementedError

    def train_task(self, ways: int, shots: int, queries: int) -> tuple[int, int, int]:
        """The (ways, shots, queries) of the meta-training tasks this algorithm samples;
        test tasks keep the run's setting. ProtoNet trains with more ways, Reptile with
        more shots than it is tested on (their papers' protocols)."""
        return ways, shots, queries

    def embed_task(self, task: Task, joint: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """Support and query features under the suite's test-time information rule: the support
        set is one batch and the queries another (batch norm without running statistics then
        normalises each with its own statistics, MAML's convention), so no algorithm's support
        features depend on the queries. ``joint``: one batch of support and queries (Snell et
        al.'s ProtoNet code), only where a profile declares it."""
        if joint:
            emb = self.model.embed(torch.cat([task.support_x, task.query_x]))
            return emb[: len(task.support_x)], emb[len(task.support_x):]
        return self.model.embed(task.support_x), self.model.embed(task.query_x)

    def query_logits(self, task: TestTask) -> torch.Tensor:
        """Adapt to ``task``'s support set (without changing the learned state) and
        return logits for its query set."""
        raise NotImplementedError

    # support images per episode from which scoring episodes one by one beat blocks on a CPU in the transductive
    # batch-norm mode (measured by ``perf --suite fewshot --eval``); None: blocks always won. ``--eval-batch 0`` uses it
    loop_wins_from: ClassVar[int | None] = None

    def loop_is_faster(self, support_images: int) -> bool:
        """Whether ``--eval-batch 0`` scores this algorithm's episodes with the loop (``loop_wins_from``)."""
        cpu = next(self.model.parameters()).device.type == "cpu"
        return (self.loop_wins_from is not None and cpu and not batched.per_sample(self.model)
                and support_images >= self.loop_wins_from)

    def query_logits_block(self, block) -> torch.Tensor:
        """Logits ``[E, N*Q, N]`` for every episode of a ``datasets.EpisodeBlock``. This default scores the
        episodes one by one with ``query_logits``; an algorithm overrides it with batched work that must
        equal this loop (``tests/test_batched_eval.py``)."""
        return torch.stack([self.query_logits(t) for t in block.tasks()])

    def embed_block(self, block, joint: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """``embed_task`` for a block of episodes: ``[E, N*K, D]`` and ``[E, N*Q, D]`` (``batched.embed_block``)."""
        return batched.embed_block(self.model, block, joint)

    def evaluate(self, task: Task) -> float:
        """Query accuracy after adapting to the support set of a labelled episode (its labels withheld
        from the algorithm)."""
        test = task.for_test() if hasattr(task, "for_test") else SimpleNamespace(
            support_x=task.support_x, support_y=task.support_y, query_x=task.query_x)
        logits = self.query_logits(test)
        return (logits.argmax(1) == task.query_y).float().mean().item()

    def need_train_classes(self) -> int:
        """The number of meta-training classes (for a head over all of them), checked."""
        if not self.train_classes or self.train_classes < 2:
            raise BadHyperparameterError(
                f"{self.name} needs train_classes (the number of meta-training classes), got {self.train_classes}")
        return self.train_classes
