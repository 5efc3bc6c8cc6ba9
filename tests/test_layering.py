"""Arrows point one way: algorithms/ and datasets/ never import benchmark, mlflow or optuna
(nor each other); mlflow only in benchmark/tracking.py, optuna only in benchmark/tuning.py."""
import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def imports(pkg: str) -> dict[str, set[str]]:
    out = {}
    for f in (ROOT / pkg).rglob("*.py"):
        names = set()
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
        out[str(f.relative_to(ROOT))] = names
    return out


@pytest.mark.parametrize("pkg,forbidden", [
    ("algorithms", {"benchmark", "datasets", "mlflow", "optuna"}),
    ("datasets", {"benchmark", "algorithms", "mlflow", "optuna"}),
])
def test_core_packages_do_not_import_orchestration(pkg, forbidden):
    bad = {f: names & forbidden for f, names in imports(pkg).items() if names & forbidden}
    assert not bad


def test_mlflow_and_optuna_are_confined():
    for f, names in imports("benchmark").items():
        if "mlflow" in names:
            assert f.endswith("tracking.py"), f
        if "optuna" in names:
            assert f.endswith("tuning.py"), f


def test_importing_core_loads_no_tracking_at_runtime():
    code = "import sys, algorithms, datasets; algorithms.available(); print(sorted(m for m in ('mlflow','optuna','benchmark') if m in sys.modules))"
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.stdout.strip() == "[]", r.stderr


def test_datasets_is_this_project_not_hugging_face():
    import datasets

    assert Path(datasets.__file__).resolve().parent == ROOT / "datasets", (
        "`import datasets` resolved to another package (Hugging Face `datasets`?); uninstall it in this environment"
    )
    assert datasets.IS_META_BENCHMARK
