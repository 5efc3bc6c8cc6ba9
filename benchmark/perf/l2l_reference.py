"""learn2learn's MAML as an independent reference (imported only where learn2learn is
installed; it does not build from PyPI on Python 3.11, see ``tox -e parity``).

Nothing in the suite depends on it: it exists to check our meta-gradients against a
widely used implementation and to measure our throughput beside its clone/adapt loop.
"""
from __future__ import annotations

import copy
import statistics
import time

import learn2learn as l2l
import torch
import torch.nn.functional as F

import algorithms

from ..models import create_model


def l2l_meta_gradient(model: torch.nn.Module, tasks, inner_lr: float, steps: int, first_order: bool) -> list[torch.Tensor]:
    """learn2learn's clone/adapt loop: the mean query loss's gradient w.r.t. the model's parameters."""
    maml = l2l.algorithms.MAML(model, lr=inner_lr, first_order=first_order)
    maml.zero_grad()
    for t in tasks:
        learner = maml.clone()
        for _ in range(steps):
            learner.adapt(F.cross_entropy(learner(t.support_x), t.support_y))
        (F.cross_entropy(learner(t.query_x), t.query_y) / len(tasks)).backward()
    return [p.grad.detach().clone() for p in model.parameters()]


def our_meta_gradient(name: str, model: torch.nn.Module, tasks, inner_lr: float, steps: int) -> list[torch.Tensor]:
    algo = algorithms.create(name, model, inner_lr=inner_lr, inner_steps=steps)
    algo.optimizer.zero_grad(set_to_none=True)
    algo.meta_gradient(tasks)
    return [p.grad.detach().clone() for p in model.parameters()]


def max_relative_difference(a: list[torch.Tensor], b: list[torch.Tensor]) -> float:
    return max(((x - y).norm() / y.norm().clamp_min(1e-30)).item() for x, y in zip(a, b))


def compare_with_learn2learn(model_name: str, tasks, rounds: int, steps: int, device: torch.device, inner_lr: float = 0.4) -> dict:
    ways = int(tasks[0].support_y.max()) + 1
    torch.manual_seed(0)
    base = create_model(model_name, ways, tasks[0].support_x.shape[1], tasks[0].support_x.shape[-1]).to(device)
    ours = our_meta_gradient("maml", copy.deepcopy(base), tasks, inner_lr, 1)
    ref = l2l_meta_gradient(copy.deepcopy(base), tasks, inner_lr, 1, first_order=False)
    times = []
    m = copy.deepcopy(base)
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(steps):
            l2l_meta_gradient(m, tasks, inner_lr, 1, first_order=False)
        times.append((time.perf_counter() - t0) / steps)
    return {"step_s": statistics.median(times), "max_rel_diff": max_relative_difference(ours, ref)}
