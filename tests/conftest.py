import os
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def session_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(autouse=True)
def _isolated(session_cache, monkeypatch):
    """No test writes to the user's cache or the project's MLflow store. The decoded-data
    cache is shared by the session's tests (the embedded glyphs take seconds to render)."""
    monkeypatch.setenv("BENCHMARK_CACHE", str(session_cache))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    torch.manual_seed(0)
    yield


@pytest.fixture
def stores(tmp_path):
    """Empty MLflow stores and Optuna storages for a test: SQLite files, or PostgreSQL databases
    and `mlflow server` processes under `tox -e postgres` (tests/stores.py)."""
    from tests.stores import Stores

    s = Stores(tmp_path)
    yield s
    s.close()


def shared_data(name: str) -> Path:
    """A file under ../shared/data, or skip (users' machines have no ../shared)."""
    path = SHARED_DATA / name
    if not path.exists():
        pytest.skip(f"{path} not present (real-data tests need ../shared/data beside the project)")
    return path


os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture
def clean_registry(monkeypatch):
    """Plugins register process-wide: every test that uses this leaves the registry as it found it."""
    import sys

    from algorithms import registry
    from benchmark import plugins

    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    monkeypatch.setattr(plugins, "_LOADED", {})
    monkeypatch.setattr(plugins, "_SOURCES", {})
    monkeypatch.setenv(plugins.ENV, "[]")  # restored (unset) afterwards, whatever the test's main() added
    for name in [m for m in sys.modules if m.startswith("benchmark_plugin_")]:
        monkeypatch.delitem(sys.modules, name)


@pytest.fixture
def cifar100(tmp_path, monkeypatch):
    """The CIFAR-100 fixture with cifar.py's md5 table pointed at its files (as tests/test_datasets.py does)."""
    from datasets import cifar as cifar_mod
    from datasets.download import md5sum

    from .fewshot_fixtures import make_cifar100

    fx = make_cifar100(tmp_path)
    spec = dict(cifar_mod.CIFAR["cifar100"])
    md5 = {f: md5sum(fx["folder"] / f) for f in fx["files"]}
    spec["train"] = [("train", md5["train"])]
    spec["test"] = [("test", md5["test"])]
    spec["meta"] = ("meta", md5["meta"], "fine_label_names")
    monkeypatch.setitem(cifar_mod.CIFAR, "cifar100", spec)
    return fx
