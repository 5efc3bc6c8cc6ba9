"""The one interface every training procedure implements.

An algorithm wraps a model and its optimiser. The runner feeds it data of the kind it
``consumes`` and asks it to evaluate; it never looks inside.

* ``consumes = "batches"``: ``train_step((x, y))`` on an ordinary supervised batch
  (standard training, MLTP).
* ``consumes = "episodes"``: ``train_step(list_of_tasks)`` on a meta-batch of N-way
  K-shot tasks (MAML, Reptile, ProtoNet, ... in the few-shot suite).

``train_step`` returns a dict of Python floats; it always has ``loss`` (the objective
the step minimised, without the weight-decay term) so the runner can stop a diverging
run, and may report algorithm-specific diagnostics (``alpha_mean``, ``grad_agreement``).
"""
from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any, ClassVar, Protocol

import torch
from torch import nn


class Algorithm:
    name: ClassVar[str] = "?"
    consumes: ClassVar[str] = "batches"
    Hparams: ClassVar[type]

    def __init__(self, model: nn.Module, hparams: Any) -> None:
        self.model = model
        self.hparams = hparams
        self.optimizer: torch.optim.Optimizer

    # -- training -----------------------------------------------------------------
    def train_step(self, data: Any) -> dict[str, float]:
        raise NotImplementedError

    def epoch_metrics(self) -> dict[str, float]:
        """Per-epoch diagnostics of the algorithm's own state (e.g. alpha statistics)."""
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
            "optimizer": copy.deepcopy(self.optimizer.state_dict()),
            "extra": {k: v.detach().clone() for k, v in self.extra_state().items()},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        with torch.no_grad():
            for k, v in self.extra_state().items():
                v.copy_(state["extra"][k])


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


class EpisodicAlgorithm(Algorithm):
    """Consumes meta-batches of tasks; scored by adapting to a new task's support set
    and classifying its query set.

    The model must expose ``embed(x)`` (features), ``head`` (an ``nn.Linear`` with one
    output per way) and ``feature_dim`` (Conv-4 in ``benchmark.models`` does).
    """

    consumes: ClassVar[str] = "episodes"
    needs_training: ClassVar[bool] = True

    def train_step(self, tasks: Sequence[Task]) -> dict[str, float]:
        raise NotImplementedError

    def query_logits(self, task: Task) -> torch.Tensor:
        """Adapt to ``task``'s support set (without changing the learned state) and
        return logits for its query set."""
        raise NotImplementedError

    def evaluate(self, task: Task) -> float:
        """Query accuracy after adapting to the support set."""
        logits = self.query_logits(task)
        return (logits.argmax(1) == task.query_y).float().mean().item()
