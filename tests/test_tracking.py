"""The MLflow store is one folder: artifacts beside the SQLite file, wherever the command runs."""
import time
from pathlib import Path

from benchmark.track.tracking import Tracker, artifact_root

from .stores import mlflow_sqlite


def test_artifacts_live_beside_the_sqlite_file(tmp_path, monkeypatch):
    store, elsewhere = tmp_path / "store", tmp_path / "elsewhere"
    store.mkdir()
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # a run started from another directory
    t = Tracker(mlflow_sqlite(store / "m.db"), "standard")
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


def test_every_search_pages_to_the_end_and_finished_cells_are_looked_up_by_key(tmp_path, monkeypatch):
    from benchmark.track import tracking

    monkeypatch.setattr(tracking, "PAGE_SIZE", 2)  # many pages from a handful of runs
    t = tracking.Tracker(mlflow_sqlite(tmp_path / "m.db"), "paging")
    ids = {}
    for i in range(7):
        time.sleep(0.003)  # distinct start times: "newest" is well defined
        rid = t.start(f"r{i}", {}, {"config_key": f"k{i % 5}"})  # k0 and k1 finished twice: the newest wins
        t.end(rid, "FINISHED" if i != 4 else "FAILED")
        ids.setdefault(f"k{i % 5}", []).append(rid)
    assert len(t.runs()) == 7
    every = t.finished_by_key()
    assert set(every) == {"k0", "k1", "k2", "k3"} and every["k0"].info.run_id == ids["k0"][-1]
    by_key = t.finished_by_key({"k1", "k4", "k9"})
    assert set(by_key) == {"k1"} and by_key["k1"].info.run_id == ids["k1"][-1]
    monkeypatch.setattr(tracking, "KEY_QUERIES", 1)  # a large grid: one paged pass, filtered to its keys
    by_pass = t.finished_by_key({"k1", "k2", "k9"})
    assert set(by_pass) == {"k1", "k2"} and by_pass["k1"].info.run_id == ids["k1"][-1]


def test_leaderboard_reads_episodes_and_curves_from_the_grids_files_not_run_by_run(tmp_path, monkeypatch):
    """A synthetic store of two closed grids (perf --store's generator): the raw results come
    from one file per grid; without those files, run by run, and the two are identical."""
    import random

    from benchmark.perf import store
    from benchmark.report import raw

    monkeypatch.setattr(store, "GRID", 4)
    monkeypatch.setattr(store, "EPISODES", 10)
    t = Tracker(mlflow_sqlite(tmp_path / "m.db"), "fewshot")
    keys = store._fill(t, 0, 8, random.Random(0))
    per_run = []
    real = t.load_json_artifact
    monkeypatch.setattr(t, "load_json_artifact", lambda rid, name: per_run.append(rid) or real(rid, name))
    runs, episodes = raw.from_tracker(t, "fewshot")
    assert len(runs) == 8 and len(episodes) == 80 and per_run == []  # two grid files, no per-run download
    assert len(runs.attrs["grids"]) == 2
    grid_only = raw.from_tracker(t, "fewshot", keys=set(keys[:3]))  # one grid's summary: only its runs
    assert len(grid_only[0]) == 3 and len(grid_only[1]) == 30 and len(per_run) == 3
    per_run.clear()

    def no_grid_files(*a, **k):
        raise FileNotFoundError

    monkeypatch.setattr(t, "download", no_grid_files)
    runs2, episodes2 = raw.from_tracker(t, "fewshot")
    assert len(per_run) == 8
    assert episodes2.equals(episodes) and runs2.equals(runs)


def test_perf_store_reports_each_size(capsys, monkeypatch):
    from benchmark.cli import main
    from benchmark.perf import store

    monkeypatch.setattr(store, "GRID", 5)
    monkeypatch.setattr(store, "EPISODES", 5)
    assert main(["perf", "--store", "10", "20"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-3].startswith("runs") and out[-2].startswith("10 ") and out[-1].startswith("20 ")


def test_a_reopened_run_drops_its_interruption_error(tmp_path):
    from benchmark.track.tracking import Tracker

    t = Tracker(mlflow_sqlite(tmp_path / "m.db"), "fewshot")
    rid = t.start("r", {}, {"error": "interrupted (KeyboardInterrupt)"})
    t.end(rid, "KILLED")
    assert t.reopen(rid)
    run = t.client.get_run(rid)
    assert run.info.status == "RUNNING" and "error" not in run.data.tags


def test_a_sigterm_inside_a_store_write_waits_for_its_end(tmp_path, monkeypatch):
    """An exception raised by the SIGTERM handler inside a SQLite transaction leaves the connection holding the lock
    (the run cannot be closed KILLED; other writers see 'database is locked'): the handler waits for the write's end,
    then raises. Outside a write it raises at once."""
    import os
    import signal as sig

    import pytest

    from benchmark.run.runner import Terminated, install_signal_handlers

    old = {s: sig.getsignal(s) for s in (sig.SIGTERM, sig.SIGINT)}
    tracker = Tracker(mlflow_sqlite(tmp_path / "m.db"), "fewshot")
    run_id = tracker.start("r", params={}, tags={"config_key": "k"})
    real = tracker.client.log_batch

    def signalled_midway(*args, **kwargs):  # the signal arrives while the write is under way
        os.kill(os.getpid(), sig.SIGTERM)
        sum(range(10000))  # bytecodes: the handler has run by now
        return real(*args, **kwargs)

    install_signal_handlers()
    try:
        monkeypatch.setattr(tracker.client, "log_batch", signalled_midway)
        with pytest.raises(Terminated):
            tracker.set_tags(run_id, {"written": "yes"})
        monkeypatch.setattr(tracker.client, "log_batch", real)
        assert tracker.client.get_run(run_id).data.tags["written"] == "yes"  # the write completed first
        with pytest.raises(Terminated):
            os.kill(os.getpid(), sig.SIGTERM)
            sum(range(10000))
        tracker.end(run_id, "KILLED")  # the store is writable: no lock was left behind
        assert tracker.client.get_run(run_id).info.status == "KILLED"
    finally:
        for s, h in old.items():
            sig.signal(s, h)
