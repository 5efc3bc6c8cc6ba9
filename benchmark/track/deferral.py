"""Signals wait for the end of a store write.

A SIGTERM or SIGINT handler raises in the main thread wherever it is. Raised inside a SQLite
transaction (within SQLAlchemy's flush or commit), the exception leaves the connection holding the
database lock: the run then cannot be closed KILLED, and every other process writing to the store
sees "database is locked" until this one exits (measured: two workers of a grid whose parent was
killed retried past a minute instead of ending). So the tracker marks each write, and the run's
signal handlers (``benchmark.run.runner``, ``benchmark.run.workers``) ask ``defer`` first: a
signal that arrives inside a write is raised again as soon as the write ends.
"""
from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

_STATE: dict = {"depth": 0, "pending": None}  # the main thread's open writes, and a signal that waits for them


@contextlib.contextmanager
def store_write() -> Iterator[None]:
    """One write to the store; a signal handled inside it (main thread only) is raised again at its end."""
    if threading.current_thread() is not threading.main_thread():  # signal handlers run in the main thread only
        yield
        return
    _STATE["depth"] += 1
    try:
        yield
    finally:
        _STATE["depth"] -= 1
        if _STATE["depth"] == 0 and _STATE["pending"] is not None:
            signum, _STATE["pending"] = _STATE["pending"], None
            signal.raise_signal(signum)


def defer(signum: int) -> bool:
    """Called first by a signal handler: True when the main thread is inside a store write, in which case the signal
    is kept and raised again when the write ends (the handler returns at once)."""
    if _STATE["depth"]:
        _STATE["pending"] = signum
        return True
    return False
