"""The papers' reported numbers (the project's own copy: ``benchmark/data/paper_results.csv``)."""
from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

CSV = Path(__file__).resolve().parents[1] / "data" / "paper_results.csv"


@dataclass(frozen=True)
class Reference:
    source: str
    suite: str
    dataset: str
    model: str
    algorithm: str
    setting: str
    metric: str
    value: float
    spread: float | None
    spread_kind: str
    bn_eval: str = ""  # few-shot: the batch-norm rule at test that produced the number ("" : not stated / not applicable)
    profile: str = ""  # an anchor of one profile's protocol (a peer's table, issue 33); "": any profile


@lru_cache(maxsize=1)
def load() -> tuple[Reference, ...]:
    rows = []
    with open(CSV, newline="") as f:
        for r in csv.DictReader(f):
            rows.append(
                Reference(
                    source=r["source"], suite=r["suite"], dataset=r["dataset"], model=r["model"],
                    algorithm=r["algorithm"], setting=r["setting"], metric=r["metric"],
                    value=float(r["value"]), spread=float(r["spread"]) if r["spread"] else None,
                    spread_kind=r["spread_kind"], bn_eval=r.get("bn_eval") or "", profile=r.get("profile") or "",
                )
            )
    return tuple(rows)


# The paper calls CIFAR-100's nets CCNet; our model names for them are either spelling.
_MODEL_ALIASES = {f"cnet{k}": f"ccnet{k}" for k in range(1, 5)} | {f"ccnet{k}": f"cnet{k}" for k in range(1, 5)}


def paper_dataset(dataset: str, folder_holds: str | None = None) -> str | None:
    """The dataset whose papers' numbers a run compares to: for ``imagefolder`` the paper
    dataset the folder holds (``folder_holds``, e.g. from its name), otherwise the run's
    dataset when a paper reports on it; None when no paper does."""
    if dataset == "imagefolder":
        return folder_holds or None
    return dataset if any(r.dataset == dataset for r in load()) else None


def lookup(suite: str, dataset: str | None, model: str, algorithm: str, metric: str = "top1", setting: str = "",
           bn_eval: str = "", profile: str = "") -> Reference | None:
    """The paper's value for this cell, or None when no paper reports it. A number produced under a stated
    batch-norm rule at test (``bn_eval``) is the paper value of runs under that rule only; a profile's own anchor
    (a peer's table measured under that protocol) is the value of that profile's runs, before any paper's."""
    if dataset is None:
        return None
    models = {model, _MODEL_ALIASES.get(model, model), "paper"}  # "paper": the paper's own backbone
    found = [r for r in load() if (r.suite, r.dataset, r.algorithm, r.metric, r.setting) == (suite, dataset, algorithm, metric, setting)
             and r.model in models and r.bn_eval in ("", bn_eval) and r.profile in ("", profile)]
    return next((r for r in found if r.profile == profile), found[0] if found else None)
