"""Reliability with real processes and real signals: concurrent starts on a new store,
atomic checkpoints, no run left RUNNING, and one clear line (exit 2, no run created) for
every class of bad input."""
import contextlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
import torch

from benchmark.cli import main
from benchmark.run import checkpoint

from .stores import mlflow_sqlite

ROOT = Path(__file__).resolve().parent.parent


def _env(cache):
    env = dict(os.environ, PYTHONPATH=str(ROOT), BENCHMARK_CACHE=str(cache), OMP_NUM_THREADS="1")
    env.pop("MLFLOW_TRACKING_URI", None)
    return env


def _runs(uri, experiment):
    from mlflow.tracking import MlflowClient

    c = MlflowClient(tracking_uri=uri)
    exp = c.get_experiment_by_name(experiment)
    return [] if exp is None else c.search_runs([exp.experiment_id], max_results=1000)


# ----------------------------------------------------------------------- stores
@pytest.mark.slow
@pytest.mark.store
def test_readme_two_shard_example_on_a_new_store_records_every_run(tmp_path, session_cache, stores):
    """The README's concurrency example, literally: both shards started together on a store
    that does not exist yet (3 times, each on a new store)."""
    base = [sys.executable, "-m", "benchmark", "run", "--no-progress", "--model", "cnet1", "--algorithm", "standard",
            "--seeds", "0", "1", "--epochs", "1", "--max-steps", "1"]
    for attempt in range(3):
        uri = stores.tracking(f"new{attempt}")
        procs = [subprocess.Popen(base + ["--shard", f"{i}/2", "--tracking-uri", uri], cwd=tmp_path, env=_env(session_cache),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in (1, 2)]
        outs = [p.communicate(timeout=300) for p in procs]
        assert [p.returncode for p in procs] == [0, 0], [o[1][-2000:] for o in outs]
        cells = [r for r in _runs(uri, "standard") if r.data.tags.get("grid_parent") != "1"]
        assert len(cells) == 2 and all(r.info.status == "FINISHED" for r in cells)
        parents = [r for r in _runs(uri, "standard") if r.data.tags.get("grid_parent") == "1"]
        assert len(parents) == 1  # one parent for both shards, found or started under the store's lock
        assert "(2 of 2)" in outs[0][0] + outs[1][0]  # whichever shard closed last tabled both cells


_KILL_AT = """
import os, signal, sys
from sqlalchemy import event
from sqlalchemy.engine import Engine
seen = [0]
@event.listens_for(Engine, "after_cursor_execute")
def _count(*args):
    seen[0] += 1
    if seen[0] == int(sys.argv[2]):
        os.kill(os.getpid(), signal.SIGKILL)
if sys.argv[3] == "optuna":
    import optuna
    optuna.storages.RDBStorage(sys.argv[1])
else:
    from benchmark.track.tracking import Tracker
    Tracker(sys.argv[1], "fewshot")
print(seen[0])
"""


@pytest.mark.slow
@pytest.mark.store
def test_sigkill_while_a_new_store_is_created_leaves_it_usable(tmp_path, stores):
    """A real SIGKILL after the k-th SQL statement of creating a new store (its tables, its migrations, its first
    experiment), at several k: the next command creates or finishes the store and records a run in it."""
    if stores.kind == "mlflow-server":
        pytest.skip("an `mlflow server` creates its store itself, before this suite's first contact")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    full = subprocess.run([sys.executable, "-c", _KILL_AT, stores.tracking("full"), "0", "mlflow"], env=env, capture_output=True,
                          text=True, timeout=300)
    total = int(full.stdout.split()[-1])
    for k in (total // 20, total // 3, 2 * total // 3, total - 2):
        uri = stores.tracking(f"cut{k}")
        cut = subprocess.run([sys.executable, "-c", _KILL_AT, uri, str(k), "mlflow"], env=env, capture_output=True,
                             timeout=300)
        assert cut.returncode == -signal.SIGKILL, cut.stderr[-2000:]
        again = subprocess.run([sys.executable, "-c", "import sys; from benchmark.track.tracking import Tracker; "
                                "t = Tracker(sys.argv[1], 'fewshot'); t.end(t.start('after', {}, {}), 'FINISHED')", uri],
                               env=env, capture_output=True, text=True, timeout=300)
        assert again.returncode == 0, f"killed at statement {k} of {total}: {again.stderr[-1500:]}"
        assert [r.info.status for r in _runs(uri, "fewshot")] == ["FINISHED"]
    # Optuna's storage creates its tables in one checked pass: the same cuts leave it usable as it is
    full = subprocess.run([sys.executable, "-c", _KILL_AT, stores.optuna("ofull"), "0", "optuna"], env=env,
                          capture_output=True, text=True, timeout=300)
    total = int(full.stdout.split()[-1])
    for k in (total // 3, 2 * total // 3):
        url = stores.optuna(f"ocut{k}")
        subprocess.run([sys.executable, "-c", _KILL_AT, url, str(k), "optuna"], env=env, capture_output=True, timeout=300)
        study = optuna.create_study(storage=url)
        study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)
        assert len(study.trials) == 1


def test_checkpoint_replace_is_atomic_and_leaves_no_temp_file(tmp_path, monkeypatch):
    path = tmp_path / "c.pt"
    checkpoint.save(path, {"w": torch.arange(10.0), "round": 1})

    def killed(*a, **k):  # the process dies between writing the new file and renaming it
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        checkpoint.save(path, {"w": torch.zeros(10), "round": 2})
    monkeypatch.undo()
    assert checkpoint.load(path)["round"] == 1  # the old checkpoint is whole and still matches its digest
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]


def test_full_disk_leaves_no_temp_file(tmp_path, monkeypatch):
    real_open = open

    class Full:
        def __init__(self, f):
            self.f = f

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

        def write(self, data):
            raise OSError(28, "No space left on device")

    monkeypatch.setattr("builtins.open", lambda p, m="r", *a, **k: Full(real_open(p, m, *a, **k)) if "w" in m else real_open(p, m, *a, **k))
    with pytest.raises(OSError, match="No space"):
        checkpoint.save(tmp_path / "c.pt", {"round": 1})
    monkeypatch.undo()
    assert list(tmp_path.iterdir()) == []


def test_checkpoints_of_two_stores_never_mix():
    a = checkpoint.path_for("ck", "abc", "sqlite:///one.db#standard")
    b = checkpoint.path_for("ck", "abc", "sqlite:///two.db#standard")
    assert a != b and a.name.startswith("abc-") and b.name.startswith("abc-")


def _wait_running(uri, experiment, proc, timeout=180, count=1):
    """Whether a cell's run of ``experiment`` is RUNNING, read from the SQLite file read-only: an
    MlflowClient here would create or migrate the schema while the process under test creates it
    (a race of the test's own making that failed that process's first run on a loaded machine)."""
    db = uri.removeprefix("sqlite:///")
    query = ("SELECT count(*) FROM runs r JOIN experiments e ON e.experiment_id = r.experiment_id JOIN tags t "
             "ON t.run_uuid = r.run_uuid AND t.key = 'config_key' WHERE r.status = 'RUNNING' AND e.name = ?")
    t0 = time.time()
    while time.time() - t0 < timeout:
        if proc.poll() is not None:
            return False
        try:
            with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)) as con:
                if con.execute(query, (experiment,)).fetchone()[0] >= count:
                    return True
        except sqlite3.Error:  # no file or no tables yet
            pass
        time.sleep(0.3)
    return False


@pytest.mark.slow
def test_sigkill_before_the_first_checkpoint_then_rerun_leaves_nothing_running(tmp_path, session_cache):
    uri = mlflow_sqlite(tmp_path / "m.db")
    cmd = [sys.executable, "-m", "benchmark", "run", "--suite", "fewshot", "--algorithm", "protonet", "--seeds", "0",
           "--meta-iterations", "400", "--test-episodes", "5", "--no-progress", "--tracking-uri", uri]
    with open(tmp_path / "first.log", "w") as log:
        p = subprocess.Popen(cmd, cwd=tmp_path, env=_env(session_cache), stdout=log, stderr=subprocess.STDOUT)
    assert _wait_running(uri, "fewshot", p), f"the run never started: {(tmp_path / 'first.log').read_text()[-2000:]}"
    assert not list((tmp_path / "checkpoints").glob("*.pt"))
    p.send_signal(signal.SIGKILL)
    p.wait(timeout=60)
    r = subprocess.run(cmd[:9] + ["40"] + cmd[10:], cwd=tmp_path, env=_env(session_cache), capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stderr
    assert "left RUNNING by a process that died" in r.stdout
    runs = _runs(uri, "fewshot")
    assert not [x for x in runs if x.info.status == "RUNNING"]
    assert sorted(x.info.status for x in runs if "config_key" in x.data.tags) == ["FINISHED", "KILLED"]


def _workers_of(pid):
    out = subprocess.run(["pgrep", "-P", str(pid), "-f", "multiprocessing.spawn"], capture_output=True, text=True)
    return [int(x) for x in out.stdout.split()]


@pytest.mark.slow
def test_sigkill_of_a_workers_grid_ends_its_workers_and_their_runs(tmp_path, session_cache):
    """The parent cannot pass a SIGKILL on: each worker notices its parent's death itself and ends, closing its
    run KILLED instead of computing on (and writing) beside a rerun."""
    uri = mlflow_sqlite(tmp_path / "m.db")
    cmd = [sys.executable, "-m", "benchmark", "run", "--suite", "fewshot", "--algorithm", "protonet", "--seeds", "0", "1",
           "--meta-iterations", "5000", "--test-episodes", "5", "--no-progress", "--workers", "2", "--tracking-uri", uri]
    with open(tmp_path / "grid.log", "w") as log:
        p = subprocess.Popen(cmd, cwd=tmp_path, env=_env(session_cache), stdout=log, stderr=subprocess.STDOUT)
    assert _wait_running(uri, "fewshot", p, count=2), (tmp_path / "grid.log").read_text()[-2000:]
    workers = _workers_of(p.pid)
    assert len(workers) == 2, workers
    p.send_signal(signal.SIGKILL)
    p.wait(timeout=60)
    t0 = time.time()
    while time.time() - t0 < 60 and any(Path(f"/proc/{w}").exists() for w in workers):
        time.sleep(0.5)
    alive = [w for w in workers if Path(f"/proc/{w}").exists()]
    for w in alive:
        os.kill(w, signal.SIGKILL)
    assert not alive, "workers outlived their parent's SIGKILL"
    cells = [r for r in _runs(uri, "fewshot") if "config_key" in r.data.tags]
    assert sorted(r.info.status for r in cells) == ["KILLED", "KILLED"], (
        [(r.info.status, r.data.tags.get("error")) for r in cells], (tmp_path / "grid.log").read_text()[-3000:])


def test_sigterm_of_a_workers_grid_with_an_idle_worker_ends_it(tmp_path, session_cache):
    """`timeout` SIGTERMs a grid after one worker's cell has finished and another's runs: the parent ends in seconds,
    the running cell KILLED, the grid closed. (It once hung for good: the idle worker, ended, took the pool's queue
    lock with it, and the busy one, its run closed, went back to wait on that lock for a next cell.)"""
    uri = mlflow_sqlite(tmp_path / "m.db")
    cmd = [sys.executable, "-m", "benchmark", "run", "--suite", "fewshot", "--algorithm", "finetune", "maml", "--seeds",
           "0", "--meta-iterations", "5000", "--test-episodes", "5", "--no-progress", "--workers", "2", "--tracking-uri", uri]
    with open(tmp_path / "grid.log", "w") as log:
        p = subprocess.Popen(cmd, cwd=tmp_path, env=_env(session_cache), stdout=log, stderr=subprocess.STDOUT)
    t0 = time.time()
    while time.time() - t0 < 180 and "[1/2]" not in (tmp_path / "grid.log").read_text() and p.poll() is None:
        time.sleep(0.5)  # finetune's cell (no meta-training) is done; maml's runs
    assert "[1/2]" in (tmp_path / "grid.log").read_text() and p.poll() is None, (tmp_path / "grid.log").read_text()[-2000:]
    p.send_signal(signal.SIGTERM)
    try:
        code = p.wait(timeout=90)
    except subprocess.TimeoutExpired:
        for w in _workers_of(p.pid):
            os.kill(w, signal.SIGKILL)
        p.kill()
        pytest.fail("the grid's parent hung after SIGTERM")
    assert code == 143, (tmp_path / "grid.log").read_text()[-2000:]
    status = {r.info.run_name: r.info.status for r in _runs(uri, "fewshot")}
    assert sorted(status.values()) == ["FINISHED", "KILLED", "KILLED"], status  # finetune, maml, the grid


@pytest.mark.slow
@pytest.mark.parametrize("sig,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_tune_interrupted_exits_cleanly_and_leaves_nothing_running(tmp_path, session_cache, sig, code):
    uri = mlflow_sqlite(tmp_path / "m.db")
    cmd = [sys.executable, "-m", "benchmark", "tune", "--trials", "3", "--algorithm", "standard", "--model", "cnet1",
           "--epochs", "30", "--seeds", "0", "--no-progress", "--storage", f"sqlite:///{tmp_path / 'o.db'}",
           "--tracking-uri", uri]
    p = subprocess.Popen(cmd, cwd=tmp_path, env=_env(session_cache), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert _wait_running(uri, "standard-tuning", p)
    # into the training loop: a SIGINT within the first second of a trial was once lost (its process trained on;
    # seen once in 4 tries on a loaded machine, not yet explained: the closing note of 2026-12-01 tracks it)
    time.sleep(3.0)
    p.send_signal(sig)
    _, err = p.communicate(timeout=120)
    assert p.returncode == code, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    runs = _runs(uri, "standard-tuning")
    assert runs and not [r for r in runs if r.info.status == "RUNNING"]
    import optuna

    study = optuna.load_study(study_name="standard.quick.glyph-fonts.cnet1.standard", storage=f"sqlite:///{tmp_path / 'o.db'}")
    assert [t.state.name for t in study.trials] == ["FAIL"]


@pytest.mark.slow
def test_ui_sigterm_leaves_no_child_process(tmp_path):
    uri = mlflow_sqlite(tmp_path / "m.db")
    subprocess.run([sys.executable, "-c", f"from benchmark.track.tracking import Tracker; Tracker({uri!r}, 'standard')"],
                   check=True, env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=120)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    p = subprocess.Popen([sys.executable, "-m", "benchmark", "ui", "--tracking-uri", uri, "--port", str(port)],
                         env=dict(os.environ, PYTHONPATH=str(ROOT)), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert "MLflow UI" in p.stdout.readline()
        children = subprocess.run(["pgrep", "-f", f"port {port}"], capture_output=True, text=True).stdout.split()
        assert len(children) >= 2  # the command and the server (with its workers)
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=60)
    finally:
        if p.poll() is None:  # a failed assertion must not leave a server behind
            p.kill()
    time.sleep(1)
    assert subprocess.run(["pgrep", "-f", f"port {port}"], capture_output=True, text=True).stdout.split() == []


# -------------------------------------------------------------------- bad input
def _bad_inputs(tmp: Path) -> dict[str, tuple[list[str], str]]:
    (tmp / "notes.txt").write_text("not data")
    (tmp / "notes.zip").write_text("not data")
    (tmp / "trunc.tar.gz").write_bytes(b"\x1f\x8b\x08\x00" + b"\x00" * 40)
    for split in ("train", "test"):
        (tmp / "jpegs" / split / "cat").mkdir(parents=True, exist_ok=True)
        (tmp / "jpegs" / split / "cat" / "1.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    (tmp / "afile").write_text("x")
    (tmp / "store.db").write_text("a text file, not a database")
    (tmp / "tuned").mkdir(exist_ok=True)
    (tmp / "tuned" / "standard.quick.glyph-fonts.cnet1.standard.json").write_text("{not json")
    (tmp / "range").mkdir(exist_ok=True)
    (tmp / "range" / "standard.quick.glyph-fonts.cnet1.standard.json").write_text(json.dumps({"params": {"lr": -1}}))
    run = ["run", "--no-progress", "--tracking-uri", f"sqlite:///{tmp / 'ok.db'}"]
    img = ["--dataset", "imagefolder", "--data-root"]
    return {
        "text file as data": (run + img + [str(tmp / "notes.txt")], "is not a folder or a .tar/.tar.gz/.zip archive"),
        "text file named .zip": (run + img + [str(tmp / "notes.zip")], "not a readable archive"),
        "truncated archive": (run + img + [str(tmp / "trunc.tar.gz")], "not a readable archive"),
        "corrupt jpeg": (run + img + [str(tmp / "jpegs")], "1.jpg is not a readable image"),
        "store parent is a file": (["run", "--tracking-uri", f"sqlite:///{tmp / 'afile' / 'm.db'}"], "is a file, not a folder"),
        "unknown scheme": (["run", "--tracking-uri", "foo://bar"], "unknown scheme 'foo'"),
        "store is a text file": (["run", "--tracking-uri", f"sqlite:///{tmp / 'store.db'}"], "is not an SQLite database"),
        "unreachable server": (["run", "--tracking-uri", "http://127.0.0.1:9"], "does not answer"),
        "tune storage": (["tune", "--trials", "1", "--storage", "foo://x", "--tracking-uri", f"sqlite:///{tmp / 'ok.db'}"],
                         "--storage foo://x"),
        "out is a file": (run + ["--out", str(tmp / "afile")], "--out"),
        "checkpoint dir is a file": (run + ["--checkpoint-dir", str(tmp / "afile")], "--checkpoint-dir"),
        "nan hyperparameter": (run + ["--suite", "fewshot", "--set", "inner_lr=nan"], "inner_lr must be finite"),
        "inf hyperparameter": (run + ["--set", "lr=inf"], "lr must be finite"),
        "text hyperparameter": (run + ["--set", "lr=abc"], "lr must be a number, got 'abc'"),
        "model of the other suite": (run + ["--suite", "fewshot", "--model", "cnet1"], "no embedding for the few-shot suite"),
        "malformed tuned json": (run + ["--model", "cnet1", "--algorithm", "standard", "--tuned", "--tuned-dir", str(tmp / "tuned")],
                                 "not a usable tuning result"),
        "out of range tuned json": (run + ["--model", "cnet1", "--algorithm", "standard", "--tuned", "--tuned-dir", str(tmp / "range")],
                                    "lr must be > 0"),
        "perf model": (["perf", "--model", "nosuch"], "unknown model 'nosuch'"),
        "empty validation split": (run + ["--val-fraction", "0"], "--val-fraction must be in (0, 1)"),
        "download without network": (run + ["--dataset", "cifar10", "--data-root", str(tmp / "none"), "--download"],
                                     "cannot download"),
        "misspelt algorithm": (run + ["--algorithm", "mltp_f0"], "did you mean 'mltp_fo'"),
        "leaderboard without store": (["leaderboard", "--tracking-uri", f"sqlite:///{tmp / 'nothing.db'}"], "no tracking store"),
        "ui port": (["ui", "--port", "70000"], "--port must be in 1..65535"),
        "leaderboard out is a file": (["leaderboard", "--out", str(tmp / "afile")], "afile is a file, not a folder"),
        "export under a file": (["leaderboard", "--export", str(tmp / "afile" / "raw")], "under the file"),
        "manifest out is a folder": (["episodes", "export", "--dataset", "glyphs", "--out", str(tmp / "jpegs")],
                                     "is a folder; name a file"),
        "manifest under a file": (["episodes", "export", "--dataset", "glyphs", "--out", str(tmp / "afile" / "e.json")],
                                  "under the file"),
        "no lock beside the store": (["run", "--tracking-uri", "sqlite:////proc/benchmark-test.db"], "cannot create the lock"),
    }


IDS = ["text file as data", "text file named .zip", "truncated archive", "corrupt jpeg", "store parent is a file", "unknown scheme",
       "store is a text file", "unreachable server", "tune storage", "out is a file", "checkpoint dir is a file",
       "nan hyperparameter", "inf hyperparameter", "text hyperparameter", "model of the other suite", "malformed tuned json",
       "out of range tuned json", "perf model", "empty validation split", "download without network", "misspelt algorithm",
       "leaderboard without store", "ui port", "leaderboard out is a file", "export under a file", "manifest out is a folder",
       "manifest under a file", "no lock beside the store"]


@pytest.mark.parametrize("case", IDS)
def test_bad_input_is_one_line_exit_2_and_creates_no_run(case, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    argv, needle = _bad_inputs(tmp_path)[case]
    try:
        rc = main(argv)
    except SystemExit as e:  # refused by the parser
        rc = e.code
    err = capsys.readouterr().err
    assert rc == 2, err
    assert needle in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert not (tmp_path / "ok.db").exists() and not (tmp_path / "mlflow.db").exists() and not (tmp_path / "nothing.db").exists()


def test_every_bad_input_class_is_tested(tmp_path):
    assert sorted(_bad_inputs(tmp_path)) == sorted(IDS)


def test_leaderboard_with_an_unknown_baseline_lists_the_algorithms(tmp_path, monkeypatch, capsys):
    from benchmark.track.tracking import Tracker
    from tests.leaderboard_runs import populate_standard

    uri = mlflow_sqlite(tmp_path / "m.db")
    populate_standard(Tracker(uri, "standard"))
    assert main(["leaderboard", "--tracking-uri", uri, "--baseline", "nosuch", "--out", str(tmp_path / "lb")]) == 2
    err = capsys.readouterr().err
    assert "baseline 'nosuch' has no finished runs; algorithms present: mltp, mltp_fo, standard" in err


def test_ui_on_a_busy_port_is_one_line(tmp_path, capsys):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert main(["ui", "--tracking-uri", f"sqlite:///{tmp_path / 'm.db'}", "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert f"port {port} on 127.0.0.1 is in use" in err and len(err.strip().splitlines()) == 1


def test_a_grid_whose_every_cell_failed_closes_its_parent_failed(tmp_path, capsys):
    uri = mlflow_sqlite(tmp_path / "m.db")
    argv = ["run", "--suite", "fewshot", "--algorithm", "protonet", "--meta-iterations", "5", "--test-episodes", "2",
            "--set", "lr=1e30", "--no-progress", "--tracking-uri", uri, "--out", str(tmp_path / "r")]
    assert main(argv) == 1  # the run diverged: FAILED, with the reason on stderr
    statuses = {r.data.tags.get("mlflow.runName"): r.info.status for r in _runs(uri, "fewshot")}
    assert statuses == {"glyphs-conv4-32-protonet-5w1s-s0": "FAILED", "grid:fewshot:quick": "FAILED"}
    assert "no verdict table" in capsys.readouterr().out


def test_raw_results_of_another_suite_or_truncated_are_one_line(tmp_path, capsys):
    import shutil

    lb = Path(__file__).resolve().parents[1] / "leaderboards" / "quick"
    (tmp_path / "mix").mkdir()
    shutil.copy(lb / "fewshot-runs.csv.gz", tmp_path / "mix" / "standard-runs.csv.gz")  # a renamed few-shot file
    assert main(["leaderboard", "--suite", "standard", "--from", str(tmp_path / "mix"), "--out", str(tmp_path / "o")]) == 2
    (tmp_path / "cut").mkdir()
    (tmp_path / "cut" / "fewshot-runs.csv.gz").write_bytes((lb / "fewshot-runs.csv.gz").read_bytes()[:300])
    assert main(["leaderboard", "--suite", "fewshot", "--from", str(tmp_path / "cut"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "hold runs of the fewshot suite" in err[0] and "cannot be read" in err[1], err


@pytest.fixture
def tiny_disk(tmp_path):
    """A 16 KiB tmpfs where the store keeps its artifacts (the SQLite file stays on the real disk)."""
    folder = tmp_path / "mlartifacts"
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", str(folder)], capture_output=True)
    if mounted.returncode:
        pytest.skip(f"cannot mount a small tmpfs here ({mounted.stderr.decode().strip()[:100]}): needs root")
    yield folder
    subprocess.run(["umount", "-l", str(folder)], check=False, capture_output=True)


def test_a_full_artifact_disk_fails_the_run_in_one_line_and_the_grid_carries_on(tmp_path, tiny_disk, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    uri = mlflow_sqlite(tmp_path / "m.db")
    argv = ["run", "--suite", "fewshot", "--algorithm", "protonet", "--seeds", "0", "1", "--meta-iterations", "2",
            "--test-episodes", "2", "--no-progress", "--tracking-uri", uri, "--out", str(tmp_path / "r")]
    assert main(argv) == 1
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    cells = [r for r in _runs(uri, "fewshot") if "config_key" in r.data.tags]
    assert sorted(r.info.status for r in cells) == ["FAILED", "FAILED"]  # the second seed ran after the first failed
    assert all("No space left on device" in r.data.tags["error"] for r in cells), [r.data.tags["error"] for r in cells]
    assert "mlartifacts/fewshot/" in cells[0].data.tags["error"]  # the file it could not write
    assert len(list((tmp_path / "checkpoints").glob("*.pt"))) == 2  # kept: nothing trained is lost
    subprocess.run(["umount", "-l", str(tiny_disk)], check=True)  # space again: the same command finishes both
    assert main(argv) == 0
    cells = [r for r in _runs(uri, "fewshot") if "config_key" in r.data.tags]
    assert sorted(r.info.status for r in cells) == ["FINISHED", "FINISHED"]


def test_evaluate_on_deleted_or_truncated_weights_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    uri = mlflow_sqlite(tmp_path / "m.db")
    assert main(["run", "--suite", "fewshot", "--algorithm", "protonet", "--meta-iterations", "2", "--test-episodes", "2",
                 "--no-progress", "--tracking-uri", uri]) == 0
    (final,) = (tmp_path / "mlartifacts").rglob("weights/final.pt")
    run_id = final.parent.parent.parent.name
    evaluate = ["evaluate", "--run", run_id, "--tracking-uri", uri, "--test-episodes", "2"]
    before = len(_runs(uri, "fewshot"))
    capsys.readouterr()
    final.write_bytes(final.read_bytes()[:1000])
    assert main(evaluate) == 2
    err = capsys.readouterr().err
    assert "truncated or corrupt" in err and len(err.strip().splitlines()) == 1, err
    final.unlink()
    assert main(evaluate) == 2
    err = capsys.readouterr().err
    assert "is missing from the artifact store" in err and len(err.strip().splitlines()) == 1, err
    assert len(_runs(uri, "fewshot")) == before and not [r for r in _runs(uri, "fewshot-eval") if r.info.status == "RUNNING"]


def _parent_table(uri, suite):
    import pandas as pd
    from mlflow.tracking import MlflowClient

    (parent,) = [r for r in _runs(uri, suite) if r.data.tags.get("grid_parent") == "1"]
    path = MlflowClient(tracking_uri=uri).download_artifacts(parent.info.run_id, f"{suite}-runs.csv.gz")
    return parent, pd.read_csv(path)


def test_a_sharded_grid_s_parent_tables_every_shard_whichever_finishes_last(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    uri = mlflow_sqlite(tmp_path / "m.db")
    argv = ["run", "--suite", "fewshot", "--algorithm", "protonet", "transfer", "--seeds", "0", "1", "--meta-iterations", "2",
            "--test-episodes", "3", "--no-progress", "--tracking-uri", uri, "--out", str(tmp_path / "plots")]
    assert main(argv + ["--shard", "2/2"]) == 0
    assert main(argv + ["--shard", "1/2"]) == 0
    out = capsys.readouterr().out
    assert "shard 1/2: the table above holds this shard's 2 of the grid's 4 runs" in out and "(4 of 4)" in out
    parent, runs = _parent_table(uri, "fewshot")
    assert len(runs) == 4 and parent.info.status == "FINISHED"
    assert len(list((tmp_path / "plots").glob("*-shard*of2.png"))) == 2  # one figure per shard, neither overwritten
    # the first shard again (its cells skipped, finished): it closes last now and still tables the whole grid
    assert main(argv + ["--shard", "2/2"]) == 0
    assert "(4 of 4)" in capsys.readouterr().out
    assert len(_parent_table(uri, "fewshot")[1]) == 4
