"""``--precision``: the arithmetic of a run's forward passes.

``fp32`` (default) as built. ``bf16``: forward passes under ``torch.autocast`` in
bfloat16 (CPU and CUDA), weights, gradients and optimiser state stay fp32; training,
validation and test all run this way, so a bf16 run is one consistent configuration.
``fp16`` (CUDA): forward passes under float16 autocast and a gradient scaler
(``Algorithm.enable_loss_scaling``) for the algorithms whose training step is one
backward pass and an optimiser step (standard, protonet, matching_net, the transfer family).
Refused, one line each: ``fp16`` on CPU (no fp16 arithmetic worth having there: use
bf16), ``fp16`` for algorithms that take inner gradients (the scaler does not reach
them), and ``bf16`` for algorithms that differentiate through an inner gradient step
(MAML, ANIL, Meta-SGD, MTL-MAML, MLTP but mltp_fo): their meta-gradients are a second
derivative of bf16 arithmetic, and no training comparison has shown them to be usable.
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
        if not algorithms.get_class(algorithm).loss_scaling:
            scaled = [a for a in algorithms.available() if algorithms.get_class(a).loss_scaling]
            raise ValueError(f"--precision fp16: {algorithm} takes inner gradients the gradient scaler does not reach; "
                             f"run it in bf16 or fp32, or choose one of {', '.join(scaled)}")
        return
    if precision != "bf16":
        raise ValueError(f"unknown --precision {precision!r}; valid: {', '.join(PRECISIONS)}")
    if algorithms.get_class(algorithm).second_order:
        first = [a for a in algorithms.available(algorithms.get_class(algorithm).consumes)
                 if not algorithms.get_class(a).second_order]
        raise ValueError(f"--precision bf16: {algorithm} differentiates through its inner step (second order), which "
                         f"bf16 is not checked for; run it in fp32, or choose a first-order algorithm ({', '.join(first)})")


def check_device(precision: str, device: torch.device) -> None:
    """ValueError (one line): fp16 needs CUDA."""
    if precision == "fp16" and device.type != "cuda":
        raise ValueError(f"--precision fp16 runs on CUDA (float16 autocast with a gradient scaler); this run is on "
                         f"{device.type}: use --precision bf16 there (or fp32)")


def autocast(precision: str, device: torch.device) -> AbstractContextManager:
    """The context a run's training and evaluation run in."""
    if precision in ("", "fp32"):
        return nullcontext()
    # cache_enabled=False: a whole run is one autocast region, and autocast's cache of the weights' low-precision
    # copies lives until the region ends, so with the cache every forward pass would use the first step's weights
    # (a bf16 run trained, but its forward passes never saw the updates: tests/test_precision.py)
    return torch.autocast(device.type, dtype=torch.float16 if precision == "fp16" else torch.bfloat16, cache_enabled=False)


def prepare(precision: str, algo: algorithms.Algorithm, device: torch.device) -> None:
    """fp16: the algorithm's gradient scaler (before a checkpoint is loaded, which restores its scale)."""
    if precision == "fp16":
        algo.enable_loss_scaling(device.type)
