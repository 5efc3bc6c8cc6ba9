"""``tune --workers N`` and ``tune --executor ray``: several tuning workers on the same studies.

Every worker runs ``tuning.tune`` for each study against the one Optuna storage (an RDB URL
such as PostgreSQL, or SQLite on one machine) with its own worker number, so the seeded
samplers propose different points and Optuna's ``MaxTrialsCallback`` stops all of them when
the study has its ``--trials`` finished trials: the budget is the same as with one worker.
Local workers are spawned processes with ``cores // N`` torch threads; Ray workers are Ray
tasks of ``--task-cpus`` CPUs each, logging to the same MLflow tracking URI.
"""
from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import torch

from ..plan import RunSpec
from ..track.stores import absolute


def tune_worker(studies: list[RunSpec], uri: str, experiment: str, device: str, threads: int, worker: int,
                kw: dict[str, Any]) -> list[str]:
    """One worker: every study in turn, this worker's trials of each; the summary lines."""
    from ..run.runner import install_signal_handlers
    from ..track.tracking import Tracker
    from .tuning import tune

    torch.set_num_threads(threads)
    if multiprocessing.parent_process() is not None:
        install_signal_handlers()
    tracker = Tracker(uri, experiment)
    lines: list[str] = []
    for s in studies:
        tune(s, tracker, torch.device(device), worker=worker, echo=lambda m: lines.append(f"worker {worker}: {m}"), **kw)
    return lines


def tune_parallel(studies: list[RunSpec], workers: int, tracker, device: torch.device, first_worker: int = 0,
                  executor: str = "local", address: str | None = None, task_cpus: int = 1,
                  echo: Callable[[str], None] = print, **kw) -> None:
    """``kw``: ``tune``'s budget and storage arguments (trials, timeout, storage, seed, tuned_dir, heartbeat)."""
    uri = absolute(tracker.uri)
    storage = kw["storage"]
    if storage.endswith(".log") or storage.startswith("journal:"):
        storage = "journal:" + str(Path(storage.removeprefix("journal:")).resolve())
    kw = {**kw, "storage": absolute(storage), "tuned_dir": str(Path(kw["tuned_dir"]).resolve()), "progress": False}
    if executor == "ray":
        import ray

        from ..run.ray_cells import connect, stop

        started = connect(address)
        pending: list = []
        try:
            remote = ray.remote(num_cpus=task_cpus, max_retries=0)(tune_worker)
            pending = [remote.remote(studies, uri, tracker.experiment, str(device), task_cpus, first_worker + w, kw)
                       for w in range(workers)]
            while pending:
                ready, pending = ray.wait(pending, num_returns=1)
                for line in ray.get(ready[0]):
                    echo(line)
        except BaseException:  # a worker failed, Ctrl-C, SIGTERM: the others fail their trial and close its run first
            stop(pending)
            raise
        finally:
            if started:
                ray.shutdown()
        return
    from ..run.workers import threads_per_worker

    threads = threads_per_worker(workers)
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(tune_worker, studies, uri, tracker.experiment, str(device), threads, first_worker + w, kw)
                   for w in range(workers)]
        try:
            for fut in as_completed(futures):
                for line in fut.result():
                    echo(line)
        except BaseException:
            for proc in list(getattr(pool, "_processes", {}).values()):
                if proc.is_alive():
                    proc.terminate()  # SIGTERM: each worker fails its trial and closes its run KILLED
            raise
