"""Execute runs: seed, load data, build model and algorithm, train, evaluate, track.

One run = dataset x model x algorithm x seed (a ``RunSpec``). Every run is an MLflow
run that ends FINISHED, FAILED or KILLED; a failure is reported in one line and the
rest of the grid carries on.
"""
from __future__ import annotations

import math
import signal
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from tqdm.auto import tqdm

import algorithms
import datasets
from datasets import BatchLoader, Preprocess, SupervisedData
from datasets.splits import stratified_subset

from . import provenance
from .config import RunSpec
from .models import count_parameters, create_model
from .plots import run_curves


class DivergenceError(RuntimeError):
    pass


class Terminated(BaseException):
    """Raised in the main thread on SIGTERM, so runs end KILLED like on Ctrl-C."""


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
        self._data: dict[tuple, SupervisedData] = {}

    def get(self, spec: RunSpec) -> SupervisedData:
        key = (spec.dataset, spec.data_root, spec.val_fraction)
        if key not in self._data:
            self._data[key] = datasets.get(spec.dataset, root=spec.data_root, download=spec.download, val_fraction=spec.val_fraction)
        data = self._data[key]
        if spec.train_per_class:
            data = SupervisedData(**{**data.__dict__, "train": stratified_subset(data.train, spec.train_per_class)})
        if spec.preprocess:
            data = data.with_preprocess(**spec.preprocess)
        return data


@torch.no_grad()
def evaluate(algo: algorithms.Algorithm, loader: BatchLoader, num_classes: int) -> dict[str, float]:
    """Top-1 (and top-5 where there are more than 10 classes) accuracy and mean loss."""
    algo.model.eval()
    correct1 = correct5 = 0
    loss = 0.0
    n = 0
    k = min(5, num_classes)
    for x, y in loader:
        logits = algo.predict(x)
        loss += torch.nn.functional.cross_entropy(logits, y, reduction="sum").item()
        top = logits.topk(k, dim=1).indices
        correct1 += (top[:, 0] == y).sum().item()
        correct5 += (top == y[:, None]).any(1).sum().item()
        n += len(y)
    algo.model.train()
    out = {"acc": correct1 / max(n, 1), "loss": loss / max(n, 1)}
    if num_classes > 10:
        out["top5"] = correct5 / max(n, 1)
    return out


def _seed_all(seed: int) -> None:
    torch.manual_seed(seed)


def train_supervised(
    spec: RunSpec,
    data: SupervisedData,
    device: torch.device,
    on_epoch: Callable[[dict[str, float]], None],
    progress: bool = True,
) -> list[dict[str, float]]:
    """Train one batch-consuming algorithm; returns the per-epoch history."""
    _seed_all(spec.seed)
    model = create_model(spec.model, data.num_classes, data.in_channels, data.image_size).to(device)
    algo = algorithms.create(spec.algorithm, model, **spec.hparams)
    sched = torch.optim.lr_scheduler.MultiStepLR(algo.optimizer, milestones=spec.milestones, gamma=spec.lr_gamma)
    gen = torch.Generator().manual_seed(10_000 + spec.seed)
    pre: Preprocess = data.preprocess
    train = BatchLoader(data.train, spec.batch_size, pre, train=True, generator=gen, device=device)
    val = BatchLoader(data.val, 512, pre, train=False, device=device)
    test = BatchLoader(data.test, 512, pre, train=False, device=device)
    steps_per_epoch = len(train)
    total = spec.epochs * steps_per_epoch
    if spec.max_steps:
        total = min(total, spec.max_steps)
    history: list[dict[str, float]] = []
    step = 0
    last_finite = float("nan")
    bar = tqdm(total=total, desc=spec.run_name, leave=False, disable=None if progress else True, unit="step")
    try:
        for epoch in range(1, spec.epochs + 1):
            t0 = time.perf_counter()
            sums: dict[str, float] = {}
            n_steps = 0
            for x, y in train:
                stats = algo.train_step((x, y))
                step += 1
                n_steps += 1
                loss = stats["loss"]
                if not math.isfinite(loss):
                    raise DivergenceError(
                        f"loss became {loss} at epoch {epoch}, step {step}; last finite loss {last_finite:.4g}"
                    )
                last_finite = loss
                for k, v in stats.items():
                    sums[k] = sums.get(k, 0.0) + float(v)
                bar.update(1)
                if step >= total:
                    break
            lr = algo.optimizer.param_groups[0]["lr"]
            sched.step()
            train_time = time.perf_counter() - t0
            rec: dict[str, float] = {"epoch": epoch, "step": step, "lr": lr, "epoch_time": train_time}
            rec["train_loss"] = sums.get("train_loss", 0.0) / max(n_steps, 1)
            rec["objective"] = sums.get("loss", 0.0) / max(n_steps, 1)
            rec["train_acc"] = sums.get("train_correct", 0.0) / max(sums.get("train_count", 1.0), 1.0)
            for k in ("grad_agreement", "alpha_weighted_agreement", "loss_j"):
                if k in sums:
                    rec[k] = sums[k] / max(n_steps, 1)
            rec.update(algo.epoch_metrics())
            for split, loader in (("val", val), ("test", test)):
                ev = evaluate(algo, loader, data.num_classes)
                rec[f"{split}_acc"] = ev["acc"]
                rec[f"{split}_loss"] = ev["loss"]
                if "top5" in ev:
                    rec[f"{split}_top5"] = ev["top5"]
            history.append(rec)
            on_epoch(rec)
            bar.set_postfix(loss=f"{rec['train_loss']:.3f}", val=f"{100 * rec['val_acc']:.1f}%")
            if step >= total:
                break
    finally:
        bar.close()
    return history


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


def execute(spec: RunSpec, tracker, device: torch.device, cache: DataCache, progress: bool = True) -> RunResult:
    """Run one spec under MLflow tracking; never leaves the MLflow run RUNNING."""
    t_start = time.perf_counter()
    result = RunResult(spec=spec, status="RUNNING")
    tags = {
        "suite": spec.suite, "profile": spec.profile, "scale": spec.scale, "scale_note": spec.scale_note,
        "dataset": spec.dataset, "model": spec.model, "algorithm": spec.algorithm, "seed": str(spec.seed),
        "config_key": spec.key(), "git_commit": provenance.git_commit(),
        **provenance.hardware(device),
    }
    run_id = tracker.start(spec.run_name, spec.flat_params(), tags) if tracker else None
    result.run_id = run_id
    try:
        data = cache.get(spec)
        if tracker:
            tracker.set_tags(run_id, {
                "data.source": data.source, "data.paper_dataset": str(data.paper_dataset),
                "data.train_size": str(len(data.train)), "data.val_size": str(len(data.val)),
                "data.test_size": str(len(data.test)), "data.num_classes": str(data.num_classes),
                "data.preprocess": str(data.preprocess),
                "model.parameters": str(count_parameters(
                    create_model(spec.model, data.num_classes, data.in_channels, data.image_size))),
            })

        def on_epoch(rec: dict[str, float]) -> None:
            result.history.append(rec)
            if tracker:
                tracker.log_metrics(run_id, {k: v for k, v in rec.items() if k != "epoch"}, step=int(rec["epoch"]))

        train_supervised(spec, data, device, on_epoch, progress=progress)
        result.metrics = final_metrics(result.history)
        result.status = "FINISHED"
    except (KeyboardInterrupt, Terminated) as e:
        result.status, result.error = "KILLED", f"interrupted ({type(e).__name__})"
        _close(tracker, result, t_start)
        raise
    except DivergenceError as e:
        result.status, result.error = "FAILED", f"diverged: {e}"
    except datasets.DataError:
        _close(tracker, result, t_start, status="FAILED", error_text=traceback.format_exc())
        raise
    except Exception as e:  # the grid carries on; the traceback is kept as an artifact
        result.status, result.error = "FAILED", f"{type(e).__name__}: {e}"
        result.metrics["traceback"] = traceback.format_exc()  # type: ignore[assignment]
    _close(tracker, result, t_start)
    return result


def _close(tracker, result: RunResult, t_start: float, status: str | None = None, error_text: str | None = None) -> None:
    result.wall_time = time.perf_counter() - t_start
    if status:
        result.status = status
    if not tracker or result.run_id is None:
        return
    rid = result.run_id
    tb = error_text or result.metrics.pop("traceback", None)  # type: ignore[arg-type]
    try:
        if result.metrics:
            tracker.log_metrics(rid, {k: v for k, v in result.metrics.items() if isinstance(v, (int, float))}, step=0)
        tracker.log_metrics(rid, {"wall_time_s": result.wall_time}, step=0)
        tracker.log_json(rid, result.spec.to_dict(), "config.json")
        tracker.log_json(rid, {"status": result.status, "error": result.error, **result.metrics, "wall_time_s": result.wall_time}, "metrics.json")
        if result.history:
            with tempfile.TemporaryDirectory() as d:
                p = run_curves(result.history, f"{result.spec.run_name} ({result.spec.scale})", Path(d) / "training_curves.png")
                tracker.log_artifact(rid, p)
            tracker.log_json(rid, result.history, "history.json")
        if tb:
            tracker.log_text(rid, tb, "traceback.txt")
        if result.error:
            tracker.set_tags(rid, {"error": result.error[:5000]})
    finally:
        tracker.end(rid, result.status if result.status in ("FINISHED", "FAILED", "KILLED") else "FAILED")


def install_signal_handlers() -> None:
    signal.signal(signal.SIGTERM, _on_term)


def run_grid(
    specs: list[RunSpec], tracker, device: torch.device, progress: bool = True,
    echo: Callable[[str], None] = print, cache: DataCache | None = None,
) -> list[RunResult]:
    cache = cache or DataCache()
    results = []
    for i, spec in enumerate(specs, 1):
        res = execute(spec, tracker, device, cache, progress=progress)
        results.append(res)
        if res.status == "FINISHED":
            m = res.metrics
            echo(
                f"[{i}/{len(specs)}] {spec.run_name}: test {100 * m['final_test_acc']:.2f}% "
                f"(val {100 * m['final_val_acc']:.2f}%) in {res.wall_time:.1f} s",
                flush=True,
            )
        else:
            echo(f"[{i}/{len(specs)}] {spec.run_name}: {res.status}: {res.error}")
    return results
