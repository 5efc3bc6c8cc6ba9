"""Optuna tuning end to end: tune -> run --tuned, resumable studies, nested MLflow runs,
two concurrent workers sharing one study."""
import json
import os
import subprocess
import sys
from pathlib import Path

import optuna
import pytest

from benchmark.cli import main

from .stores import mlflow_sqlite

ROOT = Path(__file__).resolve().parent.parent
TUNE = ["tune", "--suite", "standard", "--model", "cnet1", "--epochs", "2", "--max-steps", "6", "--no-progress"]


@pytest.mark.slow
def test_tune_then_run_tuned_and_resume(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    uri, storage = mlflow_sqlite(tmp_path / "m.db"), f"sqlite:///{tmp_path / 'optuna.db'}"
    args = TUNE + ["--algorithm", "mltp_fo", "--tracking-uri", uri, "--storage", storage]
    assert main(args + ["--trials", "2"]) == 0
    study = optuna.load_study(study_name="standard.quick.glyph-fonts.cnet1.mltp_fo", storage=storage)
    assert len(study.trials) == 2
    # the same command with a larger budget continues the study
    assert main(args + ["--trials", "3"]) == 0
    study = optuna.load_study(study_name="standard.quick.glyph-fonts.cnet1.mltp_fo", storage=storage)
    assert [t.number for t in study.trials] == [0, 1, 2]
    best = json.loads((tmp_path / "tuned" / "standard.quick.glyph-fonts.cnet1.mltp_fo.json").read_text())
    assert best["trials"] == 3 and set(best["params"]) == {"lr", "eta", "alpha_mean"}
    assert best["best_value"] == study.best_value  # validation accuracy, never test
    from mlflow.tracking import MlflowClient

    c = MlflowClient(tracking_uri=uri)
    runs = c.search_runs([c.get_experiment_by_name("standard-tuning").experiment_id])
    parents = [r for r in runs if r.data.tags.get("study_parent") == "1"]
    children = [r for r in runs if r.data.tags.get("tuning") == "1"]
    assert len(parents) == 1 and len(children) == 3
    assert all(r.data.tags["mlflow.parentRunId"] == parents[0].info.run_id for r in children)
    arts = {a.path for a in c.list_artifacts(parents[0].info.run_id)}
    assert "optimization_history.png" in arts and "standard.quick.glyph-fonts.cnet1.mltp_fo.json" in arts
    capsys.readouterr()
    run = ["run", "--tuned", "--algorithm", "mltp_fo", "--model", "cnet1", "--seeds", "0", "--epochs", "2", "--max-steps", "6",
           "--tracking-uri", uri, "--no-progress"]
    assert main(run) == 0
    r = next(r for r in c.search_runs([c.get_experiment_by_name("standard").experiment_id]) if "config_key" in r.data.tags)
    assert float(r.data.params["hp.lr"]) == pytest.approx(best["params"]["lr"])
    assert "tuned hyperparameters" in r.data.tags["scale_note"]
    assert main(run[:-5] + ["--algorithm", "standard", "--tracking-uri", uri]) == 2  # no study for standard yet
    assert "no tuned parameters for study standard.quick.glyph-fonts.cnet1.standard" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.store
def test_two_concurrent_workers_share_one_study(tmp_path, session_cache, stores):
    storage, uri = stores.optuna("optuna"), stores.tracking("m")
    env = dict(os.environ, PYTHONPATH=str(ROOT), BENCHMARK_CACHE=str(session_cache), OMP_NUM_THREADS="1")
    optuna.create_study(study_name="standard.quick.glyph-fonts.cnet1.standard", storage=storage, direction="maximize")
    cmd = [sys.executable, "-m", "benchmark"] + TUNE + ["--algorithm", "standard", "--trials", "4", "--storage", storage,
                                                      "--tracking-uri", uri]
    subprocess.run([sys.executable, "-c", f"from benchmark.track.tracking import Tracker; Tracker({uri!r}, 'standard-tuning')"],
                   cwd=tmp_path, env=env, check=True, timeout=120)
    procs = [subprocess.Popen(cmd + ["--worker", str(w)], cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for w in range(2)]
    for p in procs:
        _, err = p.communicate(timeout=600)
        assert p.returncode == 0, err
    study = optuna.load_study(study_name="standard.quick.glyph-fonts.cnet1.standard", storage=storage)
    finished = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    done = [t for t in study.trials if t.state in finished]
    assert 4 <= len(done) <= 5  # both stop at 4 finished (complete or pruned); one may be mid-trial then
    assert len({t.number for t in study.trials}) == len(study.trials)
    assert len({t.params["lr"] for t in done}) == len(done)  # no duplicated trial


@pytest.mark.slow
@pytest.mark.store
def test_killed_study_continues_when_the_same_command_is_rerun(tmp_path, session_cache, stores):
    """SIGKILL a tune worker mid-trial (no handler can run), rerun the same command: the
    finished trials are kept, the killed trial is failed as stale, its MLflow run is
    closed as KILLED, and new trials fill the budget."""
    import time

    from mlflow.tracking import MlflowClient

    storage, uri = stores.optuna("optuna"), stores.tracking("m")
    env = dict(os.environ, PYTHONPATH=str(ROOT), BENCHMARK_CACHE=str(session_cache), OMP_NUM_THREADS="1")
    name = "standard.quick.glyph-fonts.cnet1.standard"
    cmd = [sys.executable, "-m", "benchmark"] + TUNE + ["--algorithm", "standard", "--trials", "3", "--heartbeat", "1",
                                                      "--storage", storage, "--tracking-uri", uri]
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    S = optuna.trial.TrialState
    deadline = time.monotonic() + 300
    before = []
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
            try:
                trials = optuna.load_study(study_name=name, storage=storage).trials
            except (KeyError, Exception):
                continue
            running = [t.number for t in trials if t.state == S.RUNNING and t.number >= 1]
            if not (running and any(t.state == S.COMPLETE for t in trials)):
                continue
            # kill only once the trial's MLflow run exists (the trial is RUNNING in Optuna a moment earlier)
            c = MlflowClient(tracking_uri=uri)
            exp = c.get_experiment_by_name("standard-tuning")
            if exp and c.search_runs([exp.experiment_id], f"tags.`optuna.trial` = '{running[0]}' and attributes.status = 'RUNNING'"):
                before = trials
                break
    finally:
        proc.kill()
        out, _ = proc.communicate(timeout=60)
    assert before, f"the worker never reached its second trial:\n{out}"
    killed = next(t.number for t in before if t.state == S.RUNNING)
    complete = {t.number: t.params for t in before if t.state == S.COMPLETE}
    c = MlflowClient(tracking_uri=uri)
    exp = c.get_experiment_by_name("standard-tuning").experiment_id
    assert any(r.info.status == "RUNNING" for r in c.search_runs([exp])), "SIGKILL should leave the trial's run RUNNING"
    time.sleep(3.5)  # three heartbeats of silence: the trial is stale
    res = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    assert "failed as stale" in res.stdout
    trials = optuna.load_study(study_name=name, storage=storage).trials
    assert trials[killed].state == S.FAIL
    assert sum(t.state in (S.COMPLETE, S.PRUNED) for t in trials) == 3
    assert all(trials[n].state == S.COMPLETE and trials[n].params == p for n, p in complete.items())
    assert [t.number for t in trials] == list(range(len(trials)))
    runs = c.search_runs([exp])
    assert not [r for r in runs if r.info.status == "RUNNING"]
    by_trial = {r.data.tags.get("optuna.trial"): r.info.status for r in runs if r.data.tags.get("tuning") == "1"}
    assert by_trial[str(killed)] == "KILLED"
    assert [r.info.status for r in runs if r.data.tags.get("study_parent") == "1"] == ["FINISHED"]
