"""Long runs survive interruption: real SIGKILL/SIGTERM, resume to identical results,
corrupted checkpoints, skipping finished runs, concurrent shards on one SQLite store."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from benchmark.run import checkpoint
from benchmark.run.checkpoint import CorruptCheckpointError

from .stores import mlflow_sqlite

ROOT = Path(__file__).resolve().parent.parent
RUN = [sys.executable, "-m", "benchmark", "run", "--no-progress", "--model", "cnet2", "--seeds", "0"]


def _env(cache):
    env = dict(os.environ, PYTHONPATH=str(ROOT), BENCHMARK_CACHE=str(cache), OMP_NUM_THREADS="1")
    env.pop("MLFLOW_TRACKING_URI", None)
    return env


def _runs(uri, experiment="standard"):
    from mlflow.tracking import MlflowClient

    c = MlflowClient(tracking_uri=uri)
    runs = c.search_runs([c.get_experiment_by_name(experiment).experiment_id], max_results=1000)
    return c, [r for r in runs if r.data.tags.get("grid_parent") != "1"]  # the grid's cells, not its parent run


def _wait_for_checkpoint(folder: Path, proc, timeout=240):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if list(folder.glob("*.pt")):
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.2)
    return False


@pytest.mark.slow
@pytest.mark.store
def test_sigkill_then_resume_equals_uninterrupted_run(tmp_path, session_cache, stores):
    args = ["--algorithm", "mltp", "--epochs", "5"]
    # uninterrupted reference
    ref_uri = stores.tracking("ref")
    r = subprocess.run(RUN + args + ["--tracking-uri", ref_uri], cwd=tmp_path, env=_env(session_cache), capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    # interrupted with SIGKILL mid-run, then the same command again
    work = tmp_path / "work"
    work.mkdir()
    uri = stores.tracking("work")
    p = subprocess.Popen(RUN + args + ["--tracking-uri", uri], cwd=work, env=_env(session_cache),
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert _wait_for_checkpoint(work / "checkpoints", p), "no checkpoint appeared"
    time.sleep(0.5)
    p.send_signal(signal.SIGKILL)
    p.wait(timeout=60)
    assert p.returncode == -signal.SIGKILL
    ck = next((work / "checkpoints").glob("*.pt"))
    epoch_at_kill = checkpoint.load(ck)["position"]["round"]
    assert 1 <= epoch_at_kill < 5
    r2 = subprocess.run(RUN + args + ["--tracking-uri", uri], cwd=work, env=_env(session_cache), capture_output=True, text=True, timeout=600)
    assert r2.returncode == 0, r2.stderr
    assert not list((work / "checkpoints").glob("*.pt"))  # removed once finished
    _, ref = _runs(ref_uri)
    _, got = _runs(uri)
    assert len(got) == 1, "the resumed run continues the same MLflow run"
    assert got[0].info.status == "FINISHED" and got[0].data.tags["resumed_from"] == str(epoch_at_kill)
    for m in ("final_test_acc", "final_val_acc", "final_train_loss", "final_alpha_mean", "final_grad_agreement"):
        assert got[0].data.metrics[m] == ref[0].data.metrics[m], m


@pytest.mark.slow
def test_sigterm_marks_killed_and_keeps_checkpoint(tmp_path, session_cache):
    uri = mlflow_sqlite(tmp_path / "mlflow.db")
    p = subprocess.Popen(RUN + ["--algorithm", "standard", "--epochs", "40", "--tracking-uri", uri], cwd=tmp_path,
                         env=_env(session_cache), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert _wait_for_checkpoint(tmp_path / "checkpoints", p)
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=120)
    assert p.returncode == 143, err
    assert "KILLED" in err and len(err.strip().splitlines()) == 1
    _, runs = _runs(uri)
    assert [r.info.status for r in runs] == ["KILLED"]
    assert list((tmp_path / "checkpoints").glob("*.pt"))


def test_corrupted_checkpoint_is_detected(tmp_path):
    path = tmp_path / "k.pt"
    checkpoint.save(path, {"w": torch.arange(1000.0), "epoch": 3})
    assert checkpoint.load(path)["epoch"] == 3
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptCheckpointError, match="corrupted.*--force"):
        checkpoint.load(path)
    path.write_bytes(b"")
    with pytest.raises(CorruptCheckpointError):
        checkpoint.load(path)


@pytest.mark.slow
def test_corrupted_checkpoint_fails_the_run_with_one_line(tmp_path, monkeypatch, capsys):
    from benchmark.cli import main
    from benchmark.plan import Overrides, build_plan

    monkeypatch.chdir(tmp_path)
    spec = build_plan("standard", "quick", Overrides(models=["cnet1"], algorithms=["standard"], seeds=[0], epochs=1))[0]
    (tmp_path / "checkpoints").mkdir()
    uri = mlflow_sqlite(tmp_path / "m.db")
    bad = checkpoint.path_for(tmp_path / "checkpoints", spec.key(), f"{uri}#standard")  # named by store and experiment
    bad.write_bytes(checkpoint.MAGIC + b"0" * 64 + b"\nnot a checkpoint")
    rc = main(["run", "--model", "cnet1", "--algorithm", "standard", "--seeds", "0", "--epochs", "1", "--tracking-uri", uri, "--no-progress"])
    assert rc == 1
    assert "corrupted" in capsys.readouterr().err
    _, runs = _runs(uri)
    assert [r.info.status for r in runs] == ["FAILED"]


@pytest.mark.slow
def test_finished_runs_are_skipped_and_force_reruns(tmp_path, monkeypatch, capsys):
    from benchmark.cli import main

    monkeypatch.chdir(tmp_path)
    uri = mlflow_sqlite(tmp_path / "m.db")
    argv = ["run", "--model", "cnet1", "--algorithm", "standard", "mltp_fo", "--seeds", "0", "--epochs", "1",
            "--max-steps", "3", "--tracking-uri", uri, "--no-progress"]
    assert main(argv) == 0
    first = capsys.readouterr().out
    assert main(argv + ["--resume"]) == 0
    out = capsys.readouterr().out
    assert "skipped 2 of 2 runs" in out
    table = lambda text: text[text.index("glyph-fonts / cnet1"):text.index("accuracy per epoch, every algorithm")]  # noqa: E731
    assert table(out).split("time/run")[0] == table(first).split("time/run")[0]
    _, runs = _runs(uri)
    assert len(runs) == 2
    assert main(argv + ["--force"]) == 0
    _, runs = _runs(uri)
    assert len(runs) == 4


@pytest.mark.slow
@pytest.mark.store
def test_two_concurrent_shards_on_one_store_lose_no_run(tmp_path, session_cache, stores):
    uri = stores.tracking("shared")
    base = [sys.executable, "-m", "benchmark", "run", "--no-progress", "--model", "cnet1", "--algorithm", "standard",
            "mltp_fo", "--seeds", "0", "1", "2", "--epochs", "1", "--max-steps", "2", "--tracking-uri", uri]
    # create the store first so both shards race on runs, not on schema creation
    subprocess.run([sys.executable, "-c", f"from benchmark.track.tracking import Tracker; Tracker({uri!r}, 'standard')"],
                   cwd=tmp_path, env=_env(session_cache), check=True, timeout=120)
    procs = [subprocess.Popen(base + ["--shard", f"{i}/2"], cwd=tmp_path, env=_env(session_cache),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in (1, 2)]
    outs = [p.communicate(timeout=600) for p in procs]
    for p, (_out, err) in zip(procs, outs):
        assert p.returncode == 0, err
    assert "shard 1/2 of 6" in outs[0][0] and "shard 2/2 of 6" in outs[1][0]
    _, runs = _runs(uri)
    assert len(runs) == 6 and all(r.info.status == "FINISHED" for r in runs)
    assert len({r.data.tags["config_key"] for r in runs}) == 6


@pytest.mark.slow
@pytest.mark.parametrize("algorithm", ["protonet", "mtl_maml"])
def test_fewshot_resume_from_checkpoint_state_equals_uninterrupted(algorithm):
    """Meta-training continued from a mid-run checkpoint state ends exactly where an
    uninterrupted run ends (sampler RNG, optimiser and global head included)."""
    import datasets
    from benchmark.plan import Overrides, build_plan
    from benchmark.run.loop import train
    from benchmark.suites import get_suite

    spec = build_plan("fewshot", "quick", Overrides(algorithms=[algorithm], meta_iterations=6, test_episodes=5, seeds=[0]))[0]
    spec.val_every, spec.val_episodes = 2, 3
    data = datasets.get_episodic("glyphs")
    device = torch.device("cpu")
    states = []
    suite = get_suite("fewshot")
    ref = train(suite.session(spec, data, device), "ref", lambda rnd, rec: None, progress=False, on_checkpoint=states.append)
    assert [s["position"]["round"] for s in states] == [2, 4, 6]
    path = Path(os.environ["BENCHMARK_CACHE"]) / f"resume-{algorithm}.pt"
    checkpoint.save(path, states[0])  # through the real file format
    resumed = train(suite.session(spec, data, device), "resumed", lambda rnd, rec: None, progress=False,
                    resume=checkpoint.load(path))
    for k in ("test_acc", "test_ci95", "final_val_acc"):
        assert resumed[k] == ref[k], k
    assert resumed["test_episode_acc"] == ref["test_episode_acc"]


def test_a_resumed_runs_wall_time_adds_its_processes(tmp_path, monkeypatch):
    """A run interrupted after its first checkpoint and resumed reports the wall time of both processes (its cost),
    not only the last one's, and the machine's load over both (a first process that shared the machine counts)."""
    from benchmark.plan import Overrides, build_plan
    from benchmark.run import runner
    from benchmark.run.data import DataCache
    from benchmark.track.tracking import Tracker

    spec = build_plan("fewshot", "quick", Overrides(algorithms=["protonet"], meta_iterations=6, test_episodes=2, seeds=[0]))[0]
    spec = __import__("dataclasses").replace(spec, val_every=2, val_episodes=2)
    tracker, cache, device = Tracker(mlflow_sqlite(tmp_path / "m.db"), "fewshot"), DataCache(), torch.device("cpu")
    calls = []

    def stop_after_first(rnd, rec):  # the first checkpoint is written after the first record: stop at the second
        calls.append(rnd)
        if len(calls) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(runner.os, "getloadavg", lambda: (9.0, 0.0, 0.0))  # the first process shared the machine
    with pytest.raises(KeyboardInterrupt):
        runner.execute(spec, tracker, device, cache, progress=False, checkpoint_dir=tmp_path / "ck", on_progress=stop_after_first)
    state = checkpoint.load(next((tmp_path / "ck").rglob("*.pt")))
    first = state["wall_time_s"]
    assert first > 0 and state["machine_loads"] == [9.0]
    monkeypatch.setattr(runner.os, "getloadavg", lambda: (1.0, 0.0, 0.0))
    res = runner.execute(spec, tracker, device, cache, progress=False, checkpoint_dir=tmp_path / "ck")
    assert res.status == "FINISHED" and res.prior_wall == first and res.wall_time > first
    loads = [9.0] + [1.0] * (len(res.history) - 1)  # one load per record, the first record's from the first process
    assert res.metrics["machine_load"] == pytest.approx(sum(loads) / len(loads)) and res.metrics["machine_load"] > 1.0
