"""Errors of the executors, importable without their optional dependencies."""
from __future__ import annotations


class ExecutorError(ValueError):
    """An executor (Ray) that cannot work, in one line (exit 2)."""
