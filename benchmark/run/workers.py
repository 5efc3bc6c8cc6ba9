"""``run --workers N``: the grid's cells in N local processes.

Each worker is a fresh (spawned) Python process with ``cores // N`` torch threads, its
own data cache and its own connection to the same MLflow store; cells are handed out one
at a time (a slow cell does not hold up a queue behind it), and each worker runs a cell
exactly as the sequential ``run_grid`` does: finished cells are skipped, interrupted
ones resume from their checkpoints, and every run records its thread count
(``hardware.torch_threads``). A cell's numbers depend on its seed and its thread count
only, not on which worker ran it or when.
"""
from __future__ import annotations

import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace
from pathlib import Path

import torch

from .. import plugins
from ..plan import RunSpec
from ..track import deferral
from .errors import ExecutorError
from .runner import RunResult

_STATE: dict = {}


def threads_per_worker(workers: int, cores: int | None = None) -> int:
    """torch threads for each of ``workers`` processes: N x threads <= cores."""
    if cores is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cores // workers)


def die_with_parent(parent: int) -> None:
    """End this worker (SIGTERM: its run closes KILLED, as on Ctrl-C) when ``parent`` dies, even by SIGKILL, which
    the parent cannot pass on: Linux's parent-death signal, else a thread that watches the parent's pid."""
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.prctl(1, signal.SIGTERM, 0, 0, 0) == 0:  # PR_SET_PDEATHSIG
                if os.getppid() != parent:  # the parent died before the call: the signal will never come
                    os.kill(os.getpid(), signal.SIGTERM)
                return
        except (OSError, AttributeError):
            pass

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _on_term(signum, frame):
    """A worker's SIGTERM: inside a cell it ends the run KILLED (the runner's handler); idle, the worker just ends."""
    from .runner import _on_term as in_a_run

    if deferral.defer(signum):  # inside a store write: raised again at its end
        return
    if _STATE.get("busy"):
        _STATE["ending"] = 128 + signum  # after its run closes, the worker ends (see _cell), it takes no next cell
        in_a_run(signum, frame)
    os._exit(128 + signum)


def _init(uri: str, experiment: str, device: str, threads: int, options: dict, parent: int) -> None:
    from ..track.tracking import Tracker
    from .data import DataCache
    from .runner import install_signal_handlers

    torch.set_num_threads(threads)
    install_signal_handlers()
    signal.signal(signal.SIGTERM, _on_term)
    _STATE["parent"] = parent
    die_with_parent(parent)
    plugins.load_all()  # the parent's --plugin files (META_BENCHMARK_PLUGINS) and entry points
    _STATE.update(tracker=Tracker(uri, experiment), device=torch.device(device), cache=DataCache(), options=options)


def run_cell(spec: RunSpec, state: dict) -> tuple[RunResult, str]:
    """One cell in this process (a local worker or a Ray task) with its tracker, data
    cache and options; its result (without the trained objects) and its console line."""
    from .runner import run_grid

    lines: list[str] = []
    res = run_grid([spec], state["tracker"], state["device"], progress=False, echo=lines.append, cache=state["cache"],
                   **state["options"])[0]
    line = lines[-1].split("] ", 1)[-1] if lines else spec.run_name
    return replace(res, trained=None), f"{line} (pid {os.getpid()} on {socket.gethostname()}, {torch.get_num_threads()} threads)"


def _cell(spec: RunSpec) -> tuple[RunResult, str]:
    _STATE["busy"] = True
    try:
        return run_cell(spec, _STATE)
    finally:
        _STATE["busy"] = False
        if os.getppid() != _STATE["parent"]:  # orphaned (its run closed, even where a handler swallowed the signal):
            os._exit(143)  # nobody reads a result or sends a next cell
        if _STATE.get("ending"):  # told to end (its run is closed KILLED): back in the pool it would wait for a next
            os._exit(_STATE["ending"])  # cell on the queue's lock, which a worker ended while idle may have taken with it


UNGUARDED = ("a worker process died before returning its run: if a script calls the CLI with --workers, put the call "
             "under `if __name__ == \"__main__\":` (workers are spawned and re-import the script); otherwise it was "
             "killed, e.g. out of memory: try fewer --workers")


def _collect(futures: dict, results: dict, total: int, echo: Callable[[str], None]) -> None:
    for n, fut in enumerate(as_completed(futures), 1):
        res, line = fut.result()
        results[futures[fut]] = res
        echo(f"[{n}/{total}] {line}")


def _end_workers(procs: list, grace: float = 60.0) -> None:
    """SIGTERM to every worker (a busy one closes its run KILLED, then ends), then SIGKILL to any still alive after
    ``grace`` seconds: the pool's shutdown joins its workers and would otherwise wait for one forever."""
    for proc in procs:
        if proc.is_alive():
            proc.terminate()
    deadline = time.monotonic() + grace
    for proc in procs:
        proc.join(max(0.0, deadline - time.monotonic()))
        if proc.is_alive():
            proc.kill()


def end_if_bootstrapping() -> None:
    """End this process at once if it is a spawned worker still bootstrapping: one that re-imports a script calling
    the CLI or ``run_parallel`` without an ``if __name__ == "__main__":`` guard. Ended before it touches the store
    (the pool's SIGTERM used to find it mid-write, and its traceback joined the script's one line); the script's own
    process says what to do (``run_parallel``'s BrokenProcessPool message)."""
    if getattr(multiprocessing.current_process(), "_inheriting", False):
        os._exit(3)


def run_parallel(specs: list[RunSpec], workers: int, uri: str, experiment: str, device: torch.device,
                 echo: Callable[[str], None] = print, **options) -> list[RunResult]:
    """Every spec in ``workers`` processes; results in the specs' order. ``options`` are
    ``run_grid``'s (checkpoint_dir, force, extra_tags, keep_weights)."""
    end_if_bootstrapping()
    threads = threads_per_worker(workers)
    if options.get("checkpoint_dir"):
        options["checkpoint_dir"] = str(Path(options["checkpoint_dir"]).resolve())
    results: dict[int, RunResult] = {}
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init,
                             initargs=(uri, experiment, str(device), threads, options, os.getpid())) as pool:
        from ..suites import get_suite

        # the costliest cells first (longest-processing-time order): a slow cell started last would leave the other
        # workers idle at the end; results still come back in the specs' order
        order = sorted(range(len(specs)), key=lambda i: -get_suite(specs[i].suite).cost(specs[i]))
        futures = {pool.submit(_cell, specs[i]): i for i in order}
        try:
            _collect(futures, results, len(specs), echo)
        except BrokenProcessPool:
            raise ExecutorError(UNGUARDED) from None
        except BaseException:  # Ctrl-C reaches the workers too; SIGTERM is passed on: their runs end KILLED
            for f in futures:
                f.cancel()
            _end_workers(list(getattr(pool, "_processes", {}).values()))
            raise
    return [results[i] for i in range(len(specs))]
