"""Turn (suite, profile, overrides) into the list of fully resolved runs.

The suite says which cells a block has (``Suite.cells``); this module resolves each
cell's hyperparameters once into the algorithm's typed ``Hparams`` (the profile's values,
then ``--set``), labels its scale with every difference from the protocol, and repeats
it over the seeds.
"""
from __future__ import annotations

import dataclasses
from typing import Any

import algorithms

from ..suites import Suite, get_suite
from ..suites.base import own_dataset
from . import precision
from .overrides import Overrides, PlanError, validate
from .spec import RunSpec


def resolve_hparams(algo: str, values: dict[str, Any]) -> Any:
    """The algorithm's Hparams from the values it has (a profile's shared values include
    others' hyperparameters: standard has no eta), validated once."""
    fields = {f.name for f in dataclasses.fields(algorithms.get_class(algo).Hparams)}  # not ClassVars (SEARCH_SPACE)
    try:
        return algorithms.make_hparams(algo, **{k: v for k, v in values.items() if k in fields})
    except (algorithms.BadHyperparameterError, TypeError) as e:
        raise PlanError(str(e)) from None


def _check_set_keys(o: Overrides, selected: set[str]) -> None:
    if not o.hparams:
        return
    known = {f.name for a in selected for f in dataclasses.fields(algorithms.get_class(a).Hparams)}
    unknown = sorted(set(o.hparams) - known)
    if unknown:
        raise PlanError(f"--set {unknown[0]}: no selected algorithm has that hyperparameter; valid: {', '.join(sorted(known))}")


def _scale(suite: Suite, profile: str, own: bool, dataset: str, cell_notes: list[str], o: Overrides) -> tuple[str, str]:
    """(scale, note): quick for the quick profile on its own data; reduced for any
    difference from a paper profile; the note lists every difference."""
    notes = []
    if profile == "quick":
        scale = "quick" if own else "reduced"
        notes.append(suite.notes.own_data if own else suite.notes.other_data.format(dataset=dataset))
    else:
        scale = "paper"
        if profile in suite.reduced_profiles:  # a named reduced profile is never passed off as a paper protocol
            scale = "reduced"
            notes.append(f"the {profile} profile ({suite.descriptions[profile]})")
        if not own:
            notes.append(suite.notes.foreign_dataset.format(dataset=dataset))
    notes += cell_notes
    if o.hparams:
        notes.append("hyperparameters changed: " + ", ".join(f"{k}={v}" for k, v in o.hparams.items()))
    if scale == "paper" and notes:
        scale = "reduced"
    return scale, "; ".join(notes)


def build_plan(suite_name: str, profile: str, o: Overrides) -> list[RunSpec]:
    try:
        suite = get_suite(suite_name)
        base = suite.blocks(profile)
    except ValueError as e:
        raise PlanError(str(e)) from None
    validate(o, suite)
    blocks = base
    if o.datasets:
        blocks = []
        for d in o.datasets:
            b = suite.block_for(profile, d, o.data_root)
            b.dataset = d
            blocks.append(b)
    _check_set_keys(o, {c.algorithm for b in blocks for c in suite.cells(b, o)})
    runs: list[RunSpec] = []
    for b in blocks:
        for cell in suite.cells(b, o):
            hp = resolve_hparams(cell.algorithm, {**cell.hparams, **o.hparams})
            try:
                precision.check(o.precision, cell.algorithm)
            except ValueError as e:
                raise PlanError(str(e)) from None
            scale, note = _scale(suite, profile, own_dataset(b, base), b.dataset, cell.notes, o)
            for seed in o.seeds if o.seeds is not None else b.seeds:
                runs.append(RunSpec(
                    suite=suite.name, profile=profile, dataset=b.dataset, model=cell.model, algorithm=cell.algorithm,
                    seed=seed, hparams=hp, data_root=o.data_root, download=o.download, scale=scale, scale_note=note,
                    setting=cell.setting, precision=o.precision, eval_batch=o.eval_batch or 0, **cell.fields,
                ))
    return runs
