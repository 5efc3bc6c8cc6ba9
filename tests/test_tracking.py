"""The MLflow store is one folder: artifacts beside the SQLite file, wherever the command runs."""
from pathlib import Path

from benchmark.track.tracking import Tracker, artifact_root


def test_artifacts_live_beside_the_sqlite_file(tmp_path, monkeypatch):
    store, elsewhere = tmp_path / "store", tmp_path / "elsewhere"
    store.mkdir()
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # a run started from another directory
    t = Tracker(f"sqlite:///{store / 'm.db'}", "standard")
    rid = t.start("r", {}, {})
    t.log_json(rid, {"a": 1}, "x.json")
    t.end(rid, "FINISHED")
    assert list((store / "mlartifacts").rglob("x.json"))
    assert not (elsewhere / "mlartifacts").exists()
    assert t.load_json_artifact(rid, "x.json") == {"a": 1}


def test_artifact_root_of_relative_and_absolute_uris(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert artifact_root("sqlite:///mlflow.db") == tmp_path / "mlartifacts"  # the default: ./mlartifacts
    assert artifact_root("sqlite:////data/runs/m.db") == Path("/data/runs/mlartifacts")
