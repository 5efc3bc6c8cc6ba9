"""``--precision``: the arithmetic of a run's forward passes.

``fp32`` (default) as built. ``bf16``: forward passes under ``torch.autocast`` in
bfloat16 (CPU and CUDA), weights, gradients and optimiser state stay fp32; training,
validation and test all run this way, so a bf16 run is one consistent configuration.
Refused, one line each: ``fp16`` (it needs a gradient scaler, which the algorithms' own
optimiser steps do not have) and ``bf16`` for algorithms that differentiate through an
inner gradient step (MAML, ANIL, Meta-SGD, MTL-MAML, MLTP but mltp_fo): their
meta-gradients are a second derivative of bf16 arithmetic, and no training comparison
has shown them to be usable.
"""
from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext

import torch

import algorithms

PRECISIONS = ("fp32", "bf16", "fp16")


def check(precision: str, algorithm: str) -> None:
    """ValueError (one line) for a precision this suite does not run."""
    if precision in ("", "fp32"):
        return
    if precision == "fp16":
        raise ValueError("--precision fp16 is not supported: it needs a gradient scaler the algorithms' own optimiser "
                         "steps do not have; use --precision bf16 (CPU and CUDA)")
    if precision != "bf16":
        raise ValueError(f"unknown --precision {precision!r}; valid: {', '.join(PRECISIONS[:2])}")
    if algorithms.get_class(algorithm).second_order:
        first = [a for a in algorithms.available(algorithms.get_class(algorithm).consumes)
                 if not algorithms.get_class(a).second_order]
        raise ValueError(f"--precision bf16: {algorithm} differentiates through its inner step (second order), which "
                         f"bf16 is not checked for; run it in fp32, or choose a first-order algorithm ({', '.join(first)})")


def autocast(precision: str, device: torch.device) -> AbstractContextManager:
    """The context a run's training and evaluation run in."""
    if precision in ("", "fp32"):
        return nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)
