"""Declarative suites: each suite has profiles; a profile is a list of blocks
(dataset, models, algorithms per model, training protocol, algorithm hyperparameters)."""
from __future__ import annotations

from . import fewshot, standard

SUITES = {"standard": standard, "fewshot": fewshot}


def get_suite(name: str):
    try:
        return SUITES[name]
    except KeyError:
        raise ValueError(f"unknown suite {name!r}; valid: {', '.join(SUITES)}") from None
