"""Cosine prototypical networks: a researcher's own few-shot method, outside the package.

ProtoNet scores a query by its negative squared distance to each class mean; this variant scores it by the
cosine similarity to each class mean, times a scale (as Baseline++ and Chen et al.'s cosine classifiers do).

    python -m benchmark check... / run --plugin examples/cosine_proto/cosine_proto.py --algorithm cosine_proto protonet
"""
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F

import algorithms
from algorithms.errors import BadHyperparameterError
from algorithms.protonet import ProtoNet, ProtoNetHparams


@dataclass
class CosineProtoHparams(ProtoNetHparams):
    scale: float = 10.0  # logits = scale x cosine(query, class mean)
    SEARCH_SPACE: ClassVar[dict[str, tuple]] = {"lr": ("log", 1e-4, 1e-2), "scale": ("log", 1.0, 50.0)}

    def validate(self) -> None:
        super().validate()
        if not self.scale > 0:
            raise BadHyperparameterError(f"scale must be > 0, got {self.scale}")


def cosine_logits(fs: torch.Tensor, ys: torch.Tensor, fq: torch.Tensor, ways: int, scale: float) -> torch.Tensor:
    """Support ``[..., S, D]`` with labels ``[..., S]``, queries ``[..., Q, D]`` -> ``[..., Q, ways]``."""
    onehot = F.one_hot(ys, ways).to(fs.dtype)
    means = onehot.transpose(-1, -2) @ fs / onehot.sum(-2).clamp_min(1)[..., None]
    return scale * F.normalize(fq, dim=-1) @ F.normalize(means, dim=-1).transpose(-1, -2)


@algorithms.register("cosine_proto")
class CosineProto(ProtoNet):
    """ProtoNet's training and test loop; only the logits differ."""

    Hparams = CosineProtoHparams

    def _logits(self, task) -> torch.Tensor:
        fs, fq = self.embed_task(task, self.hparams.joint_batch)
        return cosine_logits(fs, task.support_y, fq, int(task.support_y.max()) + 1, self.hparams.scale)

    def _block_logits(self, fs, ys, fq, ways: int) -> torch.Tensor:  # many test episodes at once
        return cosine_logits(fs, ys, fq, ways, self.hparams.scale)
