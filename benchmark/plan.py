"""Turn (suite, profile, overrides) into the list of fully resolved runs."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import algorithms
from datasets import registry as data_registry

from .config import RunSpec
from .models import list_models
from .suites import get_suite


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
    hparams: dict[str, Any] = field(default_factory=dict)  # --set key=value


def validate(o: Overrides) -> None:
    if o.algorithms:
        valid = algorithms.available()
        for a in o.algorithms:
            if a not in valid:
                raise PlanError(f"unknown algorithm {a!r}; valid: {', '.join(valid)}")
    if o.datasets:
        for d in o.datasets:
            if d not in data_registry.available():
                raise PlanError(f"unknown dataset {d!r}; valid: {', '.join(data_registry.available())}")
    if o.models:
        for m in o.models:
            if m not in list_models():
                raise PlanError(f"unknown model {m!r}; valid: {', '.join(list_models())}")
    for name in ("epochs", "batch_size", "train_per_class"):
        v = getattr(o, name)
        if v is not None and v < 1:
            raise PlanError(f"--{name.replace('_', '-')} must be >= 1, got {v}")
    if o.max_steps is not None and o.max_steps < 1:
        raise PlanError(f"--max-steps must be >= 1, got {o.max_steps}")
    if o.seeds is not None and any(s < 0 for s in o.seeds):
        raise PlanError(f"--seeds must be non-negative integers, got {o.seeds}")
    if not 0 <= o.val_fraction < 1:
        raise PlanError(f"--val-fraction must be in [0, 1), got {o.val_fraction}")


def _scaled_milestones(milestones: list[int], base_epochs: int, epochs: int) -> list[int]:
    if epochs == base_epochs:
        return list(milestones)
    scaled = sorted({max(1, round(m * epochs / base_epochs)) for m in milestones})
    return [m for m in scaled if m < epochs]


def build_plan(suite: str, profile: str, o: Overrides) -> list[RunSpec]:
    validate(o)
    mod = get_suite(suite)
    try:
        base_blocks = mod.blocks(profile)
    except ValueError as e:
        raise PlanError(str(e)) from None

    blocks = []
    if o.datasets:
        for d in o.datasets:
            from datasets.imagefolder import guess_paper_dataset

            paper_ds = guess_paper_dataset(Path(o.data_root)) if (d == "imagefolder" and o.data_root) else None
            b = mod.protocol_for(profile, d, paper_ds)
            b.dataset = d
            blocks.append(b)
    else:
        blocks = base_blocks

    if o.hparams:
        selected = {a for b in blocks for m in (o.models or b.models) for a in (o.algorithms or b.algorithms_for(m))}
        known = set().union(*(algorithms.get_class(a).Hparams.__dataclass_fields__ for a in selected))
        unknown = sorted(set(o.hparams) - known)
        if unknown:
            raise PlanError(f"--set {unknown[0]}: no selected algorithm has that hyperparameter; valid: {', '.join(sorted(known))}")

    runs: list[RunSpec] = []
    for b in blocks:
        for model in o.models or b.models:
            algos = o.algorithms or b.algorithms_for(model)
            for algo in algos:
                # The profile's values for the hyperparameters this algorithm has (standard
                # has no eta or alpha), then --set, resolved to the full dataclass.
                fields = set(algorithms.get_class(algo).Hparams.__dataclass_fields__)
                hp = {k: v for k, v in {**b.hparams_for(model), **o.hparams}.items() if k in fields}
                try:
                    hp = dataclasses.asdict(algorithms.make_hparams(algo, **hp))
                except (algorithms.BadHyperparameterError, TypeError) as e:
                    raise PlanError(str(e)) from None
                epochs = o.epochs or b.epochs
                notes = []
                if profile == "quick":
                    scale = "quick"
                    notes.append("embedded data, short schedule: a smoke-scale comparison, not a paper protocol")
                else:
                    scale = "paper"
                if o.datasets and b.dataset not in [x.dataset for x in base_blocks]:
                    notes.append(f"dataset {b.dataset} instead of the paper's")
                if o.epochs and o.epochs != b.epochs:
                    notes.append(f"{epochs} of {b.epochs} epochs (milestones scaled)")
                if o.max_steps:
                    notes.append(f"at most {o.max_steps} steps")
                if o.train_per_class:
                    notes.append(f"{o.train_per_class} training images per class")
                if o.batch_size and o.batch_size != b.batch_size:
                    notes.append(f"batch {o.batch_size} instead of {b.batch_size}")
                if o.hparams:
                    notes.append("hyperparameters changed: " + ", ".join(f"{k}={v}" for k, v in o.hparams.items()))
                if scale == "paper" and notes:
                    scale = "reduced"
                for seed in o.seeds if o.seeds is not None else b.seeds:
                    runs.append(
                        RunSpec(
                            suite=suite, profile=profile, dataset=b.dataset, model=model, algorithm=algo,
                            seed=seed, epochs=epochs, batch_size=o.batch_size or b.batch_size,
                            milestones=_scaled_milestones(b.milestones, b.epochs, epochs), hparams=hp,
                            max_steps=o.max_steps, data_root=o.data_root, download=o.download,
                            val_fraction=o.val_fraction, train_per_class=o.train_per_class,
                            preprocess=dict(b.preprocess), scale=scale, scale_note="; ".join(notes),
                        )
                    )
    return runs
