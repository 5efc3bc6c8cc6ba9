"""The shared functional inner loop (fast weights via ``torch.func.functional_call``).

MAML, FOMAML, Reptile-style adaptation and MLTP all take gradient steps on *copies* of
the parameters, ``theta' = theta - a * grad L(theta)``, and (for the second-order
methods) differentiate through them. Everything here works on a dict of named tensors,
never mutating the module:

* ``parameter_groups`` names the layers that adapt (``all``, ``conv``, ``fc``, ``head``);
  a layer is the module that owns a parameter, so a layer's weight and bias share
  one step size (MLTP's per-layer alpha).
* ``gradient_step`` is one step: it returns the fast weights and the gradients it used,
  so a caller that also needs the gradient at ``theta`` (MLTP's first term) gets it
  without a second backward pass.
* ``inner_loop`` repeats ``gradient_step`` k times (MAML's k inner steps).

``first_order=True`` detaches the gradients, so backpropagating through the fast weights
treats ``d theta'/d theta`` as the identity: the FOMAML / MLTP_FO definition.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch
from torch import nn
from torch.func import functional_call

Params = dict[str, torch.Tensor]

GROUPS = ("all", "conv", "fc", "head")


def layer_name(param_name: str) -> str:
    """The owning module of a parameter: ``features.0.weight`` -> ``features.0``."""
    return param_name.rpartition(".")[0]


def parameter_groups(model: nn.Module, which: str = "all") -> dict[str, list[str]]:
    """Ordered ``{layer: [parameter names]}`` for the layers selected by ``which``.

    ``conv``: convolution layers; ``fc``: fully connected (``nn.Linear``) layers;
    ``head``: the last ``nn.Linear``; ``all``: every module with parameters of its own.
    """
    if which not in GROUPS:
        raise ValueError(f"unknown parameter group {which!r}; valid: {', '.join(GROUPS)}")
    layers: dict[str, list[str]] = {}
    linear = [n for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    for mod_name, module in model.named_modules():
        own = [f"{mod_name}.{p}" if mod_name else p for p, _ in module.named_parameters(recurse=False)]
        if not own:
            continue
        if which == "conv" and not isinstance(module, nn.modules.conv._ConvNd):
            continue
        if which == "fc" and not isinstance(module, nn.Linear):
            continue
        if which == "head" and (not linear or mod_name != linear[-1]):
            continue
        layers[mod_name] = own
    if not layers:
        raise ValueError(f"model {type(model).__name__} has no {which!r} layers to adapt")
    return layers


def functional_forward(model: nn.Module, params: Mapping[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """``model(x)`` with ``params`` in place of the module's own parameters."""
    return functional_call(model, dict(params), (x,))


StepSize = Callable[[str], torch.Tensor | float]


def gradient_step(
    loss: torch.Tensor,
    params: Mapping[str, torch.Tensor],
    adapt: Sequence[str],
    step_size: StepSize,
    *,
    first_order: bool,
    grads_for: Sequence[str] | None = None,
) -> tuple[Params, Params]:
    """One step ``theta'_n = theta_n - step_size(n) * dloss/dtheta_n`` for ``n`` in ``adapt``.

    Returns ``(fast, grads)``: ``fast`` holds every entry of ``params`` (non-adapted
    ones unchanged); ``grads`` holds ``dloss/dtheta`` for ``grads_for`` (default
    ``adapt``), with a graph (second order) unless ``first_order``.
    """
    names = list(adapt) if grads_for is None else list(grads_for)
    missing = set(adapt) - set(names)
    if missing:
        raise ValueError(f"grads_for must include every adapted parameter; missing {sorted(missing)}")
    gs = torch.autograd.grad(loss, [params[n] for n in names], create_graph=not first_order)
    grads = dict(zip(names, gs))
    if first_order:
        grads = {n: g.detach() for n, g in grads.items()}
    fast = dict(params)
    for n in adapt:
        fast[n] = params[n] - step_size(n) * grads[n]
    return fast, grads


def inner_loop(
    model: nn.Module,
    params: Mapping[str, torch.Tensor],
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    steps: int,
    step_size: StepSize,
    adapt: Sequence[str],
    first_order: bool,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = nn.functional.cross_entropy,
) -> Params:
    """``steps`` gradient steps on ``(x, y)`` starting from ``params``; returns the fast weights."""
    fast: Params = dict(params)
    for _ in range(steps):
        loss = loss_fn(functional_forward(model, fast, x), y)
        fast, _ = gradient_step(loss, fast, adapt, step_size, first_order=first_order)
    return fast
