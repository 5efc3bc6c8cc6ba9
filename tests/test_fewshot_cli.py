"""The few-shot suite end to end on a tiny budget; real Omniglot from ../shared/data
(the test skips, with the reason, where that folder is absent)."""
import pytest
import torch

import algorithms
import datasets
from benchmark.cli import main
from benchmark.models import create_model
from benchmark.suites.fewshot import evaluate_episodes

from .conftest import shared_data


@pytest.mark.slow
def test_fewshot_run_scores_every_algorithm_on_the_same_episodes(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path / 'fs.db'}"
    rc = main(["run", "--suite", "fewshot", "--meta-iterations", "2", "--test-episodes", "4",
               "--tracking-uri", uri, "--no-progress"])
    cap = capsys.readouterr()
    out = cap.out
    assert rc == 0, cap.err
    assert "glyphs / conv4-32 / 5-way 1-shot" in out and "95% CI" in out
    from mlflow.tracking import MlflowClient

    c = MlflowClient(tracking_uri=uri)
    everything = c.search_runs([c.get_experiment_by_name("fewshot").experiment_id])
    parents = [r for r in everything if r.data.tags.get("grid_parent") == "1"]
    runs = [r for r in everything if r not in parents]
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    assert all(r.data.tags["mlflow.parentRunId"] == parents[0].info.run_id for r in runs)  # nested under the grid
    artifacts = {a.path for a in c.list_artifacts(parents[0].info.run_id)}
    assert {"fewshot.md", "fewshot.png", "fewshot-runs.csv.gz", "fewshot-episodes.csv.gz"} <= artifacts
    assert c.get_experiment_by_name("fewshot").tags["mlflow.experimentKind"] == "custom_model_development"
    assert {r.data.tags["algorithm"] for r in runs} == set(algorithms.available("episodes"))
    assert all(r.info.status == "FINISHED" for r in runs)
    assert len({r.data.tags["test_episodes_fingerprint"] for r in runs}) == 1
    for r in runs:
        assert {"test_acc", "test_ci95", "test_episodes", "wall_time_s"} <= set(r.data.metrics)
        assert r.data.metrics["test_episodes"] == 4
        assert r.data.tags["setting"] == "5-way 1-shot" and r.data.tags["scale"] == "quick"
        assert int(r.data.tags["data.train_classes"]) > 100  # the global head's size (transfer, MTL) comes from the data
    assert (tmp_path / "results" / "fewshot-quick-glyphs-conv4-32-5-way1-shot.png").is_file()


@pytest.mark.slow
def test_real_omniglot_protonet_far_above_chance_on_held_out_alphabets():
    root = shared_data("omniglot")
    d = datasets.get_episodic("omniglot-alphabets", root=root)
    torch.manual_seed(0)
    model = create_model("conv4-32", 5, 1, 28)
    algo = algorithms.create("protonet", model, lr=1e-3)
    train = datasets.EpisodeSampler(d.splits["train"], 5, 1, 5)
    g = torch.Generator().manual_seed(0)
    for _ in range(60):
        algo.train_step([train.sample(g) for _ in range(4)])
    test = datasets.EpisodeSampler(d.splits["test"], 5, 1, 5).fixed(100, "omniglot-alphabets", "test")
    ev = evaluate_episodes(algo, test)
    assert ev["acc"] - ev["ci95"] > 0.5, ev  # chance is 0.2
