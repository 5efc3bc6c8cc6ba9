"""The MLflow UI on the project's store: started, queried through its REST API, stopped.
The browser test (headless Chromium) runs in `tox -e browser`."""
import json
import os
import shutil
import subprocess
import urllib.request

import pytest

from benchmark.cli import main
from benchmark.track.ui import start, stop


def _post(url, body):
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


@pytest.fixture
def tiny_store(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
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


@pytest.mark.browser
def test_browser_shows_the_run_names(tiny_store, tmp_path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        pytest.skip("headless Chromium not installed (tox -e browser installs Debian's chromium)")
    proc, url = start(tiny_store)
    try:
        exps = _post(f"{url}/api/2.0/mlflow/experiments/search", {"max_results": 100})["experiments"]
        exp_id = next(e for e in exps if e["name"] == "standard")["experiment_id"]
        page = f"{url}/#/experiments/{exp_id}/runs"  # the runs table (MLflow 3 opens on an overview)
        flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 f"--user-data-dir={tmp_path / 'chrome'}", "--virtual-time-budget=20000", "--dump-dom", page]
        dom = subprocess.run([chromium, *flags], capture_output=True, text=True, timeout=180, env=dict(os.environ)).stdout
        assert "digits-cnet1-standard-s0" in dom and "digits-cnet1-mltp_fo-s0" in dom
    finally:
        stop(proc)
