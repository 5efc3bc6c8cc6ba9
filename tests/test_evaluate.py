"""Trained models are assets: kept weights, `evaluate` into new linked runs, episode
manifests, and one line for every bad input."""
import json
import math

import pytest
import torch

import datasets
from benchmark.cli import main
from benchmark.run.loop import Position, train
from datasets import EpisodeSampler, manifest

from .stores import mlflow_sqlite


def _client(uri):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri)


def _runs(uri, experiment):
    c = _client(uri)
    exp = c.get_experiment_by_name(experiment)
    return [] if exp is None else [r for r in c.search_runs([exp.experiment_id]) if r.data.tags.get("grid_parent") != "1"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """protonet and maml on the embedded glyphs, a few meta-iterations, weights kept."""
    d = tmp_path_factory.mktemp("trained")
    uri = mlflow_sqlite(d / "m.db")
    argv = ["run", "--suite", "fewshot", "--algorithm", "protonet", "maml", "--meta-iterations", "4", "--test-episodes", "8",
            "--tracking-uri", uri, "--no-progress", "--checkpoint-dir", str(d / "ck"), "--out", str(d / "out")]
    assert main(argv) == 0
    assert main(argv + ["--seeds", "1", "--keep-weights", "none"]) == 0
    return uri, d


@pytest.mark.slow
def test_evaluate_reproduces_the_source_runs_accuracy_and_leaves_it_untouched(trained, tmp_path, capsys):
    uri, _ = trained
    sources = {r.data.tags["algorithm"]: r for r in _runs(uri, "fewshot") if r.data.tags["seed"] == "0"}
    before = {a: (r.info.status, dict(r.data.metrics), dict(r.data.tags)) for a, r in sources.items()}
    assert main(["evaluate", "--experiment", "fewshot", "--tracking-uri", uri, "--algorithm", "protonet", "maml"]) == 2  # seed 1 kept none
    capsys.readouterr()
    ids = [r.info.run_id for r in sources.values()]
    assert main(["evaluate", "--run", *ids, "--tracking-uri", uri]) == 0
    evals = {r.data.tags["source_run_id"]: r for r in _runs(uri, "fewshot-evaluate")}
    for src in sources.values():
        new = evals[src.info.run_id]
        assert new.data.metrics["test_acc"] == src.data.metrics["test_acc"]  # same weights, same episodes: exactly
        assert new.data.tags["test_episodes_fingerprint"] == src.data.tags["test_episodes_fingerprint"]
        assert new.data.params["source_run_id"] == src.info.run_id and new.data.tags["weights"] == "final"
    out = tmp_path / "lb"
    assert main(["leaderboard", "--suite", "fewshot", "--experiment", "fewshot-evaluate", "--tracking-uri", uri, "--out", str(out),
                 "--baseline", "protonet"]) == 0
    import pandas as pd

    raw = pd.read_csv(out / "fewshot-runs.csv.gz")
    assert set(raw.run_id) == {r.info.run_id for r in evals.values()}  # the evaluation runs, not their sources
    curves = pd.read_csv(out / "fewshot-curves.csv.gz")
    for src in sources.values():  # each evaluation carries its model's training: its validation curve and iterations
        new = evals[src.info.run_id].info.run_id
        history = [(m.step, 100 * m.value) for m in _client(uri).get_metric_history(src.info.run_id, "val_acc")]
        assert history and list(curves[curves.run_id == new][["step", "val_acc"]].itertuples(index=False, name=None)) == history
        row = raw.set_index("run_id").loc[new]
        assert row.source_run_id == src.info.run_id and row.iterations == src.data.metrics["meta_iterations_run"]
        assert row.threads == int(src.data.tags["hardware.torch_threads"])  # the training's threads, for its core-hours
    for a, r in sources.items():  # the sources are not modified
        now = _client(uri).get_run(r.info.run_id)
        assert (now.info.status, dict(now.data.metrics), dict(now.data.tags)) == before[a]


@pytest.mark.slow
def test_evaluate_on_another_setting_and_on_a_manifest(trained, tmp_path, capsys):
    uri, _ = trained
    proto = next(r for r in _runs(uri, "fewshot") if r.data.tags["algorithm"] == "protonet" and r.data.tags["seed"] == "0")
    out = tmp_path / "ep.json"
    assert main(["episodes", "export", "--dataset", "glyphs", "--ways", "5", "--shots", "1", "--queries", "5", "--count", "8",
                 "--out", str(out)]) == 0
    m = json.loads(out.read_text())
    assert m["fingerprint"] == proto.data.tags["test_episodes_fingerprint"]  # the default episodes are the exported ones
    assert main(["evaluate", "--run", proto.info.run_id, "--tracking-uri", uri, "--episodes-file", str(out),
                 "--eval-experiment", "manifest"]) == 0
    r = _runs(uri, "manifest")[0]
    assert r.data.metrics["test_acc"] == proto.data.metrics["test_acc"] and r.data.params["episodes_hash"] == m["content_hash"]
    assert main(["evaluate", "--run", proto.info.run_id, "--tracking-uri", uri, "--ways", "3", "--shots", "2",
                 "--test-episodes", "6", "--eval-experiment", "other"]) == 0  # prototypes work at any N
    r = _runs(uri, "other")[0]
    assert r.data.tags["setting"] == "3-way 2-shot" and r.data.metrics["test_episodes"] == 6
    # another test-time rule on the same weights: Snell et al.'s one batch of support and queries
    assert main(["evaluate", "--run", proto.info.run_id, "--tracking-uri", uri, "--set", "joint_batch=true",
                 "--eval-experiment", "joint"]) == 0
    r = _runs(uri, "joint")[0]
    assert r.data.params["hp.joint_batch"] == "True" and proto.data.params["hp.joint_batch"] == "False"
    assert "with joint_batch=True" in r.data.tags["scale_note"]
    assert r.data.metrics["test_acc"] != proto.data.metrics["test_acc"] or r.data.metrics["test_std"] != proto.data.metrics["test_std"]


def _best_and_final_session(val_accs):
    """A session whose validation peaks at round 2 of 3, with weights that change every step."""
    model = torch.nn.Linear(2, 2)

    class Algo:
        trains = True
        train_classes = None

        def __init__(self):
            self.model = model
            self.optimizer = torch.optim.SGD(model.parameters(), lr=0.1)

        def progress(self, step, total):
            pass

        def train_step(self, batch):
            with torch.no_grad():
                model.weight += 1.0
            return {"loss": 0.5, "train_loss": 0.5}

        def metrics(self):
            return {}

        def extra_state(self):
            return {}

        def state_dict(self):
            return {"model": model.state_dict(), "optimizer": {}, "extra": {}}

    class Session:
        unit, bar_unit, total_steps = "epoch", "step", 3
        algorithm = Algo()
        generator = torch.Generator()

        def where(self, rnd, step):
            return ""

        def rounds(self, done):
            return ((r, [0]) for r in range(done + 1, 4))

        def end_round(self, round_time, pos):
            return {"val_acc": val_accs[pos.round - 1]}

        def finish(self, history, pos):
            return {}

        def state(self):
            return {}

        def load_state(self, s):
            pass

    return Session(), model


def test_best_weights_differ_from_final_when_validation_peaked_early():
    session, model = _best_and_final_session([0.5, 0.9, 0.3])
    best = {}
    train(session, "t", lambda rnd, rec: None, progress=False, best=best)
    assert best["round"] == 2 and best["val_acc"] == 0.9
    assert torch.equal(best["weights"]["model"]["weight"] + 1.0, model.weight.detach())  # one step before the final
    assert Position(round=3).round == 3


def test_manifest_round_trip_and_tamper_detection(tmp_path):
    data = datasets.get_episodic("glyphs")
    split = data.splits["test"]
    fixed = EpisodeSampler(split, 5, 1, 5, data.preprocess).fixed(6, "glyphs", "test", 0)
    m = manifest.export(fixed, "glyphs", "test")
    path = tmp_path / "m.json"
    path.write_text(json.dumps(m))
    again = manifest.episodes(manifest.read(path), "glyphs", split, data.preprocess, "cpu")
    assert again.fingerprint() == fixed.fingerprint()
    for a, b in zip(again, fixed):
        assert torch.equal(a.query_x, b.query_x) and torch.equal(a.support_y, b.support_y)
    m["episodes"][0]["images"][0][0] += 1
    path.write_text(json.dumps(m))
    with pytest.raises(manifest.ManifestError, match="edited"):
        manifest.read(path)
    good = manifest.export(fixed, "glyphs", "test")
    with pytest.raises(manifest.ManifestError, match="for dataset 'glyphs', not 'omniglot'"):
        manifest.episodes(good, "omniglot", split, data.preprocess, "cpu")
    assert not math.isnan(float(len(good["episodes"])))


@pytest.mark.slow
def test_evaluate_bad_input_is_one_line_and_creates_no_run(trained, tmp_path, capsys):
    uri, d = trained
    none_kept = next(r for r in _runs(uri, "fewshot") if r.data.tags["seed"] == "1")
    maml = next(r for r in _runs(uri, "fewshot") if r.data.tags["algorithm"] == "maml" and r.data.tags["seed"] == "0")
    other = tmp_path / "other.json"
    data = datasets.get_episodic("glyphs")
    fixed = EpisodeSampler(data.splits["val"], 5, 1, 5, data.preprocess).fixed(3, "glyphs", "val", 0)
    m = manifest.export(fixed, "glyphs", "val")
    m["dataset"] = "omniglot"
    m["content_hash"] = manifest._content_hash(m["episodes"])
    other.write_text(json.dumps(m))
    std_uri = mlflow_sqlite(tmp_path / "s.db")
    assert main(["run", "--model", "cnet1", "--algorithm", "standard", "--seeds", "0", "--epochs", "1", "--max-steps", "1",
                 "--tracking-uri", std_uri, "--no-progress", "--out", str(tmp_path / "o"),
                 "--checkpoint-dir", str(tmp_path / "ck")]) == 0
    std = _runs(std_uri, "standard")[0]
    capsys.readouterr()
    cases = [
        (["--run", "nosuchrun", "--tracking-uri", uri], "unknown run id 'nosuchrun'"),
        (["--run", none_kept.info.run_id, "--tracking-uri", uri], "kept no weights"),
        (["--run", maml.info.run_id, "--tracking-uri", uri, "--ways", "3"], "evaluate it with --ways 5"),
        (["--run", maml.info.run_id, "--tracking-uri", uri, "--episodes-file", str(other), "--dataset", "glyphs"],
         "for dataset 'omniglot', not 'glyphs'"),
        (["--run", std.info.run_id, "--tracking-uri", std_uri, "--shots", "5"], "applies to few-shot runs only"),
        (["--experiment", "nosuch", "--tracking-uri", uri], "no finished runs in experiment 'nosuch'"),
        (["--run", maml.info.run_id, "--tracking-uri", uri, "--set", "joint_batch=true"], "maml has no such hyperparameter"),
        (["--run", maml.info.run_id, "--tracking-uri", uri, "--set", "test_inner_steps=-1"], "test_inner_steps >= 0"),
        (["--run", maml.info.run_id, "--tracking-uri", uri, "--set", "oops"], "--set expects KEY=VALUE"),
    ]
    for argv, needle in cases:
        assert main(["evaluate", *argv, "--eval-experiment", "bad"]) == 2, argv
        err = capsys.readouterr().err
        assert needle in err and len(err.strip().splitlines()) == 1, (argv, err)
    assert _runs(uri, "bad") == [] and _runs(std_uri, "bad") == []
    assert main(["evaluate", "--run", std.info.run_id, "--tracking-uri", std_uri]) == 0  # a standard-suite model, its test split
    again = _runs(std_uri, "standard-evaluate")[0]
    assert again.data.metrics["final_test_acc"] == std.data.metrics["final_test_acc"]


@pytest.mark.slow
def test_evaluate_selects_by_seed_and_trained_setting_and_a_rerun_skips_what_it_scored(trained, capsys):
    """A pass over an experiment's runs (as the MTL table's pieces make): only the named seeds and training setting;
    the same command again scores nothing twice, so an interrupted pass resumes."""
    uri, _ = trained
    argv = ["evaluate", "--experiment", "fewshot", "--algorithm", "protonet", "--seeds", "0", "--trained-setting",
            "5-way 1-shot", "--ways", "3", "--shots", "2", "--test-episodes", "6", "--tracking-uri", uri,
            "--eval-experiment", "selected"]
    assert main(argv) == 0
    (r,) = _runs(uri, "selected")
    assert r.data.tags["seed"] == "0" and r.data.tags["algorithm"] == "protonet" and r.data.tags["setting"] == "3-way 2-shot"
    capsys.readouterr()
    assert main(argv) == 0
    assert "already scored with these settings -> run " + r.info.run_id[:8] in capsys.readouterr().out
    assert len(_runs(uri, "selected")) == 1
    assert main([*argv[:-2], "--eval-experiment", "other-shots", "--shots", "1"]) == 0  # another setting is scored anew
    for bad, says in ((["--seeds", "7"], "no finished runs in experiment 'fewshot' for protonet seeds 7"),
                      (["--trained-setting", "20-way 1-shot"], "trained at 20-way 1-shot")):
        assert main(["evaluate", "--experiment", "fewshot", "--algorithm", "protonet", *bad, "--tracking-uri", uri]) == 2
        err = capsys.readouterr().err.strip()
        assert says in err and "\n" not in err
    assert main(["evaluate", "--run", r.info.run_id, "--seeds", "0", "--tracking-uri", uri]) == 2
    assert "--seeds selects runs of --experiment" in capsys.readouterr().err


@pytest.mark.slow
def test_if_trained_makes_a_store_without_the_models_say_so_and_exit_0(trained, tmp_path, capsys):
    """--if-trained (the Table 2 pieces' passes over a new store, whose seed's 5-way models are committed elsewhere):
    no matching model, or no store at all, is one line on stdout and exit 0, and creates no run; without it, both
    stay the one-line errors they were; a selection that matches is scored as before."""
    uri, _ = trained
    base = ["evaluate", "--experiment", "fewshot", "--algorithm", "protonet", "--ways", "3", "--shots", "2",
            "--test-episodes", "6", "--eval-experiment", "if-trained"]
    missing = f"sqlite:///{tmp_path / 'absent.db'}"
    for store, extra, says in ((uri, ["--seeds", "7"], "no finished runs in experiment 'fewshot' for protonet seeds 7"),
                               (missing, [], "no tracking store at")):
        capsys.readouterr()
        assert main([*base, *extra, "--tracking-uri", store]) == 2
        assert says in capsys.readouterr().err
        assert main([*base, *extra, "--tracking-uri", store, "--if-trained"]) == 0
        out = capsys.readouterr().out.strip()
        assert out.startswith("nothing to score here: ") and says in out and "\n" not in out
    assert _runs(uri, "if-trained") == [] and not (tmp_path / "absent.db").exists()
    assert main([*base, "--seeds", "0", "--tracking-uri", uri, "--if-trained"]) == 0
    assert [r.data.tags["seed"] for r in _runs(uri, "if-trained")] == ["0"]
    assert main(["evaluate", "--run", "x", "--if-trained", "--tracking-uri", uri]) == 2  # it selects, like --seeds
    capsys.readouterr()
    for bad, says in ((["--algorithm", "protnet"], "unknown algorithm 'protnet' (did you mean 'protonet'?)"),
                      (["--trained-setting", "5-way 1shot"], "--trained-setting expects 'N-way K-shot'")):
        assert main([*base[:3], *bad, "--if-trained", "--tracking-uri", uri]) == 2  # a misspelling is not an empty store
        assert says in capsys.readouterr().err
    assert main([*base[:2], "nosuch", "--if-trained", "--tracking-uri", uri]) == 0
    assert _client(uri).get_experiment_by_name("nosuch") is None  # looking for an experiment does not create it


def test_an_evaluation_checks_only_the_splits_it_samples():
    """Scoring at more ways than the validation split holds (35-way on the held-out alphabets, 26 in validation) is
    allowed where nothing validates (evaluate's val_episodes=0); a run that validates is still refused in one line."""
    import dataclasses

    from benchmark.plan import build_plan
    from benchmark.plan.overrides import Overrides
    from benchmark.suites import get_suite

    data = datasets.get_episodic("glyphs")
    suite = get_suite("fewshot")
    (spec,) = build_plan("fewshot", "quick", Overrides(algorithms=["protonet"], seeds=[0]))
    wide = dataclasses.replace(spec, ways=100)  # the test split has 159 classes, validation 95
    with pytest.raises(ValueError, match="val split: 100-way episodes need 100 classes"):
        suite.check(wide, data)
    suite.check(dataclasses.replace(wide, val_episodes=0), data)
    with pytest.raises(ValueError, match="test split"):
        suite.check(dataclasses.replace(wide, ways=200, val_episodes=0), data)
