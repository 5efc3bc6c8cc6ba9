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
    # few-shot suite
    ways: list[int] | None = None
    shots: list[int] | None = None
    queries: int | None = None
    meta_iterations: int | None = None
    meta_batch: int | None = None
    test_episodes: int | None = None


def validate(o: Overrides, episodic: bool = False) -> None:
    suite = "fewshot" if episodic else "standard"
    if o.algorithms:
        every = algorithms.available()
        valid = algorithms.available("episodes" if episodic else "batches")
        for a in o.algorithms:
            if a not in every:
                raise PlanError(f"unknown algorithm {a!r}; valid for suite {suite}: {', '.join(valid)}")
            if a not in valid:
                raise PlanError(f"algorithm {a!r} belongs to the other suite; valid for suite {suite}: {', '.join(valid)}")
    if o.datasets:
        kind = "episodic" if episodic else "supervised"
        for d in o.datasets:
            if d not in data_registry.available(kind):
                raise PlanError(f"unknown {kind} dataset {d!r}; valid: {', '.join(data_registry.available(kind))}")
    if o.models:
        for m in o.models:
            if m not in list_models():
                raise PlanError(f"unknown model {m!r}; valid: {', '.join(list_models())}")
    for name in ("epochs", "batch_size", "train_per_class"):
        v = getattr(o, name)
        if v is not None and v < 1:
            raise PlanError(f"--{name.replace('_', '-')} must be >= 1, got {v}")
    for name in ("queries", "meta_iterations", "meta_batch", "test_episodes"):
        v = getattr(o, name)
        if v is not None and v < 1:
            raise PlanError(f"--{name.replace('_', '-')} must be >= 1, got {v}")
    if o.ways is not None and any(w < 2 for w in o.ways):
        raise PlanError(f"--ways must be >= 2, got {o.ways}")
    if o.shots is not None and any(k < 1 for k in o.shots):
        raise PlanError(f"--shots must be >= 1, got {o.shots}")
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
    try:
        mod = get_suite(suite)
    except ValueError as e:
        raise PlanError(str(e)) from None
    validate(o, episodic=suite == "fewshot")
    if suite == "fewshot":
        return build_fewshot_plan(mod, profile, o)
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

    _check_set_keys(o, {a for b in blocks for m in (o.models or b.models) for a in (o.algorithms or b.algorithms_for(m))})

    runs: list[RunSpec] = []
    for b in blocks:
        for model in o.models or b.models:
            algos = o.algorithms or b.algorithms_for(model)
            for algo in algos:
                # The profile's values for the hyperparameters this algorithm has (standard
                # has no eta or alpha), then --set, resolved to the full dataclass.
                hp = _resolve_hparams(algo, {**b.hparams_for(model), **o.hparams})
                epochs = o.epochs or b.epochs
                notes = []
                own_dataset = b.dataset in [x.dataset for x in base_blocks]
                if profile == "quick" and own_dataset:
                    scale = "quick"
                    notes.append("embedded data, short schedule: a smoke-scale comparison, not a paper protocol")
                elif profile == "quick":
                    scale = "reduced"
                    notes.append(f"the quick profile's short schedule on {b.dataset}")
                else:
                    scale = "paper"
                if not own_dataset and profile != "quick":
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


def _resolve_hparams(algo: str, values: dict[str, Any]) -> dict[str, Any]:
    fields = set(algorithms.get_class(algo).Hparams.__dataclass_fields__)
    try:
        return dataclasses.asdict(algorithms.make_hparams(algo, **{k: v for k, v in values.items() if k in fields}))
    except (algorithms.BadHyperparameterError, TypeError) as e:
        raise PlanError(str(e)) from None


def _check_set_keys(o: Overrides, selected: set[str]) -> None:
    if not o.hparams:
        return
    known = set().union(*(algorithms.get_class(a).Hparams.__dataclass_fields__ for a in selected))
    unknown = sorted(set(o.hparams) - known)
    if unknown:
        raise PlanError(f"--set {unknown[0]}: no selected algorithm has that hyperparameter; valid: {', '.join(sorted(known))}")


def build_fewshot_plan(mod, profile: str, o: Overrides) -> list[RunSpec]:
    try:
        base_blocks = mod.blocks(profile)
    except ValueError as e:
        raise PlanError(str(e)) from None
    blocks = [mod.protocol_for(profile, d, None) for d in o.datasets] if o.datasets else base_blocks
    if o.datasets:
        for b, d in zip(blocks, o.datasets):
            b.dataset = d
    _check_set_keys(o, {a for b in blocks for a in (o.algorithms or b.algorithms)})
    runs: list[RunSpec] = []
    for b in blocks:
        settings = b.settings
        if o.ways or o.shots:
            ways = o.ways or sorted({w for w, _ in b.settings})
            shots = o.shots or sorted({k for _, k in b.settings})
            settings = [(w, k) for w in ways for k in shots]
        own = b.dataset in [x.dataset for x in base_blocks]
        for ways, shots in settings:
            for algo in o.algorithms or b.algorithms:
                hp = _resolve_hparams(algo, {**b.hparams_for(algo, ways), **o.hparams})
                iters = o.meta_iterations or b.meta_iterations
                notes = []
                if profile == "quick":
                    scale = "quick" if own else "reduced"
                    notes.append("embedded data, short meta-training: a smoke-scale comparison, not a paper protocol"
                                 if own else f"the quick profile's short budget on {b.dataset}")
                else:
                    scale = "paper"
                    if not own:
                        notes.append(f"dataset {b.dataset} instead of the profile's")
                if o.meta_iterations and o.meta_iterations != b.meta_iterations:
                    notes.append(f"{iters} of {b.meta_iterations} meta-iterations")
                for name, value, default in (("queries", o.queries, b.queries), ("meta-batch", o.meta_batch, b.meta_batch),
                                             ("test episodes", o.test_episodes, b.test_episodes)):
                    if value and value != default:
                        notes.append(f"{name} {value} instead of {default}")
                if o.hparams:
                    notes.append("hyperparameters changed: " + ", ".join(f"{k}={v}" for k, v in o.hparams.items()))
                if scale == "paper" and notes:
                    scale = "reduced"
                for seed in o.seeds if o.seeds is not None else b.seeds:
                    runs.append(RunSpec(
                        suite="fewshot", profile=profile, dataset=b.dataset, model=o.models[0] if o.models else b.model,
                        algorithm=algo, seed=seed, hparams=hp, data_root=o.data_root, download=o.download,
                        scale=scale, scale_note="; ".join(notes), ways=ways, shots=shots,
                        queries=o.queries or b.queries, meta_batch=o.meta_batch or b.meta_batch_by_ways.get(ways, b.meta_batch),
                        meta_iterations=iters, test_episodes=o.test_episodes or b.test_episodes,
                        val_episodes=b.val_episodes, val_every=min(b.val_every, iters),
                    ))
    return runs
