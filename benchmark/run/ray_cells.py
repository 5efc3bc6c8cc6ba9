"""``--executor ray``: the grid's cells as Ray tasks on a Ray cluster.

Each cell is one Ray task that reserves ``--task-cpus`` CPUs (and runs that many torch
threads, recorded like any run's thread count), opens the same MLflow tracking URI and
runs the cell exactly as ``run`` does on one machine: finished cells are skipped,
interrupted ones resume from their checkpoints. On a cluster of several machines the
tracking URI must be one they all reach (``mlflow server`` or PostgreSQL, README) and
``--checkpoint-dir`` a shared folder. A task that dies (its worker or node lost) marks its
run FAILED and the grid goes on; rerunning the command resumes. Ray is an optional extra:
this module imports it only when ``--executor ray`` is asked for.
"""
from __future__ import annotations

import pickle
import socket
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlparse

import torch

from .. import plugins
from ..plan import RunSpec
from ..track.stores import absolute
from .errors import ExecutorError
from .runner import RunResult
from .workers import run_cell

INSTALL = 'pip install -e ".[ray]"'
LOCAL = (None, "", "local")
_STATE: dict = {}


def _host_port(address: str) -> tuple[str, int]:
    if "://" in address:
        u = urlparse(address)
        return u.hostname or "", u.port or (10001 if u.scheme == "ray" else 6379)
    host, _, port = address.rpartition(":")
    if not host:
        return address, 6379
    try:
        return host, int(port)
    except ValueError:
        raise ExecutorError(f"--ray-address {address}: expected HOST:PORT or ray://HOST:PORT") from None


def check(address: str | None) -> None:
    """Ray importable and the cluster reachable, before anything runs."""
    try:
        import ray  # noqa: F401
    except ImportError:
        raise ExecutorError(f"--executor ray needs Ray, an optional extra: {INSTALL}") from None
    if address in LOCAL or address == "auto":
        return
    host, port = _host_port(address)
    try:
        socket.create_connection((host, port), timeout=5).close()
    except OSError as e:
        raise ExecutorError(f"--ray-address {address}: nothing answers at {host}:{port} ({e.strerror or e}); "
                            "start the cluster (`ray start --head`) or fix the address") from None


def connect(address: str | None) -> bool:
    """Join (or start, for a local cluster) Ray; True when this call started it."""
    import ray

    if ray.is_initialized():
        return False
    kw = {"include_dashboard": False} if address in LOCAL else {"address": address}
    try:
        ray.init(**kw, log_to_driver=False, logging_level="ERROR", configure_logging=False)
    except (ConnectionError, RuntimeError, ValueError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ExecutorError(f"--ray-address {address or 'local'}: Ray could not connect ({first})") from None
    return True


def stop(refs: list, grace_s: float = 30.0) -> None:
    """Cancel Ray tasks: a KeyboardInterrupt in each (its run closes itself KILLED), then, after
    ``grace_s``, a forced stop of the ones still running."""
    import ray

    for ref in refs:
        ray.cancel(ref)
    _, left = ray.wait(refs, num_returns=len(refs), timeout=grace_s) if refs else ([], [])
    for ref in left:
        ray.cancel(ref, force=True)
    if left:
        ray.wait(left, num_returns=len(left), timeout=grace_s)


def _task(spec: RunSpec | bytes, uri: str, experiment: str, device: str, threads: int, options: dict,
          plugin_payload: list | None = None) -> tuple[RunResult, str]:
    """One cell in a Ray worker process (with the driver's plugins, their source carried with the task); the tracker
    and data cache are kept for its next cell. ``spec`` comes pickled: a plugin's hyperparameter class can only be
    unpickled once the plugin is loaded here."""
    plugins.install(plugin_payload or [])
    if isinstance(spec, bytes):
        spec = pickle.loads(spec)  # noqa: S301 - our own driver's RunSpec
    key = (uri, experiment, device, threads)
    if _STATE.get("key") != key:
        from ..track.tracking import Tracker
        from .data import DataCache

        torch.set_num_threads(threads)
        _STATE.update(key=key, tracker=Tracker(uri, experiment), device=torch.device(device), cache=DataCache())
    _STATE["options"] = options
    return run_cell(spec, _STATE)


def _close_running(tracker, spec: RunSpec, status: str, why: str, parent: str | None) -> str | None:
    """The run a lost task left RUNNING (its configuration key, under this grid's parent run; a
    live run of the same cell started by another command is left alone): ended ``status``."""
    rid = None
    grid = f" and tags.`mlflow.parentRunId` = '{parent}'" if parent else ""
    for r in tracker.runs(filter_string=f"tags.config_key = '{spec.key()}' and attributes.status = 'RUNNING'{grid}"):
        rid = r.info.run_id
        tracker.set_tags(rid, {"error" if status == "FAILED" else "stopped": why[:5000]})
        tracker.end(rid, status)
    return rid


def run_ray(specs: list[RunSpec], tracker, device: torch.device, address: str | None = None, task_cpus: int = 1,
            echo: Callable[[str], None] = print, task: Callable | None = None, **options) -> list[RunResult]:
    """Every spec as a Ray task; results in the specs' order. ``options`` are ``run_grid``'s
    (checkpoint_dir, force, extra_tags, keep_weights); ``task`` replaces the cell function (tests)."""
    import ray

    check(address)
    if options.get("checkpoint_dir"):
        options["checkpoint_dir"] = str(Path(options["checkpoint_dir"]).resolve())
    started = connect(address)
    remote = ray.remote(num_cpus=task_cpus, num_gpus=1 if device.type == "cuda" else 0, max_retries=0)(task or _task)
    carried = plugins.payload()
    refs = {remote.remote(pickle.dumps(s), absolute(tracker.uri), tracker.experiment, str(device), task_cpus, options, carried): i
            for i, s in enumerate(specs)}
    results: dict[int, RunResult] = {}
    pending = list(refs)
    parent = (options.get("extra_tags") or {}).get("mlflow.parentRunId")
    try:
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            i = refs[ready[0]]
            try:
                res, line = ray.get(ready[0])
            except ray.exceptions.RayError as e:  # the task's process or node died: its run FAILED, the grid goes on
                why = f"its Ray task died: {str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__}"
                rid = _close_running(tracker, specs[i], "FAILED", why, parent)
                res = RunResult(spec=specs[i], status="FAILED", error=why, run_id=rid)
                line = f"{specs[i].run_name}: FAILED: {why}"
            results[i] = res
            echo(f"[{len(results)}/{len(specs)}] {line}")
    except BaseException:  # Ctrl-C, SIGTERM: the tasks are cancelled and their runs end KILLED
        stop(pending)
        for ref in pending:
            _close_running(tracker, specs[refs[ref]], "KILLED", "interrupted: its Ray task was cancelled", parent)
        raise
    finally:
        if started:
            ray.shutdown()
    return [results[i] for i in range(len(specs))]
