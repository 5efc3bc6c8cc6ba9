"""``python -m benchmark ui``: the MLflow UI on the project's tracking store, bound to
127.0.0.1 (never to a public interface)."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request

from .stores import check_uri
from .tracking import SHARE_KEY, artifact_root, default_uri, share_comparison


def links(uri: str, url: str) -> list[tuple[str, str]]:
    """(what, deep link) for every experiment with a grid: its runs page on the comparison (cells, best first, the
    accuracy as a column) and its latest grid's parent run, whose overview page shows the verdict table."""
    from ..suites import SUITES, get_suite

    metrics = {name: get_suite(name).style.test_metric for name in SUITES}
    out = []
    for exp_id, name, parent in share_comparison(uri, metrics):
        out.append((f"{name}: every cell, best test accuracy first", f"{url}/#/experiments/{exp_id}/runs?viewStateShareKey={SHARE_KEY}"))
        if parent:
            out.append((f"{name}: the latest grid's verdict table", f"{url}/#/experiments/{exp_id}/runs/{parent}"))
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def command(uri: str, port: int) -> list[str]:
    exe = shutil.which("mlflow")
    base = [exe] if exe else [sys.executable, "-m", "mlflow"]
    cmd = base + ["ui", "--backend-store-uri", uri, "--host", "127.0.0.1", "--port", str(port)]
    if uri.startswith("sqlite:"):
        cmd += ["--default-artifact-root", artifact_root(uri).as_uri()]
    return cmd


def start(uri: str | None = None, port: int | None = None, timeout: float = 120.0) -> tuple[subprocess.Popen, str]:
    """Start the UI and wait until its REST API answers; returns (process, URL)."""
    uri = uri or default_uri()
    check_uri(uri)
    port = port or free_port()
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            raise RuntimeError(f"port {port} on 127.0.0.1 is in use; choose another with --port") from None
    url = f"http://127.0.0.1:{port}"
    # its own session: the server and its workers form one process group that stop() ends together
    proc = subprocess.Popen(command(uri, port), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    t0 = time.time()
    while time.time() - t0 < timeout:
        if proc.poll() is not None:
            last = (proc.stderr.read().strip().splitlines() or ["no message"])[-1] if proc.stderr else "no message"
            raise RuntimeError(f"the MLflow UI exited at start ({last[:300]})")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                if r.status == 200:
                    return proc, url
        except OSError:
            time.sleep(0.5)
    stop(proc)
    raise RuntimeError(f"the MLflow UI did not answer on {url} within {timeout:.0f} s")


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop(proc: subprocess.Popen) -> None:
    """End the server and every worker it started (its process group): SIGTERM, then
    SIGKILL for whatever is left after 20 s."""
    for sig, wait in ((signal.SIGTERM, 20.0), (signal.SIGKILL, 10.0)):
        proc.poll()  # reap the leader, so that a finished group reads as gone
        if not _group_alive(proc.pid):
            break
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        deadline = time.time() + wait
        while time.time() < deadline:
            proc.poll()
            if not _group_alive(proc.pid):
                break
            time.sleep(0.2)
    proc.wait(timeout=10)
