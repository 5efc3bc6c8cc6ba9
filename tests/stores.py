"""The stores the concurrency and resume tests run against.

``BENCHMARK_TEST_STORE`` picks them (``tox -e postgres`` sets it):

* ``sqlite`` (default): a SQLite file per store in the test's folder;
* ``postgres``: a fresh database per store on the PostgreSQL server at ``PGHOST:PGPORT``
  (created and dropped by pytest-postgresql's janitor), as MLflow's backend store and as
  Optuna's storage;
* ``mlflow-server``: a real ``mlflow server`` process per store (backend: a fresh PostgreSQL
  database, artifacts served by the server) as the tracking URI; Optuna on PostgreSQL.
"""
from __future__ import annotations

import atexit
import contextlib
import functools
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

KIND = os.environ.get("BENCHMARK_TEST_STORE", "sqlite")
KINDS = ("sqlite", "postgres", "mlflow-server")


@functools.cache
def _migrated_store() -> Path:
    """One empty store that MLflow itself created and migrated, once per test process."""
    from mlflow.tracking import MlflowClient

    folder = Path(tempfile.mkdtemp(prefix="mlflow-template-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    MlflowClient(tracking_uri=f"sqlite:///{folder / 'mlflow.db'}").search_experiments()  # creates and migrates
    return folder / "mlflow.db"


def mlflow_sqlite(path: Path) -> str:
    """The URI of a new, empty MLflow SQLite store at ``path`` (kept if it is there already): a copy of
    ``_migrated_store``, since MLflow migrates every new file from its first schema (1.3-1.9 s each on
    2 cores; five modules' fast tests took 166 s with copies against 250 s without, one machine, one run).
    Creating a store is still tested where it is the point: the ``Stores`` fixture, the CLI's
    missing-store and bad-store cases (tests/test_reliability.py), the plugin tests that assert no
    store appears, and the tests that hand a command a path with no file (test_cli.py, test_fewshot_cli.py).
    """
    path = Path(path)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(_migrated_store(), path)
    return f"sqlite:///{path}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Stores:
    """Named stores for one test; everything it started is stopped and dropped by ``close``."""

    def __init__(self, folder: Path, kind: str = KIND) -> None:
        if kind not in KINDS:
            raise ValueError(f"BENCHMARK_TEST_STORE={kind!r}; valid: {', '.join(KINDS)}")
        self.folder, self.kind = folder, kind
        self._janitors: list = []
        self._servers: list[subprocess.Popen] = []

    def _database(self, name: str) -> str:
        from pytest_postgresql.janitor import DatabaseJanitor

        host, port = os.environ.get("PGHOST", "127.0.0.1"), int(os.environ.get("PGPORT", "5432"))
        db = f"{name}_{uuid.uuid4().hex[:8]}".lower()
        janitor = DatabaseJanitor(user="postgres", host=host, port=port, dbname=db, version="15", password=None)
        janitor.init()
        self._janitors.append(janitor)
        return f"postgresql+psycopg://postgres@{host}:{port}/{db}"

    def _server(self, name: str) -> str:
        port = _free_port()
        artifacts = self.folder / f"{name}-artifacts"
        proc = subprocess.Popen([sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
                                 "--backend-store-uri", self._database(name), "--artifacts-destination", str(artifacts),
                                 "--workers", "2"],
                                stdout=subprocess.DEVNULL, stderr=open(self.folder / f"{name}-server.log", "w"),
                                start_new_session=True)
        self._servers.append(proc)
        uri = f"http://127.0.0.1:{port}"
        for _ in range(600):
            try:
                urllib.request.urlopen(uri + "/health", timeout=1).close()
                return uri
            except OSError:
                if proc.poll() is not None:
                    raise RuntimeError(f"mlflow server exited: {(self.folder / f'{name}-server.log').read_text()[-2000:]}") from None
                time.sleep(0.2)
        raise RuntimeError("mlflow server did not answer in 120 s")

    def tracking(self, name: str) -> str:
        """An empty MLflow store."""
        if self.kind == "sqlite":
            return f"sqlite:///{self.folder / (name + '.db')}"
        return self._database(name) if self.kind == "postgres" else self._server(name)

    def optuna(self, name: str) -> str:
        """An empty Optuna storage."""
        return f"sqlite:///{self.folder / (name + '.db')}" if self.kind == "sqlite" else self._database(name)

    def close(self) -> None:
        for proc in self._servers:  # the server and its workers (job consumers): its whole process group
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=30)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # whatever of the group is left
        for janitor in self._janitors:
            try:
                janitor.drop()
            except Exception:  # a connection still open: the server is thrown away with the tox env anyway
                pass
