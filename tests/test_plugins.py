"""A researcher's own algorithm enters every command without editing the package (``--plugin FILE.py`` or the
``meta_benchmark.algorithms`` entry points), with its provenance in the run's tags; a plugin that cannot be
used is one line, exit 2, and no MLflow run."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import algorithms
from benchmark import plugins
from benchmark.cli import main
from benchmark.track.tracking import Tracker

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "cosine_proto"


def _args(tmp_path):
    return ["--no-progress", "--tracking-uri", f"sqlite:///{tmp_path / 'm.db'}", "--out", str(tmp_path / "results")]


def test_a_plugin_file_runs_beside_the_builtins_with_its_provenance(tmp_path, clean_registry):
    argv = ["run", "--plugin", str(EXAMPLE / "cosine_proto.py"), "--suite", "fewshot", "--algorithm", "cosine_proto",
            "protonet", "--meta-iterations", "3", "--test-episodes", "4", "--set", "scale=5", *_args(tmp_path)]
    assert main(argv) == 0
    assert "cosine_proto" in algorithms.available("episodes")
    assert json.loads(__import__("os").environ[plugins.ENV]) == [str(EXAMPLE / "cosine_proto.py")]
    tracker = Tracker(f"sqlite:///{tmp_path / 'm.db'}", "fewshot")
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
    tracker = Tracker(f"sqlite:///{tmp_path / 'm.db'}", "fewshot")
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
    tracker = Tracker(f"sqlite:///{tmp_path / 'm.db'}", "fewshot")
    runs = tracker.client.search_runs([tracker.experiment_id], "tags.algorithm = 'cheat'")
    assert [r.info.status for r in runs] == ["FAILED"] and "test_acc" not in runs[0].data.metrics
