"""The model registry: ``register_model(name)`` on a builder ``(num_classes, in_channels, image_size) -> nn.Module``,
``create_model(name, ...)``, and what every family shares (``set_batchnorm``, ``count_parameters``)."""
from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

_MODELS: dict[str, Callable[..., nn.Module]] = {}


class Backbone(nn.Module):
    """A few-shot backbone: ``features`` (images to ``feature_dim`` features, ``embed``) and a linear ``head``, the
    interface every episodic algorithm uses."""

    features: nn.Module
    head: nn.Linear
    feature_dim: int

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class UnknownModelError(KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


def register_model(name: str):
    def deco(fn):
        _MODELS[name] = fn
        return fn

    return deco


def list_models() -> list[str]:
    return sorted(_MODELS)


def create_model(name: str, num_classes: int, in_channels: int = 3, image_size: int = 32) -> nn.Module:
    try:
        builder = _MODELS[name]
    except KeyError:
        raise UnknownModelError(f"unknown model {name!r}; valid: {', '.join(list_models())}") from None
    return builder(num_classes=num_classes, in_channels=in_channels, image_size=image_size)


def set_batchnorm(model: nn.Module, mode: str) -> nn.Module:
    """Batch norm at evaluation (the few-shot suite's ``--bn-eval``), in place.

    ``transductive`` (or ""): the model as built; Conv-4 keeps no running statistics, so
    a batch is normalised with its own statistics in training and evaluation alike
    (MAML's convention: the query set's statistics are shared across its queries).
    ``inductive``: every batch-norm layer keeps running statistics during (meta-)training
    and uses them in evaluation mode, so each query is classified on its own.
    """
    if mode in ("", "transductive"):
        return model
    if mode != "inductive":
        raise ValueError(f"unknown batch-norm mode {mode!r}; valid: transductive, inductive")
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and not m.track_running_stats:
            ref = m.weight if m.weight is not None else torch.zeros(())
            m.track_running_stats = True
            m.register_buffer("running_mean", torch.zeros(m.num_features, device=ref.device, dtype=ref.dtype))
            m.register_buffer("running_var", torch.ones(m.num_features, device=ref.device, dtype=ref.dtype))
            m.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long, device=ref.device))
    return model


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
