"""``run --workers N``: the same runs as a sequential grid, in N processes."""
import os
import subprocess
import sys

import pytest

from benchmark.cli import main
from benchmark.run.workers import threads_per_worker

from .stores import mlflow_sqlite


def test_threads_are_split_between_workers():
    assert threads_per_worker(2, cores=2) == 1 and threads_per_worker(2, cores=16) == 8 and threads_per_worker(4, cores=2) == 1


def test_bad_worker_counts_are_one_line(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["run", "--workers", "0", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--workers must be >= 1" in err


def _finished(uri):
    from mlflow.tracking import MlflowClient

    c = MlflowClient(tracking_uri=uri)
    runs = c.search_runs([c.get_experiment_by_name("standard").experiment_id])
    cells = [r for r in runs if r.data.tags.get("grid_parent") != "1"]
    assert all(r.info.status == "FINISHED" for r in runs)
    return {r.data.tags["config_key"]: (r.data.metrics["final_test_acc"], r.data.tags["hardware.torch_threads"]) for r in cells}


@pytest.mark.slow
def test_two_workers_give_the_sequential_results_with_the_same_threads(tmp_path):
    args = ["-m", "benchmark", "run", "--model", "cnet1", "--algorithm", "standard", "mltp_fo", "--seeds", "0", "1",
            "--epochs", "1", "--max-steps", "3", "--no-progress"]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads_per_worker(2))}
    seq = mlflow_sqlite(tmp_path / "seq.db")
    subprocess.run([sys.executable, *args, "--tracking-uri", seq], cwd=tmp_path, env=env, check=True, capture_output=True)
    par = mlflow_sqlite(tmp_path / "par.db")
    out = subprocess.run([sys.executable, *args, "--tracking-uri", par, "--workers", "2", "--checkpoint-dir", "ck2"],
                         cwd=tmp_path, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.count(" threads)") == 4  # one line per cell: its pid, host and thread count
    assert _finished(par) == _finished(seq)  # the same runs, metrics and thread counts, exactly
    again = subprocess.run([sys.executable, *args, "--tracking-uri", par, "--workers", "8"], cwd=tmp_path,
                           capture_output=True, text=True)
    assert again.returncode == 0 and "using 4 worker(s)" in again.stdout and again.stdout.count("already finished") == 4


def test_without_the_extra_says_how_to_install(tmp_path):
    code = "import sys; sys.modules['ray'] = None; from benchmark.cli import main; sys.exit(main(['run', '--executor', 'ray']))"
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert out.returncode == 2 and out.stderr.strip().count("\n") == 0 and 'pip install -e ".[ray]"' in out.stderr


@pytest.mark.slow
def test_a_script_without_the_main_guard_gets_one_line(tmp_path):
    """Workers are spawned and re-import the calling script: an unguarded script used to die with a long
    BrokenProcessPool traceback; now its process prints one line that says to add the guard, and exits 2."""
    import subprocess
    import sys

    script = tmp_path / "unguarded.py"
    script.write_text(
        "from benchmark.cli import main\n"
        f"raise SystemExit(main(['run', '--suite', 'fewshot', '--algorithm', 'protonet', 'maml', '--meta-iterations', '2', "
        f"'--test-episodes', '2', '--workers', '2', '--no-progress', '--tracking-uri', 'sqlite:///{tmp_path}/m.db', "
        f"'--out', '{tmp_path}/results']))\n")
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    err = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert len(err) == 1 and 'if __name__ == "__main__":' in err[0], err
