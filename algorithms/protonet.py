"""Prototypical networks (Snell et al. 2017): logits are negative squared Euclidean
distances from query embeddings to the class means (prototypes) of the support embeddings."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .base import EpisodicAlgorithm, Task, TestTask
from .batched import by_episodes, one_hot
from .errors import BadHyperparameterError
from .optim import OptimHparams, build_optimizer


def prototypes(emb: torch.Tensor, labels: torch.Tensor, ways: int) -> torch.Tensor:
    """Mean embedding of each class 0..ways-1."""
    protos = torch.zeros(ways, emb.shape[1], dtype=emb.dtype, device=emb.device).index_add_(0, labels, emb)
    counts = torch.bincount(labels, minlength=ways).to(emb.dtype).clamp_min(1)
    return protos / counts[:, None]


def proto_logits(query: torch.Tensor, protos: torch.Tensor) -> torch.Tensor:
    """``-||q - c_k||^2`` for every query q and prototype c_k."""
    return -((query[:, None, :] - protos[None, :, :]) ** 2).sum(-1)


def block_proto_logits(fs: torch.Tensor, ys: torch.Tensor, fq: torch.Tensor, ways: int) -> torch.Tensor:
    """``proto_logits`` of E episodes at once: support ``[E, S, D]`` with labels ``[E, S]``, queries ``[E, Q, D]``."""
    oh = one_hot(ys, ways, fs.dtype)  # [E, S, N]
    protos = oh.transpose(1, 2) @ fs / oh.sum(1).clamp_min(1)[..., None]
    # ||q||^2 - 2 q.c + ||c||^2 as one batched matmul: the [E, Q, N, D] differences of ``proto_logits`` were 5x slower
    return -(fq.pow(2).sum(-1, keepdim=True) - 2 * fq @ protos.transpose(1, 2) + protos.pow(2).sum(-1)[:, None, :])


@dataclass
class ProtoNetHparams(OptimHparams):
    train_ways: int = 0  # ways of the training episodes (Snell et al.: 60 on Omniglot); 0: the test ways
    train_queries: int = 0  # queries per class of the training episodes (Snell et al.: 5 on Omniglot); 0: the test queries
    lr_halve_every: int = 0  # halve the learning rate every this many meta-iterations (Snell et al.: 2000); 0: never
    joint_batch: bool = False  # embed support and queries as one batch (Snell et al.'s code); False: the suite's rule

    def validate(self) -> None:
        super().validate()
        if self.train_ways < 0 or self.train_ways == 1 or self.lr_halve_every < 0 or self.train_queries < 0:
            raise BadHyperparameterError("train_ways must be 0 or >= 2; lr_halve_every and train_queries >= 0")


class ProtoNet(EpisodicAlgorithm):
    """Prototypical networks: nearest class mean in a learned embedding."""

    loss_scaling = True  # trains through backward()/step(): fp16 with a gradient scaler
    uses_model_head = False  # embeddings only: any number of ways at test
    Hparams = ProtoNetHparams

    def __init__(self, model, hparams: ProtoNetHparams, train_classes: int | None = None) -> None:
        super().__init__(model, hparams, train_classes)
        # the N-way head is unused: only the embedding is learned
        self.params = [p for n, p in model.named_parameters() if not n.startswith("head.")]
        self.optimizer = build_optimizer(self.params, hparams)

    def train_task(self, ways: int, shots: int, queries: int) -> tuple[int, int, int]:
        return (self.hparams.train_ways or ways), shots, (self.hparams.train_queries or queries)

    def progress(self, step: int, total: int) -> None:
        if self.hparams.lr_halve_every:
            for g in self.optimizer.param_groups:
                g["lr"] = self.hparams.lr * 0.5 ** (step // self.hparams.lr_halve_every)

    def _logits(self, task: Task) -> torch.Tensor:
        fs, fq = self.embed_task(task, self.hparams.joint_batch)
        ways = int(task.support_y.max()) + 1
        return proto_logits(fq, prototypes(fs, task.support_y, ways))

    def train_step(self, tasks: Sequence[Task]) -> dict[str, float]:
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        loss_sum, correct, count = 0.0, 0, 0
        for task in tasks:
            logits = self._logits(task)
            loss = F.cross_entropy(logits, task.query_y)
            self.backward(loss / len(tasks))
            loss_sum += loss.item()
            correct += (logits.detach().argmax(1) == task.query_y).sum().item()
            count += len(task.query_y)
        self.step(self.params, self.hparams.weight_decay)
        return {"loss": loss_sum / len(tasks), "train_loss": loss_sum / len(tasks), "train_correct": correct, "train_count": count}

    @torch.no_grad()
    def query_logits(self, task: TestTask) -> torch.Tensor:
        return self._logits(task)

    def _block_logits(self, fs: torch.Tensor, ys: torch.Tensor, fq: torch.Tensor, ways: int) -> torch.Tensor:
        return block_proto_logits(fs, ys, fq, ways)

    @torch.no_grad()
    def query_logits_block(self, block) -> torch.Tensor:
        fs, fq = self.embed_block(block, self.hparams.joint_batch)
        n, d = block.ways, fs.shape[-1]
        per_episode = (fq.shape[1] + fs.shape[1]) * n + n * d  # the logits' and prototypes' temporaries
        return by_episodes(lambda s, y, q: self._block_logits(s, y, q, n), per_episode, fs, block.support_y, fq)
