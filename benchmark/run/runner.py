"""Execute runs: load data once, train (``loop.train`` with the suite's session),
track. One run = dataset x model x algorithm x seed (x setting). Every run is an MLflow
run that ends FINISHED, FAILED or KILLED; a failure is reported in one line and the rest
of the grid carries on.
"""
from __future__ import annotations

import contextlib
import os
import shlex
import signal
import socket
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

import datasets

from .. import plugins
from ..plan import RunSpec, precision
from ..suites import get_suite
from ..track import deferral, provenance
from . import checkpoint, weights
from .checkpoint import CorruptCheckpointError
from .data import DataCache
from .loop import DivergenceError, train


class Terminated(KeyboardInterrupt):
    """Raised in the main thread on SIGTERM, so runs end KILLED like on Ctrl-C (and
    libraries that clean up after a KeyboardInterrupt, such as Optuna failing the
    current trial, do so on SIGTERM too). Catch it before KeyboardInterrupt."""


class Interrupted(KeyboardInterrupt):
    """Raised in the main thread on SIGINT instead of a plain KeyboardInterrupt. CPython
    (3.11) remembers a plain KeyboardInterrupt that crossed any C-level ``PyRun_*`` call,
    even one the program caught, and then exits by re-raising SIGINT (status -2) instead
    of the program's own status 130; it only remembers the exact type, not a subclass."""


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
    # wall seconds of earlier processes of a resumed run, up to its checkpoint (the run's cost is their sum)
    prior_wall: float = 0.0
    started: float = 0.0  # this process's perf_counter at the run's start
    keep_weights: str = "both"
    trained: tuple | None = field(default=None, repr=False)  # (algorithm, best, data) of a run trained to the end (FINISHED, or diverged at test), for its weights


def _on_term(signum, frame):  # pragma: no cover - exercised by subprocess tests
    if not deferral.defer(signum):  # inside a store write: raised again at its end
        raise Terminated(f"signal {signum}")


def _on_int(signum, frame):  # pragma: no cover - exercised by subprocess tests
    if not deferral.defer(signum):
        raise Interrupted(f"signal {signum}")


def install_signal_handlers() -> None:
    signal.signal(signal.SIGTERM, _on_term)
    signal.signal(signal.SIGINT, _on_int)


def run_tags(spec: RunSpec, device: torch.device, extra: dict[str, str] | None = None) -> dict[str, str]:
    return {
        "suite": spec.suite, "profile": spec.profile, "scale": spec.scale, "scale_note": spec.scale_note,
        "dataset": spec.dataset, "model": spec.model, "algorithm": spec.algorithm, "seed": str(spec.seed),
        "setting": spec.setting, "config_key": spec.key(), "git_commit": provenance.git_commit(),
        "protocol": str(get_suite(spec.suite).protocol_version),
        **provenance.hardware(device), **process_tags(), **(extra or {}),
        **({"plugins": plugins.provenance()} if plugins.provenance() else {}),
    }


def process_tags() -> dict[str, str]:
    """Who runs it: a run left RUNNING by a dead process is recognised on the next start."""
    return {"host": socket.gethostname(), "pid": str(os.getpid())}


def _open(spec: RunSpec, tracker, device, ckpt: Path | None, force: bool, result: RunResult, extra_tags) -> dict | None:
    """Start (or reopen, when a checkpoint names it) the MLflow run; return the checkpoint
    state to resume from. A corrupt checkpoint fails the run (``result.status``)."""
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
            return None
    if resume and tracker and resume.get("run_id") and tracker.reopen(resume["run_id"]):
        result.run_id = resume["run_id"]
        tracker.set_tags(result.run_id, {"resumed_from": str(resume["position"]["round"]), **process_tags()})
    elif tracker:
        result.run_id = tracker.start(spec.run_name, spec.flat_params(), run_tags(spec, device, extra_tags))
    if resume:
        result.history = list(resume["history"])
        result.prior_wall = float(resume.get("wall_time_s", 0.0))
    return resume


def _train(spec: RunSpec, tracker, device, cache: DataCache, result: RunResult, progress: bool, resume: dict | None,
           ckpt: Path | None, on_progress) -> None:
    suite = get_suite(spec.suite)
    data = cache.get(spec)
    if tracker:
        tracker.set_tags(result.run_id, suite.data_tags(spec, data))

    # the machine's 1-minute load average at each record: did the run share the machine? (kept across a resume, so
    # the average covers every process of the run, not only the last)
    loads: list[float] = list(resume.get("machine_loads", [])) if resume else []

    def on_record(rnd: int, rec: dict[str, float]) -> None:
        result.history.append(rec)
        if hasattr(os, "getloadavg"):
            loads.append(os.getloadavg()[0])
        if tracker:
            tracker.log_metrics(result.run_id, {k: v for k, v in rec.items() if k != suite.unit}, step=rnd)
        if on_progress:
            on_progress(rnd, rec)

    def on_checkpoint(state: dict) -> None:
        if ckpt:
            checkpoint.save(ckpt, {**state, "run_id": result.run_id or "", "machine_loads": list(loads),
                                   "wall_time_s": result.prior_wall + time.perf_counter() - result.started})

    session = suite.session(spec, data, device)
    precision.prepare(spec.precision, session.algorithm, device)
    best: dict = {}
    try:
        with precision.autocast(spec.precision, device):
            result.metrics = train(session, spec.run_name, on_record, progress, resume, on_checkpoint, best)
    except DivergenceError as e:
        if e.after_training:  # trained to the end, diverged at its last scoring: the FAILED run keeps weights and cost
            result.trained = (session.algorithm, best, data)
            steps = "meta_iterations_run" if suite.unit == "iteration" else "steps_run"
            result.metrics = {"train_time_s": e.position.train_time, steps: e.position.step}
        raise
    finally:
        if loads:
            result.metrics["machine_load"] = sum(loads) / len(loads)
    result.trained = (session.algorithm, best, data)
    result.status = "FINISHED"


def execute(
    spec: RunSpec, tracker, device: torch.device, cache: DataCache, progress: bool = True,
    checkpoint_dir: str | Path | None = None, force: bool = False,
    on_progress: Callable[[int, dict[str, float]], None] | None = None, extra_tags: dict[str, str] | None = None,
    keep_weights: str = "both",
) -> RunResult:
    """Run one spec under MLflow tracking; never leaves the MLflow run RUNNING.

    With ``checkpoint_dir``, the run checkpoints at every evaluation point and continues
    from an existing checkpoint into the same MLflow run, unless ``force``."""
    t_start = time.perf_counter()
    result = RunResult(spec=spec, status="RUNNING", keep_weights=keep_weights, started=t_start)
    ckpt = _checkpoint_path(checkpoint_dir, spec, tracker)
    resume = _open(spec, tracker, device, ckpt, force, result, extra_tags)
    if result.status == "FAILED":
        close_run(tracker, result, t_start)
        return result
    try:
        _train(spec, tracker, device, cache, result, progress, resume, ckpt, on_progress)
    except StopRun as e:
        result.status, result.error = "KILLED", f"stopped: {e}"
        if tracker:
            tracker.set_tags(result.run_id, {"stopped": str(e)})
        _remove(ckpt)
        close_run(tracker, result, t_start)
        raise
    except (KeyboardInterrupt, Terminated) as e:
        result.status, result.error = "KILLED", f"interrupted ({type(e).__name__})"
        close_run(tracker, result, t_start)
        raise
    except DivergenceError as e:
        result.status, result.error = "FAILED", f"diverged: {e}"
        if not result.trained:
            _remove(ckpt)  # resuming would diverge again (trained to the end: removed once its weights are written)
    except datasets.DataError:
        close_run(tracker, result, t_start, status="FAILED", error_text=traceback.format_exc())
        raise
    except Exception as e:  # the grid carries on; the traceback is kept as an artifact
        result.status, result.error = "FAILED", f"{type(e).__name__}: {e}"
        close_run(tracker, result, t_start, error_text=traceback.format_exc())
        return result
    close_run(tracker, result, t_start)
    if result.status == "FINISHED" or (result.error or "").startswith("diverged: "):
        _remove(ckpt)  # written: a run whose results could not be written keeps its checkpoint
    return result


def _checkpoint_path(folder: str | Path | None, spec: RunSpec, tracker) -> Path | None:
    if not folder:
        return None
    return checkpoint.path_for(folder, spec.key(), f"{tracker.uri}#{tracker.experiment}" if tracker else "")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def close_orphans(tracker, specs: list[RunSpec], checkpoint_dir: str | Path | None) -> int:
    """Runs of this experiment left RUNNING by a process of this host that is gone
    (SIGKILL, a lost session): KILLED, unless a checkpoint of this grid names them, in
    which case the grid resumes them. Runs of live processes or other hosts are left alone."""
    keys = {s.key(): s for s in specs}
    closed = 0
    for r in tracker.runs(filter_string="attributes.status = 'RUNNING'"):
        t = r.data.tags
        if t.get("host") != socket.gethostname() or _alive(int(t.get("pid", "0") or 0)):
            continue
        ckpt = _checkpoint_path(checkpoint_dir, keys[t["config_key"]], tracker) if t.get("config_key") in keys else None
        if ckpt and ckpt.is_file():
            try:
                if checkpoint.load(ckpt).get("run_id") == r.info.run_id:
                    continue  # execute() reopens and continues it
            except CorruptCheckpointError:
                pass
        tracker.set_tags(r.info.run_id, {"stopped": f"its process {t.get('pid')} on {t.get('host')} died without closing it"})
        tracker.end(r.info.run_id, "KILLED")
        closed += 1
    return closed


def _remove(ckpt: Path | None) -> None:
    if ckpt:
        checkpoint.remove(ckpt)


def _kept_after_divergence(tracker, result: RunResult, kept: dict[str, float]) -> None:
    """A run that trained to the end and diverged at its last scoring: tagged so that ``evaluate --run`` scores its
    weights, and its reason says how (the weights its test scored, where kept)."""
    rid = result.run_id
    tracker.set_tags(rid, {"diverged_after_training": "1"})
    best = result.spec.test_weights == "best-val" or "weights_final_mb" not in kept
    which = "best" if best and "weights_best_mb" in kept else "final"
    result.error += (f"; training ended, so its {which} weights are kept: score them with other test-time settings by "
                     f"`python -m benchmark evaluate --run {rid} --weights {which} --tracking-uri {shlex.quote(tracker.uri)} "
                     "--set KEY=VALUE`")


def _log_results(tracker, result: RunResult, error_text: str | None) -> None:
    rid, spec = result.run_id, result.spec
    per_episode = result.metrics.pop("test_episode_acc", None)
    if per_episode is not None:
        tracker.log_json(rid, per_episode, "test_episode_acc.json")
    if result.trained:  # a FINISHED run, or a FAILED one that diverged only at test (``_train``)
        algo, best, data = result.trained
        kept = weights.save(tracker, rid, spec, algo, best, result.keep_weights, data)
        result.metrics.update(kept)
        if result.status == "FAILED" and kept:
            _kept_after_divergence(tracker, result, kept)
        result.trained = None  # the weights are logged; the grid does not hold every model in memory
    numeric = {k: v for k, v in result.metrics.items() if isinstance(v, (int, float))}
    tracker.log_metrics(rid, {**numeric, "wall_time_s": result.wall_time}, step=0)
    text = {k: str(v) for k, v in result.metrics.items() if not isinstance(v, (int, float))}
    if text:
        tracker.set_tags(rid, text)
    tracker.log_json(rid, spec.to_dict(), "config.json")
    tracker.log_json(rid, {"status": result.status, "error": result.error, **result.metrics, "wall_time_s": result.wall_time}, "metrics.json")
    if result.history:
        tracker.log_json(rid, result.history, "history.json")
        with tempfile.TemporaryDirectory() as d:
            path = get_suite(spec.suite).plot_history(result.history, f"{spec.run_name} ({spec.scale})", Path(d) / "training_curves.png")
            tracker.log_artifact(rid, path)
    if error_text:
        tracker.log_text(rid, error_text, "traceback.txt")
    if result.error:
        tracker.set_tags(rid, {"error": result.error[:5000]})


def close_run(tracker, result: RunResult, t_start: float, status: str | None = None, error_text: str | None = None) -> None:
    """Log the run's results and artifacts and end its MLflow run (never left RUNNING);
    shared by training runs and ``evaluate``'s new runs."""
    result.wall_time = result.prior_wall + time.perf_counter() - t_start  # a resumed run: every process's share
    if status:
        result.status = status
    if not tracker or result.run_id is None:
        return
    try:
        _log_results(tracker, result, error_text)
    except (OSError, RuntimeError) as e:  # a full disk or a permission (torch.save says so as a RuntimeError)
        result.status = "FAILED"  # never FINISHED without the weights and results --keep-weights promises
        result.error = f"its results could not be written ({artifact_failure(e, tracker, result.run_id)}); free space or fix the permission " \
                       "and rerun the same command (the run resumes from its checkpoint)"
        with contextlib.suppress(Exception):
            tracker.set_tags(result.run_id, {"error": result.error[:5000]})
    finally:
        tracker.end(result.run_id, result.status if result.status in ("FINISHED", "FAILED", "KILLED") else "FAILED")


def artifact_failure(e: BaseException, tracker, run_id: str) -> str:
    """The file (else the run's artifact folder) and the cause of a failed write, in a few words."""
    err = e if isinstance(e, OSError) else next((c for c in _causes(e) if isinstance(c, OSError)), e)
    if isinstance(err, OSError) and err.strerror:
        where = err.filename2 or err.filename
        if not where:
            with contextlib.suppress(Exception):
                where = tracker.client.get_run(run_id).info.artifact_uri
        return f"{where or 'its artifacts'}: {err.strerror}"
    return str(err).splitlines()[0] if str(err) else type(err).__name__


def _causes(e: BaseException):
    while e is not None:
        yield e
        e = e.__cause__ or e.__context__


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
    checkpoint_dir: str | Path | None = None, force: bool = False, extra_tags: dict[str, str] | None = None,
    keep_weights: str = "both",
) -> list[RunResult]:
    """Run every spec; unless ``force``, a spec whose resolved configuration already has a
    FINISHED run is skipped (its results are reused) and an interrupted one continues
    from its checkpoint."""
    cache = cache or DataCache()
    results = []
    if tracker and (closed := close_orphans(tracker, specs, checkpoint_dir)):
        echo(f"closed {closed} run(s) left RUNNING by a process that died (marked KILLED; their configurations run again)")
    done = tracker.finished_by_key({s.key() for s in specs}) if (tracker and not force) else {}
    skipped = 0
    for i, spec in enumerate(specs, 1):
        if spec.key() in done:
            res = finished_result(spec, done[spec.key()], tracker)
            results.append(res)
            skipped += 1
            echo(f"[{i}/{len(specs)}] {spec.run_name}: already finished (run {res.run_id[:8]}), skipped")
            continue
        res = execute(spec, tracker, device, cache, progress=progress, checkpoint_dir=checkpoint_dir, force=force,
                      extra_tags=extra_tags, keep_weights=keep_weights)
        results.append(res)
        if res.status == "FINISHED":
            echo(f"[{i}/{len(specs)}] {spec.run_name}: {get_suite(spec.suite).headline(res.metrics)} in {res.wall_time:.1f} s")
        else:
            echo(f"[{i}/{len(specs)}] {spec.run_name}: {res.status}: {res.error}")
    if skipped:
        echo(f"skipped {skipped} of {len(specs)} runs that had already finished with the same configuration (--force reruns them)")
    return results
