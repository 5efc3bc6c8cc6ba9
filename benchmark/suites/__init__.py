"""The suites: one object per suite (``base.Suite``), each with its declarative profiles.

A profile is a list of blocks (dataset, models, algorithms, training protocol,
algorithm hyperparameters); the suite turns blocks into runs and owns everything else
that differs between suites. Adding a suite: one file here and one line in ``SUITES``.
"""
from __future__ import annotations

from .base import Cell, Style, Suite
from .fewshot import FewShotSuite
from .standard import StandardSuite

SUITES: dict[str, Suite] = {s.name: s for s in (StandardSuite(), FewShotSuite())}


def get_suite(name: str) -> Suite:
    try:
        return SUITES[name]
    except KeyError:
        raise ValueError(f"unknown suite {name!r}; valid: {', '.join(SUITES)}") from None


def suite_of(consumes: str) -> Suite:
    """The suite whose algorithms consume this kind of data."""
    return next(s for s in SUITES.values() if s.consumes == consumes)


__all__ = ["SUITES", "Cell", "Style", "Suite", "get_suite", "suite_of"]
