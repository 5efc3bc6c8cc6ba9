"""The one small protocol a suite implements; everything suite-specific lives behind it.

The planner, runner, tuner, console report and leaderboard ask the suite (``get_suite
(spec.suite)``) instead of testing its name: which algorithms and datasets it takes, how
a profile's blocks become cells, how data is loaded and checked, the body of the one
training loop (a ``Session``: a step over a batch or a meta-step over a meta-batch, and
what an evaluation point records), the final metrics, and how results are shown. A third
suite is one new file under ``benchmark/suites/`` registered in ``SUITES``.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

import torch

from ..models import count_parameters, create_model
from ..report import references


@dataclass
class Cell:
    """One (model, algorithm[, setting]) of a block, before seeds: the profile's
    hyperparameter values, the run fields the suite fills and how they differ from the
    block's protocol."""

    model: str
    algorithm: str
    hparams: dict[str, Any]
    fields: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    setting: str = ""


@dataclass(frozen=True)
class Style:
    """How the suite's results are named and compared in tables (data, not branches)."""

    test_metric: str  # the MLflow metric with the final test accuracy
    baseline: str  # the default baseline of the significance test
    reference_metric: str  # the metric column of paper_results.csv
    count_header: str  # console column: runs per row
    significance: str  # how the leaderboard's p-value is computed, in words
    spread: str  # what the leaderboard's spread columns are, in words
    paired_by: str  # "seeds" | "episodes"
    interval_column: bool  # a 95% CI column (over test episodes)
    paper_format: str  # format of the paper's value in the leaderboard
    curve_label: str  # console label of the comparison plot


@dataclass(frozen=True)
class ScaleNotes:
    """How a run differs from its profile's protocol, in words (part of a run's
    configuration key: reword with care)."""

    own_data: str  # the quick profile on its own data
    other_data: str  # {dataset}: the quick profile on another dataset
    foreign_dataset: str  # {dataset}: a paper profile on another dataset


class Suite(ABC):
    name: ClassVar[str]
    consumes: ClassVar[str]  # the algorithms' data kind: "batches" | "episodes"
    data_kind: ClassVar[str]  # the dataset registry's kind: "supervised" | "episodic"
    default_profile: ClassVar[str]
    unit: ClassVar[str]  # what one history record counts: "epoch" | "iteration"
    profiles: ClassVar[dict[str, list[Any]]]
    descriptions: ClassVar[dict[str, str]]
    style: ClassVar[Style]
    notes: ClassVar[ScaleNotes]
    bn_modes: ClassVar[tuple[str, ...]] = ()  # --bn-eval choices; the first is the default
    reduced_profiles: ClassVar[tuple[str, ...]] = ()  # named reduced-scale profiles: their runs are labelled "reduced"
    # profiles that give every algorithm one budget (their tables say so instead of "the papers' hyperparameters")
    comparative_profiles: ClassVar[tuple[str, ...]] = ()
    # the suite's protocol version, recorded with every run (tag ``protocol``; runs without it are version 1);
    # ``protocol_history[v]`` says what runs of an earlier version v did differently
    protocol_version: ClassVar[int] = 1
    protocol_history: ClassVar[dict[int, str]] = {}

    # -- plan ---------------------------------------------------------------------
    def cost(self, spec) -> float:
        """A rough relative cost of a run (``--workers`` hands out the costliest cells first)."""
        return 1.0

    def blocks(self, profile: str) -> list[Any]:
        try:
            return [replace(b) for b in self.profiles[profile]]
        except KeyError:
            raise ValueError(f"unknown profile {profile!r} for suite {self.name}; valid: {', '.join(self.profiles)}") from None

    def block_for(self, profile: str, dataset: str, data_root: str | None) -> Any:
        """The block whose protocol a dataset outside the profile follows; the profile's
        first block by default."""
        bs = self.blocks(profile)
        return next((b for b in bs if b.dataset == dataset), bs[0])

    @abstractmethod
    def cells(self, block: Any, o: Any) -> Iterator[Cell]:
        """The block's (model, algorithm[, setting]) cells in run order, under overrides ``o``."""

    # -- data ---------------------------------------------------------------------
    @abstractmethod
    def data_key(self, spec) -> tuple:
        """What identifies the loaded data (runs with equal keys share one load)."""

    @abstractmethod
    def load(self, spec) -> Any:
        """Load the spec's dataset (raises ``datasets.DataError`` with what to do)."""

    def view(self, spec, data: Any) -> Any:
        """The spec's view of loaded data (a subset, other preprocessing)."""
        return data

    def check_model(self, name: str) -> None:  # noqa: B027 - every model fits the standard suite
        """Raise ValueError (one line) if the suite cannot train this model."""

    def check(self, spec, data: Any) -> None:  # noqa: B027 - most suites have nothing to check
        """Raise ValueError (one line) if the spec cannot run on this data."""

    @abstractmethod
    def outputs(self, spec, data: Any) -> int:
        """Size of the model's classifier."""

    @abstractmethod
    def data_info(self, spec, data: Any) -> dict[str, str]:
        """The data's sizes as MLflow tags."""

    def data_tags(self, spec, data: Any) -> dict[str, str]:
        tags = {"data.source": data.source, "data.paper_dataset": str(data.paper_dataset), "data.preprocess": str(data.preprocess)}
        tags |= self.data_info(spec, data)
        with torch.device("meta"):  # shapes only: no memory, no initialisation cost
            model = create_model(spec.model, self.outputs(spec, data), data.in_channels, data.image_size)
        tags["model.parameters"] = str(count_parameters(model))
        return tags

    # -- training -----------------------------------------------------------------
    session_class: ClassVar[type]  # a ``run.loop.Session``: the loop body and evaluation of one run
    history_plot: ClassVar[Any]  # (history, title, path) -> path: one run's training curves

    def session(self, spec, data: Any, device: torch.device) -> Any:
        return self.session_class(spec, data, device)

    # -- results ------------------------------------------------------------------
    @abstractmethod
    def classes(self, params: dict[str, str], tags: dict[str, str]) -> int:
        """Classes a test prediction chooses from (chance = 1 / classes), from a tracked
        run's params and tags; 0 if unknown."""

    @abstractmethod
    def headline(self, metrics: dict[str, float]) -> str:
        """One line with the run's test result."""

    def plot_history(self, history: Sequence[dict[str, float]], title: str, path: Path) -> Path:
        return type(self).history_plot(history, title, path)

    @abstractmethod
    def comparison_plot(self, results: Sequence[Any], title: str, path: Path) -> Path:
        """Every algorithm of one group of finished runs in one figure."""

    @abstractmethod
    def value_columns(self, group: Sequence[Any], runs: Sequence[Any], paper_dataset: str | None) -> dict[str, str]:
        """Console table: the result columns of one algorithm's finished ``runs`` (``group``:
        every run of the table, to decide which columns exist)."""

    def table_preamble(self, group: Sequence[Any]) -> list[str]:
        return []

    def reference(self, paper_dataset: str | None, model: str, algorithm: str, setting: str = "",
                  metric: str | None = None, bn_eval: str = "", profile: str = "") -> references.Reference | None:
        mode = bn_eval or "".join(self.bn_modes[:1])  # runs before --bn-eval ran the suite's one (first) mode
        return references.lookup(self.name, paper_dataset, model, algorithm, metric or self.style.reference_metric, setting,
                                 mode, profile)

    @abstractmethod
    def score(self, spec, data: Any, algorithm: Any, device: torch.device) -> dict[str, Any]:
        """Test metrics of already trained weights (``evaluate``), named as a run's."""

    @abstractmethod
    def protocol_elements(self, spec) -> dict[str, str]:
        """Every protocol element of a planned run, in words (``list --protocol``)."""

    def perf(self, args, device: torch.device) -> int:
        raise ValueError(f"suite {self.name} has no perf benchmark")


def own_dataset(block: Any, base: Iterable[Any]) -> bool:
    return block.dataset in {b.dataset for b in base}
