"""What the user changed on the command line, validated once against the suite."""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

import algorithms
from datasets import registry as data_registry

from ..models import list_models
from ..suites import SUITES, Suite


class PlanError(ValueError):
    """A bad flag value; the message is one line that says what to do."""


@dataclass
class Overrides:
    datasets: list[str] | None = None
    models: list[str] | None = None
    algorithms: list[str] | None = None
    seeds: list[int] | None = None
    epochs: int | None = None
    max_steps: int | None = None
    batch_size: int | None = None
    train_per_class: int | None = None
    data_root: str | None = None
    download: bool = False
    val_fraction: float = 0.1
    keep_val_split: bool = False  # paper profiles train on the whole training set unless this is set (tuning sets it)
    hparams: dict[str, Any] = field(default_factory=dict)  # --set key=value
    # few-shot suite
    ways: list[int] | None = None
    shots: list[int] | None = None
    queries: int | None = None
    meta_iterations: int | None = None
    meta_batch: int | None = None
    test_episodes: int | None = None
    bn_eval: str | None = None  # batch norm at test: transductive | inductive
    precision: str = "fp32"  # forward passes: fp32 | bf16
    eval_batch: int | None = None  # few-shot: test episodes scored at a time (0: by memory, 1: the reference loop)
    stop_at_plateau: int | None = None  # few-shot: the plateau rule from this meta-iteration on (0: a fixed budget)
    test_weights: str | None = None  # few-shot: final | best-val (the weights scored on the test episodes)


POSITIVE = ("epochs", "batch_size", "train_per_class", "max_steps", "queries", "meta_iterations", "meta_batch", "test_episodes")


def _check_names(o: Overrides, suite: Suite) -> None:
    valid = algorithms.available(suite.consumes)
    for a in o.algorithms or []:
        if a not in algorithms.available():
            close = difflib.get_close_matches(a, valid, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise PlanError(f"unknown algorithm {a!r}{hint}; valid for suite {suite.name}: {', '.join(valid)}")
        if a not in valid:
            other = next(s.name for s in SUITES.values() if a in algorithms.available(s.consumes))
            raise PlanError(f"algorithm {a!r} belongs to the {other} suite (--suite {other}); "
                            f"valid for suite {suite.name}: {', '.join(valid)}")
    for d in o.datasets or []:
        if d not in data_registry.available(suite.data_kind):
            raise PlanError(f"unknown {suite.data_kind} dataset {d!r}; valid: {', '.join(data_registry.available(suite.data_kind))}")
    for m in o.models or []:
        if m not in list_models():
            close = difflib.get_close_matches(m, list_models(), n=1)
            raise PlanError(f"unknown model {m!r}" + (f" (did you mean {close[0]!r}?)" if close else "")
                            + f"; valid: {', '.join(list_models())}")
        try:
            suite.check_model(m)
        except ValueError as e:
            raise PlanError(str(e)) from None


def validate(o: Overrides, suite: Suite) -> None:
    _check_names(o, suite)
    for name in POSITIVE:
        v = getattr(o, name)
        if v is not None and v < 1:
            raise PlanError(f"--{name.replace('_', '-')} must be >= 1, got {v}")
    if o.bn_eval and o.bn_eval not in suite.bn_modes:
        raise PlanError(f"--bn-eval {o.bn_eval} is not a mode of the {suite.name} suite; "
                        + (f"valid: {', '.join(suite.bn_modes)}" if suite.bn_modes else "it applies to the few-shot suite only"))
    for a in o.algorithms or [] if o.bn_eval else []:
        cls = algorithms.get_class(a)
        modes = getattr(cls, "bn_modes", suite.bn_modes)
        if o.bn_eval not in modes:
            why = f" ({cls.bn_note})" if getattr(cls, "bn_note", "") else ""
            raise PlanError(f"--bn-eval {o.bn_eval}: {a} cannot honour it{why}; valid for {a}: {', '.join(modes)}")
    if o.stop_at_plateau is not None and suite.consumes != "episodes":
        raise PlanError(f"--stop-at-plateau applies to the few-shot suite (meta-iterations); the {suite.name} suite trains "
                        "for its epochs")
    if o.test_weights is not None and suite.consumes != "episodes":
        raise PlanError(f"--test-weights applies to the few-shot suite (validation points); the {suite.name} suite has none")
    if o.eval_batch is not None and suite.consumes != "episodes":
        raise PlanError(f"--eval-batch applies to the few-shot suite (episodes scored at a time); the {suite.name} suite has none")
    if o.ways and min(o.ways) < 2:
        raise PlanError(f"--ways must be >= 2, got {o.ways}")
    if o.shots and min(o.shots) < 1:
        raise PlanError(f"--shots must be >= 1, got {o.shots}")
    if o.seeds is not None and any(s < 0 for s in o.seeds):
        raise PlanError(f"--seeds must be non-negative integers, got {o.seeds}")
    if not 0 < o.val_fraction < 1:
        raise PlanError(f"--val-fraction must be in (0, 1): the validation split must not be empty, got {o.val_fraction}")
