"""``python -m benchmark ui``: the MLflow UI on the project's tracking store, bound to
127.0.0.1 (never to a public interface)."""
from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import urllib.request

from .tracking import artifact_root, default_uri


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
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(command(uri, port), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    t0 = time.time()
    while time.time() - t0 < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"the MLflow UI exited at start: {proc.stderr.read()[-2000:] if proc.stderr else ''}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                if r.status == 200:
                    return proc, url
        except OSError:
            time.sleep(0.5)
    proc.terminate()
    raise RuntimeError(f"the MLflow UI did not answer on {url} within {timeout:.0f} s")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
