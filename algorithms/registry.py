"""Algorithm registry: ``register`` / ``create`` / ``available``.

Names are the API: every training procedure of both suites is reachable as
``create(name, model, **hparams)`` and listed by ``available()``.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn

    from .base import Algorithm

_REGISTRY: dict[str, type[Algorithm]] = {}


class UnknownAlgorithmError(KeyError):
    """Raised for a name that is not registered; the message lists the valid ones."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class BadHyperparameterError(ValueError):
    """Raised for an unknown or invalid hyperparameter of a known algorithm."""


def register(name: str) -> Callable[[type[Algorithm]], type[Algorithm]]:
    """Class decorator that makes an :class:`Algorithm` subclass available as ``name``."""

    def deco(cls: type[Algorithm]) -> type[Algorithm]:
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ValueError(f"algorithm {name!r} is registered twice")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return deco


def _load_builtin() -> None:
    # Importing the modules runs their @register decorators.
    from . import maml, mltp, mtl, protonet, reptile, standard, transfer  # noqa: F401


def available(consumes: str | None = None) -> list[str]:
    """Sorted registered names; ``consumes`` ('batches' or 'episodes') filters by data kind."""
    _load_builtin()
    return sorted(n for n, c in _REGISTRY.items() if consumes is None or c.consumes == consumes)


def get_class(name: str) -> type[Algorithm]:
    _load_builtin()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownAlgorithmError(
            f"unknown algorithm {name!r}; valid: {', '.join(available())}"
        ) from None


def make_hparams(name: str, **hparams):
    """Build the algorithm's hyperparameter dataclass, rejecting unknown fields clearly."""
    cls = get_class(name)
    fields = {f.name for f in dataclasses.fields(cls.Hparams)}
    unknown = sorted(set(hparams) - fields)
    if unknown:
        raise BadHyperparameterError(
            f"algorithm {name!r} has no hyperparameter(s) {', '.join(unknown)}; "
            f"valid: {', '.join(sorted(fields))}"
        )
    hp = cls.Hparams(**hparams)
    if hasattr(hp, "validate"):
        hp.validate()
    return hp


def create(name: str, model: nn.Module, **hparams) -> Algorithm:
    """Instantiate algorithm ``name`` around ``model`` with the given hyperparameters."""
    cls = get_class(name)
    return cls(model, make_hparams(name, **hparams))
