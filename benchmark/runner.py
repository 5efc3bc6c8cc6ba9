"""Execute runs: load data once, train (``loops``), evaluate, track.

One run = dataset x model x algorithm x seed (x setting in the few-shot suite). Every
run is an MLflow run that ends FINISHED, FAILED or KILLED; a failure is reported in one
line and the rest of the grid carries on.
"""
from __future__ import annotations

import signal
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

import datasets
from datasets import EpisodicData, SupervisedData
from datasets.splits import stratified_subset

from . import checkpoint, provenance
from .checkpoint import CorruptCheckpointError
from .config import RunSpec
from .loops import DivergenceError, episodic_hparams, train_episodic, train_supervised
from .models import count_parameters, create_model
from .plots import run_curves


class Terminated(BaseException):
    """Raised in the main thread on SIGTERM, so runs end KILLED like on Ctrl-C."""


class StopRun(BaseException):
    """Raised by an ``on_progress`` callback to stop a run early (a pruned tuning trial);
    the MLflow run ends KILLED with the tag ``stopped``."""


@dataclass
class RunResult:
    spec: RunSpec
    status: str
    metrics: dict[str, float] = field(default_factory=dict)
    history: list[dict[str, float]] = field(default_factory=list)
    run_id: str | None = None
    error: str | None = None
    wall_time: float = 0.0


class DataCache:
    """Load each dataset once per process."""

    def __init__(self) -> None:
        self._data: dict[tuple, SupervisedData | EpisodicData] = {}

    def get(self, spec: RunSpec) -> SupervisedData | EpisodicData:
        if spec.episodic:
            key = ("episodic", spec.dataset, spec.data_root)
            if key not in self._data:
                self._data[key] = datasets.get_episodic(spec.dataset, root=spec.data_root, download=spec.download)
            return self._data[key]
        key = (spec.dataset, spec.data_root, spec.val_fraction)
        if key not in self._data:
            self._data[key] = datasets.get(spec.dataset, root=spec.data_root, download=spec.download, val_fraction=spec.val_fraction)
        data = self._data[key]
        if spec.train_per_class:
            data = SupervisedData(**{**data.__dict__, "train": stratified_subset(data.train, spec.train_per_class)})
        if spec.preprocess:
            data = data.with_preprocess(**spec.preprocess)
        return data


def final_metrics(history: list[dict[str, float]]) -> dict[str, float]:
    """The last epoch's numbers (the paper's protocol: no selection on test), plus the
    validation-selected epoch for reference."""
    last = history[-1]
    out = {f"final_{k}": v for k, v in last.items() if k not in ("epoch", "step", "lr", "epoch_time")}
    best = max(history, key=lambda h: h["val_acc"])
    out["best_val_acc"] = best["val_acc"]
    out["best_val_epoch"] = best["epoch"]
    out["test_acc_at_best_val"] = best["test_acc"]
    out["epochs_run"] = last["epoch"]
    out["steps_run"] = last["step"]
    out["train_time_s"] = sum(h["epoch_time"] for h in history)
    return out


def _on_term(signum, frame):  # pragma: no cover - exercised by subprocess tests
    raise Terminated(f"signal {signum}")


def install_signal_handlers() -> None:
    signal.signal(signal.SIGTERM, _on_term)


def _data_tags(spec: RunSpec, data) -> dict[str, str]:
    tags = {"data.source": data.source, "data.paper_dataset": str(data.paper_dataset), "data.preprocess": str(data.preprocess)}
    if isinstance(data, EpisodicData):
        for k, v in data.splits.items():
            tags[f"data.{k}_classes"] = str(v.num_classes)
            tags[f"data.{k}_images"] = str(len(v))
        tags.update({f"data.{k}": str(v) for k, v in data.info.items()})
        n_out = spec.ways
    else:
        tags.update({"data.train_size": str(len(data.train)), "data.val_size": str(len(data.val)),
                     "data.test_size": str(len(data.test)), "data.num_classes": str(data.num_classes)})
        n_out = data.num_classes
    with torch.device("meta"):  # shapes only: no memory, no initialisation cost
        tags["model.parameters"] = str(count_parameters(create_model(spec.model, n_out, data.in_channels, data.image_size)))
    return tags


def execute(
    spec: RunSpec, tracker, device: torch.device, cache: DataCache, progress: bool = True,
    checkpoint_dir: str | Path | None = None, force: bool = False,
    on_progress: Callable[[dict[str, float]], None] | None = None, extra_tags: dict[str, str] | None = None,
) -> RunResult:
    """Run one spec under MLflow tracking; never leaves the MLflow run RUNNING.

    With ``checkpoint_dir``, the run checkpoints after every epoch (every ``val_every``
    meta-iterations) and continues from an existing checkpoint into the same MLflow run,
    unless ``force``."""
    t_start = time.perf_counter()
    result = RunResult(spec=spec, status="RUNNING")
    ckpt = checkpoint.path_for(checkpoint_dir, spec.key()) if checkpoint_dir else None
    resume = None
    if ckpt and force:
        checkpoint.remove(ckpt)
    if ckpt and ckpt.is_file():
        try:
            resume = checkpoint.load(ckpt)
        except CorruptCheckpointError as e:
            result.status, result.error = "FAILED", str(e)
            if tracker:
                result.run_id = tracker.start(spec.run_name, spec.flat_params(), {"config_key": spec.key(), "error": str(e)})
            _close(tracker, result, t_start)
            return result
    tags = {
        "suite": spec.suite, "profile": spec.profile, "scale": spec.scale, "scale_note": spec.scale_note,
        "dataset": spec.dataset, "model": spec.model, "algorithm": spec.algorithm, "seed": str(spec.seed),
        "setting": spec.setting, "config_key": spec.key(), "git_commit": provenance.git_commit(),
        **provenance.hardware(device), **(extra_tags or {}),
    }
    run_id = None
    if resume and tracker and resume.get("run_id") and tracker.reopen(resume["run_id"]):
        run_id = resume["run_id"]
        tracker.set_tags(run_id, {"resumed_from": str(resume.get("epoch", resume.get("iteration")))})
    elif tracker:
        run_id = tracker.start(spec.run_name, spec.flat_params(), tags)
    if resume:
        result.history = list(resume["history"])
    result.run_id = run_id

    def on_checkpoint(state: dict) -> None:
        if ckpt:
            checkpoint.save(ckpt, {**state, "run_id": run_id or ""})

    try:
        data = cache.get(spec)
        if tracker:
            tracker.set_tags(run_id, _data_tags(spec, data))

        def on_record(rec: dict[str, float]) -> None:
            result.history.append(rec)
            if tracker:
                step = int(rec.get("epoch", rec.get("iteration", 0)))
                tracker.log_metrics(run_id, {k: v for k, v in rec.items() if k not in ("epoch", "iteration")}, step=step)
            if on_progress:
                on_progress(rec)

        if spec.episodic:
            if tracker:
                resolved = episodic_hparams(spec, data)
                tracker.set_tags(run_id, {f"resolved.{k}": str(v) for k, v in resolved.items() if spec.hparams.get(k) != v})
            result.metrics = train_episodic(spec, data, device, on_record, progress, resume, on_checkpoint)
        else:
            train_supervised(spec, data, device, on_record, progress, resume, on_checkpoint)
            result.metrics = final_metrics(result.history)
        result.status = "FINISHED"
        if ckpt:
            checkpoint.remove(ckpt)
    except StopRun as e:
        result.status, result.error = "KILLED", f"stopped: {e}"
        if tracker:
            tracker.set_tags(run_id, {"stopped": str(e)})
        if ckpt:
            checkpoint.remove(ckpt)
        _close(tracker, result, t_start)
        raise
    except (KeyboardInterrupt, Terminated) as e:
        result.status, result.error = "KILLED", f"interrupted ({type(e).__name__})"
        _close(tracker, result, t_start)
        raise
    except DivergenceError as e:
        result.status, result.error = "FAILED", f"diverged: {e}"
        if ckpt:
            checkpoint.remove(ckpt)  # resuming would diverge again
    except datasets.DataError:
        _close(tracker, result, t_start, status="FAILED", error_text=traceback.format_exc())
        raise
    except Exception as e:  # the grid carries on; the traceback is kept as an artifact
        result.status, result.error = "FAILED", f"{type(e).__name__}: {e}"
        _close(tracker, result, t_start, error_text=traceback.format_exc())
        return result
    _close(tracker, result, t_start)
    return result


def _close(tracker, result: RunResult, t_start: float, status: str | None = None, error_text: str | None = None) -> None:
    result.wall_time = time.perf_counter() - t_start
    if status:
        result.status = status
    if not tracker or result.run_id is None:
        return
    rid = result.run_id
    try:
        per_episode = result.metrics.pop("test_episode_acc", None)
        if per_episode is not None:
            tracker.log_json(rid, per_episode, "test_episode_acc.json")
        numeric = {k: v for k, v in result.metrics.items() if isinstance(v, (int, float))}
        tracker.log_metrics(rid, {**numeric, "wall_time_s": result.wall_time}, step=0)
        text = {k: str(v) for k, v in result.metrics.items() if not isinstance(v, (int, float))}
        if text:
            tracker.set_tags(rid, text)
        tracker.log_json(rid, result.spec.to_dict(), "config.json")
        tracker.log_json(rid, {"status": result.status, "error": result.error, **result.metrics, "wall_time_s": result.wall_time}, "metrics.json")
        if result.history:
            tracker.log_json(rid, result.history, "history.json")
            if not result.spec.episodic:
                with tempfile.TemporaryDirectory() as d:
                    p = run_curves(result.history, f"{result.spec.run_name} ({result.spec.scale})", Path(d) / "training_curves.png")
                    tracker.log_artifact(rid, p)
            else:
                from .plots import episodic_curves

                with tempfile.TemporaryDirectory() as d:
                    p = episodic_curves(result.history, f"{result.spec.run_name} ({result.spec.scale})", Path(d) / "training_curves.png")
                    tracker.log_artifact(rid, p)
        if error_text:
            tracker.log_text(rid, error_text, "traceback.txt")
        if result.error:
            tracker.set_tags(rid, {"error": result.error[:5000]})
    finally:
        tracker.end(rid, result.status if result.status in ("FINISHED", "FAILED", "KILLED") else "FAILED")


def headline(res: RunResult) -> str:
    m = res.metrics
    if res.spec.episodic:
        return f"test {100 * m['test_acc']:.2f}% +- {100 * m['test_ci95']:.2f} ({int(m['test_episodes'])} episodes)"
    return f"test {100 * m['final_test_acc']:.2f}% (val {100 * m['final_val_acc']:.2f}%)"


def finished_result(spec: RunSpec, run, tracker) -> RunResult:
    """A RunResult rebuilt from a FINISHED MLflow run (for skipped runs' tables and plots)."""
    try:
        history = tracker.load_json_artifact(run.info.run_id, "history.json")
    except Exception:
        history = []
    metrics = dict(run.data.metrics)
    if "test_episodes_fingerprint" in run.data.tags:
        metrics["test_episodes_fingerprint"] = run.data.tags["test_episodes_fingerprint"]
    return RunResult(spec=spec, status="FINISHED", metrics=metrics, history=history, run_id=run.info.run_id,
                     wall_time=metrics.get("wall_time_s", 0.0))


def run_grid(
    specs: list[RunSpec], tracker, device: torch.device, progress: bool = True,
    echo: Callable[[str], None] = print, cache: DataCache | None = None,
    checkpoint_dir: str | Path | None = None, force: bool = False,
) -> list[RunResult]:
    """Run every spec; unless ``force``, a spec whose resolved configuration already has a
    FINISHED run is skipped (its results are reused) and an interrupted one continues
    from its checkpoint."""
    cache = cache or DataCache()
    results = []
    done = tracker.finished_by_key() if (tracker and not force) else {}
    skipped = 0
    for i, spec in enumerate(specs, 1):
        if spec.key() in done:
            res = finished_result(spec, done[spec.key()], tracker)
            results.append(res)
            skipped += 1
            echo(f"[{i}/{len(specs)}] {spec.run_name}: already finished (run {res.run_id[:8]}), skipped")
            continue
        res = execute(spec, tracker, device, cache, progress=progress, checkpoint_dir=checkpoint_dir, force=force)
        results.append(res)
        if res.status == "FINISHED":
            echo(f"[{i}/{len(specs)}] {spec.run_name}: {headline(res)} in {res.wall_time:.1f} s")
        else:
            echo(f"[{i}/{len(specs)}] {spec.run_name}: {res.status}: {res.error}")
    if skipped:
        echo(f"skipped {skipped} of {len(specs)} runs that had already finished with the same configuration (--force reruns them)")
    return results
