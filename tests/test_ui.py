"""The MLflow UI on the project's store: started, queried through its REST API, stopped.
The browser test drives a real headless Chromium (installed by `.ci/run` and `tox -e browser`; skipped without it)."""
import json
import os
import shutil
import subprocess
import urllib.request

import pytest

from benchmark.cli import main
from benchmark.track.ui import start, stop

from .stores import mlflow_sqlite


def _post(url, body):
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


@pytest.fixture
def tiny_store(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    uri = mlflow_sqlite(tmp_path / "mlflow.db")
    assert main(["run", "--model", "cnet1", "--algorithm", "standard", "mltp_fo", "--seeds", "0", "--epochs", "1",
                 "--max-steps", "2", "--tracking-uri", uri, "--no-progress"]) == 0
    return uri


@pytest.mark.slow
def test_ui_serves_the_runs_through_its_rest_api(tiny_store):
    proc, url = start(tiny_store)
    try:
        assert url.startswith("http://127.0.0.1:")
        exps = _post(f"{url}/api/2.0/mlflow/experiments/search", {"max_results": 100})["experiments"]
        exp = next(e for e in exps if e["name"] == "standard")
        runs = _post(f"{url}/api/2.0/mlflow/runs/search", {"experiment_ids": [exp["experiment_id"]]})["runs"]
        names = {r["info"]["run_name"] for r in runs}
        assert names == {"glyph-fonts-cnet1-standard-s0", "glyph-fonts-cnet1-mltp_fo-s0", "grid:standard:quick"}  # cells and their grid
    finally:
        stop(proc)
    assert proc.poll() is not None


def _dom(chromium, page, tmp_path, name):
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / name}", "--virtual-time-budget=20000", "--dump-dom", page]
    return subprocess.run([chromium, *flags], capture_output=True, text=True, timeout=180, env=dict(os.environ)).stdout


@pytest.mark.browser
@pytest.mark.slow
def test_the_deep_links_open_on_the_accuracies_and_the_verdict(tiny_store, tmp_path):
    """In a real headless Chromium: the runs page `ui` links to lists the cells with their test accuracy as a
    column, and the grid's parent run shows the verdict table on its own overview page."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        pytest.skip("headless Chromium not installed (.ci/run and tox -e browser install Debian's chromium)")
    from benchmark.track.ui import links

    proc, url = start(tiny_store)
    try:
        (runs_what, runs_page), (parent_what, parent_page) = links(tiny_store, url)
        assert "best test accuracy first" in runs_what and "verdict" in parent_what
        exps = _post(f"{url}/api/2.0/mlflow/experiments/search", {"max_results": 100})["experiments"]
        exp_id = next(e for e in exps if e["name"] == "standard")["experiment_id"]
        cells = [r for r in _post(f"{url}/api/2.0/mlflow/runs/search", {"experiment_ids": [exp_id]})["runs"]
                 if r["info"]["run_name"] != "grid:standard:quick"]
        dom = _dom(chromium, runs_page, tmp_path, "runs")
        for run in cells:
            acc = next(m["value"] for m in run["data"]["metrics"] if m["key"] == "final_test_acc")
            assert run["info"]["run_name"] in dom and str(acc) in dom, (run["info"]["run_name"], acc)
        dom = _dom(chromium, parent_page, tmp_path, "parent")
        assert "Leaderboard: standard suite" in dom and "verdict" in dom and "mltp_fo" in dom
    finally:
        stop(proc)
