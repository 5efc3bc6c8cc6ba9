"""A researcher's own algorithm enters every command without editing the package (``--plugin FILE.py`` or the
``meta_benchmark.algorithms`` entry points), with its provenance in the run's tags; a plugin that cannot be
used is one line, exit 2, and no MLflow run."""
import json
import shutil
import subprocess
import sys
import types
from pathlib import Path

import pytest
import torch

import algorithms
from benchmark import plugins
from benchmark.cli import main
from benchmark.track.tracking import Tracker

from .stores import mlflow_sqlite

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "cosine_proto"


def _args(tmp_path):
    return ["--no-progress", "--tracking-uri", f"sqlite:///{tmp_path / 'm.db'}", "--out", str(tmp_path / "results")]


def test_a_plugin_file_runs_beside_the_builtins_with_its_provenance(tmp_path, clean_registry):
    argv = ["run", "--plugin", str(EXAMPLE / "cosine_proto.py"), "--suite", "fewshot", "--algorithm", "cosine_proto",
            "protonet", "--meta-iterations", "3", "--test-episodes", "4", "--set", "scale=5", *_args(tmp_path)]
    assert main(argv) == 0
    assert "cosine_proto" in algorithms.available("episodes")
    assert json.loads(__import__("os").environ[plugins.ENV]) == [str(EXAMPLE / "cosine_proto.py")]
    tracker = Tracker(mlflow_sqlite(tmp_path / "m.db"), "fewshot")
    runs = tracker.client.search_runs([tracker.experiment_id], "tags.algorithm = 'cosine_proto'")
    assert len(runs) == 1 and runs[0].info.status == "FINISHED"
    assert "cosine_proto.py sha256:" in runs[0].data.tags["plugins"] and runs[0].data.params["hp.scale"] == "5.0"


BAD = {
    "missing.py": (None, "no such file"),
    "raises.py": ("raise RuntimeError('boom')\n", "failed to import: RuntimeError: boom"),
    "empty.py": ("X = 1\n", "registers no algorithm"),
    "clash.py": ("import algorithms\nfrom algorithms.protonet import ProtoNet\n\n"
                 "@algorithms.register('protonet')\nclass Mine(ProtoNet):\n    pass\n", "registered twice"),
    "consumes.py": ("import algorithms\nfrom algorithms.protonet import ProtoNet\n\n"
                    "@algorithms.register('odd')\nclass Odd(ProtoNet):\n    consumes = 'pixels'\n", "consumes='pixels'"),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_a_plugin_that_cannot_be_used_is_one_line(name, tmp_path, capsys, clean_registry):
    source, message = BAD[name]
    if source is not None:
        (tmp_path / name).write_text(source)
    assert main(["run", "--plugin", str(tmp_path / name), "--suite", "fewshot", *_args(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert not (tmp_path / "m.db").exists()  # nothing ran, no MLflow run


@pytest.mark.slow
def test_an_installed_plugin_package_is_found_by_its_entry_point(tmp_path):
    """``pip install`` of examples/cosine_proto in a fresh virtual environment (torch and the suite from this
    one) is enough: no --plugin."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    py = venv / "bin" / "python"
    shutil.copytree(EXAMPLE, tmp_path / "src")
    subprocess.run([py, "-m", "pip", "install", "-q", "--no-deps", str(tmp_path / "src")],
                   check=True, timeout=600)
    out = subprocess.run([py, "-m", "benchmark", "list"], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert out.returncode == 0 and "cosine_proto [episodes]" in out.stdout, out.stderr[-2000:]


@pytest.mark.slow
def test_a_plugin_travels_to_spawned_workers(tmp_path, clean_registry):
    argv = ["run", "--plugin", str(EXAMPLE / "cosine_proto.py"), "--suite", "fewshot", "--algorithm", "cosine_proto",
            "protonet", "--meta-iterations", "2", "--test-episodes", "2", "--workers", "2", *_args(tmp_path)]
    assert main(argv) == 0
    tracker = Tracker(mlflow_sqlite(tmp_path / "m.db"), "fewshot")
    runs = tracker.client.search_runs([tracker.experiment_id], "tags.algorithm = 'cosine_proto'")
    assert [r.info.status for r in runs] == ["FINISHED"] and "sha256:" in runs[0].data.tags["plugins"]


def test_a_cheating_plugin_fails_with_the_reason_instead_of_scoring(tmp_path, capsys, clean_registry):
    """A plugin that reads the test queries' labels gets a LabelLeakError: its run is FAILED, it never scores 100%."""
    (tmp_path / "cheat.py").write_text(
        "import torch.nn.functional as F\nimport algorithms\nfrom algorithms.protonet import ProtoNet\n\n"
        "@algorithms.register('cheat')\nclass Cheat(ProtoNet):\n"
        "    def query_logits(self, task):\n        return 10.0 * F.one_hot(task.query_y, 5).float()\n\n"
        "    def query_logits_block(self, block):\n        return 10.0 * F.one_hot(block.query_y, 5).float()\n")
    argv = ["run", "--plugin", str(tmp_path / "cheat.py"), "--suite", "fewshot", "--algorithm", "cheat",
            "--meta-iterations", "2", "--test-episodes", "2", *_args(tmp_path)]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "cheat" in err and "label" in err.lower(), err[-1500:]
    tracker = Tracker(mlflow_sqlite(tmp_path / "m.db"), "fewshot")
    runs = tracker.client.search_runs([tracker.experiment_id], "tags.algorithm = 'cheat'")
    assert [r.info.status for r in runs] == ["FAILED"] and "test_acc" not in runs[0].data.metrics


def test_the_readme_walk_through_a_plugin_through_run_leaderboard_evaluate_and_tune(tmp_path, capsys, clean_registry):
    """README's path at a tiny budget: the plugin beside built-ins with verdicts, the leaderboard against another
    baseline (labelled exploratory), its kept weights re-scored by evaluate, and tuned over its own search space."""
    plugin = ["--plugin", str(EXAMPLE / "cosine_proto.py")]
    uri = mlflow_sqlite(tmp_path / "m.db")
    tiny = ["--meta-iterations", "2", "--test-episodes", "3"]
    assert main(["run", *plugin, "--suite", "fewshot", "--algorithm", "cosine_proto", "protonet", "transfer",
                 "--seeds", "0", "1", "2", *tiny, *_args(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert any(line.lstrip().startswith("cosine_proto") and "transfer" in out for line in out.splitlines())
    board = tmp_path / "board"
    assert main(["leaderboard", *plugin, "--suite", "fewshot", "--tracking-uri", uri, "--baseline", "protonet",
                 "--out", str(board)]) == 0
    table = (board / "fewshot.md").read_text()
    assert "| cosine_proto |" in table and "exploratory" in table.lower()
    tracker = Tracker(uri, "fewshot")
    (run,) = tracker.client.search_runs([tracker.experiment_id], "tags.algorithm = 'cosine_proto' and tags.seed = '0'")
    assert main(["evaluate", *plugin, "--run", run.info.run_id, "--tracking-uri", uri, "--test-episodes", "3"]) == 0
    assert main(["tune", *plugin, "--suite", "fewshot", "--algorithm", "cosine_proto", "--trials", "1", *tiny,
                 "--tracking-uri", mlflow_sqlite(tmp_path / "t.db"), "--storage", f"sqlite:///{tmp_path / 'o.db'}",
                 "--tuned-dir", str(tmp_path / "tuned"), "--no-progress"]) == 0
    assert list((tmp_path / "tuned").glob("*cosine_proto*.json"))  # the result in the test's folder, not the repo's
    assert "scale" in capsys.readouterr().out


def test_a_standard_suite_plugin_runs_beside_standard_training(tmp_path, clean_registry):
    """examples/label_smoothing: a `consumes = "batches"` method overriding only the loss of standard training."""
    example = EXAMPLE.parent / "label_smoothing" / "label_smoothing.py"
    argv = ["run", "--plugin", str(example), "--suite", "standard", "--model", "cnet1", "--algorithm", "label_smoothing",
            "standard", "--seeds", "0", "--epochs", "1", "--max-steps", "2", "--set", "smoothing=0.2", *_args(tmp_path)]
    assert main(argv) == 0
    tracker = Tracker(mlflow_sqlite(tmp_path / "m.db"), "standard")
    (run,) = tracker.client.search_runs([tracker.experiment_id], "tags.algorithm = 'label_smoothing'")
    assert run.info.status == "FINISHED" and run.data.params["hp.smoothing"] == "0.2"
    assert "label_smoothing.py sha256:" in run.data.tags["plugins"]
    from algorithms.standard import Standard

    algo = algorithms.get_class("label_smoothing")
    assert issubclass(algo, Standard) and algo.consumes == "batches"
    logits, y = torch.tensor([[2.0, 0.0, 0.0]]), torch.tensor([0])
    smoothed = algo.loss(types.SimpleNamespace(hparams=types.SimpleNamespace(smoothing=0.3)), logits, y)
    by_hand = -(0.8 * torch.log_softmax(logits, 1)[0, 0] + 0.1 * torch.log_softmax(logits, 1)[0, 1:].sum())
    assert torch.allclose(smoothed, by_hand)  # (1 - eps) + eps/K on the true class, eps/K on the others
