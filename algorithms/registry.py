"""Algorithm registry: ``available`` / ``get_class`` / ``make_hparams`` / ``build``.

Names are the API: every training procedure of both suites is reachable as
``create(name, model, **hparams)`` and listed by ``available()``.

The built-in algorithms are an explicit entry table (name -> module and class), loaded
lazily, so this module imports none of them and none of them imports it (no import
cycle). ``register`` adds a user's own class under a new name.

Hyperparameters are one typed object from the command line or the tuner to the
algorithm: ``make_hparams`` builds the algorithm's ``Hparams`` dataclass once, coercing
and checking every value (type, finite, range), and ``build`` hands that object to
the constructor unchanged.
"""
from __future__ import annotations

import dataclasses
import difflib
import importlib
import math
import typing
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .errors import BadHyperparameterError, UnknownAlgorithmError

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn

    from .base import Algorithm

BUILTIN: dict[str, str] = {
    "standard": "standard:Standard",
    "mltp": "mltp:MLTPAll",
    "mltp_conv": "mltp:MLTPConv",
    "mltp_fc": "mltp:MLTPFc",
    "mltp_fo": "mltp:MLTPFirstOrder",
    "maml": "maml:MAML",
    "fomaml": "maml:FOMAML",
    "reptile": "reptile:Reptile",
    "mtl_maml": "mtl:MTLMAML",
    "mtl_reptile": "mtl:MTLReptile",
    "protonet": "protonet:ProtoNet",
    "transfer": "transfer:Transfer",
    "nearest_neighbour": "transfer:NearestNeighbour",
    "finetune": "transfer:Finetune",
    "anil": "anil:ANIL",
    "metasgd": "metasgd:MetaSGD",
    "matching_net": "matching:MatchingNet",
    "baseline_pp": "baseline_pp:BaselinePP",
    "linear_probe": "linear_probe:LinearProbe",
}
_REGISTRY: dict[str, type[Algorithm]] = {}


def register(name: str) -> Callable[[type[Algorithm]], type[Algorithm]]:
    """Class decorator that makes a user's :class:`Algorithm` subclass available as ``name``."""

    def deco(cls: type[Algorithm]) -> type[Algorithm]:
        if name in BUILTIN or (name in _REGISTRY and _REGISTRY[name] is not cls):
            raise ValueError(f"algorithm {name!r} is registered twice")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return deco


def _load(name: str) -> type[Algorithm]:
    module, cls_name = BUILTIN[name].split(":")
    cls = getattr(importlib.import_module(f"{__package__}.{module}"), cls_name)
    if "name" not in cls.__dict__:  # subclasses must not inherit their parent's name
        cls.name = name
    _REGISTRY[name] = cls
    return cls


def available(consumes: str | None = None) -> list[str]:
    """Sorted registered names; ``consumes`` ('batches' or 'episodes') filters by data kind."""
    names = set(BUILTIN) | set(_REGISTRY)
    return sorted(n for n in names if consumes is None or get_class(n).consumes == consumes)


def get_class(name: str) -> type[Algorithm]:
    if name in _REGISTRY:
        return _REGISTRY[name]
    if name in BUILTIN:
        return _load(name)
    valid = sorted(set(BUILTIN) | set(_REGISTRY))
    close = difflib.get_close_matches(name, valid, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise UnknownAlgorithmError(f"unknown algorithm {name!r}{hint}; valid: {', '.join(valid)}")


def _coerce(algorithm: str, field: dataclasses.Field, hint: Any, value: Any) -> Any:
    """``value`` as the field's declared type (``"0.5"`` -> 0.5); non-finite floats rejected."""
    kind = hint if hint in (bool, int, float, str) else type(field.default)
    where = f"{algorithm} hyperparameter {field.name}"
    if kind is bool:
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        if isinstance(value, bool):
            return value
        raise BadHyperparameterError(f"{where} must be true or false, got {value!r}")
    if kind in (int, float):
        try:
            out = kind(value) if not isinstance(value, bool) else None
        except (TypeError, ValueError):
            out = None
        if out is None or (kind is int and float(value) != out):
            raise BadHyperparameterError(f"{where} must be {'an integer' if kind is int else 'a number'}, got {value!r}")
        if kind is float and not math.isfinite(out):
            raise BadHyperparameterError(f"{where} must be finite, got {value!r}")
        return out
    return str(value) if kind is str else value


def make_hparams(name: str, **hparams) -> Any:
    """The algorithm's hyperparameter dataclass, built and validated once; unknown
    fields and values of the wrong type or range are rejected in one line."""
    cls = get_class(name)
    fields = {f.name: f for f in dataclasses.fields(cls.Hparams)}
    unknown = sorted(set(hparams) - set(fields))
    if unknown:
        raise BadHyperparameterError(
            f"algorithm {name!r} has no hyperparameter(s) {', '.join(unknown)}; valid: {', '.join(sorted(fields))}"
        )
    hints = typing.get_type_hints(cls.Hparams)
    values = {k: _coerce(name, fields[k], hints.get(k), v) for k, v in hparams.items()}
    hp = cls.Hparams(**values)
    if hasattr(hp, "validate"):
        hp.validate()
    return hp


def build(name: str, model: nn.Module, hparams: Any, train_classes: int | None = None) -> Algorithm:
    """Algorithm ``name`` around ``model`` with an already validated ``make_hparams`` object.

    ``train_classes`` is data, not a hyperparameter: the number of meta-training classes,
    for the algorithms that train a head over all of them (transfer, Meta-Transfer)."""
    cls = get_class(name)
    if not isinstance(hparams, cls.Hparams):
        raise TypeError(f"{name} expects {cls.Hparams.__name__}, got {type(hparams).__name__}")
    return cls(model, hparams, train_classes=train_classes)


def create(name: str, model: nn.Module, train_classes: int | None = None, **hparams) -> Algorithm:
    """Instantiate algorithm ``name`` around ``model`` from plain keyword hyperparameters."""
    return build(name, model, make_hparams(name, **hparams), train_classes=train_classes)
