"""``--executor ray``: the grid's cells (and tuning workers) as Ray tasks on a real local
Ray cluster (``ray.init(num_cpus=2)``); skipped where the optional extra is absent."""
import os
import pickle
from pathlib import Path

import pytest
import torch

from benchmark.cli import main
from benchmark.plan import build_plan
from benchmark.plan.overrides import Overrides

from .stores import mlflow_sqlite

ray = pytest.importorskip("ray", reason='Ray is an optional extra: pip install -e ".[ray]"')

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster(session_cache):
    # the workers get the session's data cache (the driver's is set per test, after the cluster started)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR",
             runtime_env={"env_vars": {"BENCHMARK_CACHE": str(session_cache)}})
    yield
    ray.shutdown()


def _specs():
    o = Overrides(models=["cnet1"], algorithms=["standard", "mltp_fo"], seeds=[0], epochs=1, max_steps=3)
    return build_plan("standard", "quick", o)


def _tracker(tmp_path, name):
    from benchmark.track.tracking import Tracker

    return Tracker(f"sqlite:///{tmp_path / name}", "standard")


def test_ray_tasks_give_the_sequential_results_with_the_same_threads(cluster, tmp_path):
    from benchmark.run.ray_cells import run_ray
    from benchmark.run.runner import run_grid

    specs = _specs()
    lines = []
    par = run_ray(specs, _tracker(tmp_path, "ray.db"), torch.device("cpu"), task_cpus=1, echo=lines.append)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        seq = run_grid(specs, _tracker(tmp_path, "seq.db"), torch.device("cpu"), progress=False, echo=lambda m: None)
    finally:
        torch.set_num_threads(threads)
    assert [r.status for r in par] == ["FINISHED"] * 2 and len(lines) == 2 and all("1 threads" in x for x in lines)
    assert [r.metrics["final_test_acc"] for r in par] == [r.metrics["final_test_acc"] for r in seq]
    runs = _tracker(tmp_path, "ray.db").runs()
    assert {r.data.tags["hardware.torch_threads"] for r in runs} == {"1"} and {r.info.status for r in runs} == {"FINISHED"}


def test_a_dead_task_fails_its_run_and_the_grid_goes_on(cluster, tmp_path):
    from benchmark.run import ray_cells

    specs = _specs()
    doomed = specs[0].key()

    def task(spec, uri, experiment, device, threads, options, plugin_payload=None):
        spec = pickle.loads(spec)
        if spec.key() == doomed:  # the task's process dies after opening its MLflow run (a lost worker or node)
            from benchmark.track.tracking import Tracker

            Tracker(uri, experiment).start(spec.run_name, {}, {"config_key": spec.key()})
            os._exit(1)
        return ray_cells._task(spec, uri, experiment, device, threads, options, plugin_payload)

    tracker = _tracker(tmp_path, "dead.db")
    res = ray_cells.run_ray(specs, tracker, torch.device("cpu"), task=task, echo=lambda m: None)
    assert [r.status for r in res] == ["FAILED", "FINISHED"]
    assert "Ray task died" in res[0].error
    dead = [r for r in tracker.runs() if r.data.tags.get("config_key") == doomed]
    assert len(dead) == 1 and dead[0].info.status == "FAILED" and "Ray task died" in dead[0].data.tags["error"]
    again = ray_cells.run_ray(specs, tracker, torch.device("cpu"), echo=lambda m: None)  # rerunning resumes: only the failed cell runs
    assert [r.status for r in again] == ["FINISHED"] * 2 and again[1].run_id == res[1].run_id


def test_a_plugin_travels_with_its_ray_tasks(cluster, tmp_path, clean_registry):
    """The plugin's source goes with each task: the Ray workers load it although the file is gone from the path the
    driver loaded it from (as on another machine), and each run records the file's hash."""
    import shutil

    from benchmark import plugins
    from benchmark.run.ray_cells import run_ray

    mine = tmp_path / "mine" / "cosine_proto.py"
    mine.parent.mkdir()
    shutil.copy(Path(__file__).resolve().parents[1] / "examples" / "cosine_proto" / "cosine_proto.py", mine)
    plugins.load(str(mine))
    shutil.rmtree(mine.parent)
    specs = build_plan("fewshot", "quick", Overrides(algorithms=["cosine_proto"], seeds=[0], meta_iterations=2,
                                                     test_episodes=2))
    from benchmark.track.tracking import Tracker

    tracker = Tracker(mlflow_sqlite(tmp_path / "p.db"), "fewshot")
    res = run_ray(specs, tracker, torch.device("cpu"), echo=lambda m: None)
    assert [r.status for r in res] == ["FINISHED"], [r.error for r in res]
    (run,) = tracker.runs()
    assert run.data.tags["algorithm"] == "cosine_proto" and "cosine_proto.py sha256:" in run.data.tags["plugins"]


def test_tune_workers_as_ray_tasks_share_one_study(cluster, tmp_path, monkeypatch):
    import optuna

    monkeypatch.chdir(tmp_path)
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    code = main(["tune", "--model", "cnet1", "--algorithm", "mltp_fo", "--epochs", "1", "--max-steps", "2", "--trials", "3",
                 "--workers", "2", "--executor", "ray", "--storage", storage, "--tracking-uri", mlflow_sqlite(tmp_path / "m.db"),
                 "--no-progress"])
    assert code == 0
    (name,) = optuna.get_all_study_names(storage)
    trials = optuna.load_study(study_name=name, storage=storage).trials
    finished = [t for t in trials if t.state.is_finished()]
    assert 3 <= len(finished) <= 4  # MaxTrialsCallback: the budget, plus at most one trial each other worker had started
    assert (tmp_path / "tuned" / f"{name}.json").is_file()


@pytest.mark.parametrize("argv, says", [
    (["--executor", "ray", "--ray-address", "127.0.0.1:1"], "nothing answers at 127.0.0.1:1"),
    (["--executor", "ray", "--workers", "2"], "--workers is the local executor's"),
    (["--ray-address", "127.0.0.1:6379"], "need --executor ray"),
    (["--executor", "ray", "--task-cpus", "0"], "--task-cpus must be >= 1"),
])
def test_bad_executor_flags_are_one_line(argv, says, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["run", "--no-progress", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and says in err


def test_until_decided_runs_its_looks_as_ray_tasks(cluster, tmp_path, capsys):
    """--until-decided with --executor ray: each look's cells are Ray tasks, and the verdicts say why each row stopped."""
    uri = mlflow_sqlite(tmp_path / "seq.db")
    argv = ["run", "--model", "cnet1", "--algorithm", "standard", "mltp_fo", "--epochs", "1", "--max-steps", "3",
            "--until-decided", "--max-seeds", "3", "--min-effect", "50", "--executor", "ray", "--tracking-uri", uri,
            "--checkpoint-dir", str(tmp_path / "ck"), "--out", str(tmp_path / "res"), "--no-progress"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "look 1 (3 seeds): 6 cell(s)" in out
    assert "(futility at look 1, 3 seeds" in out  # a 50 pp margin is decided at once
    runs = _tracker(tmp_path, "seq.db").runs()
    assert sum(r.data.tags.get("mlflow.parentRunId") is not None for r in runs) == 6
