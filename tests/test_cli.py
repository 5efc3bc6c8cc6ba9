"""The CLI end to end on a tiny budget, writing real MLflow runs; bad input gives one
clear line and exit code 2; a diverging run is FAILED with its logs kept."""
import subprocess
import sys
from pathlib import Path

import pytest

from benchmark.cli import main
from benchmark.models import create_model

ROOT = Path(__file__).resolve().parent.parent


def _client(uri):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri)


def _runs(uri, experiment="standard"):
    c = _client(uri)
    exp = c.get_experiment_by_name(experiment)
    runs = c.search_runs([exp.experiment_id], max_results=1000)
    return c, [r for r in runs if r.data.tags.get("grid_parent") != "1"]  # the grid's cells, not its parent run


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return f"sqlite:///{tmp_path / 'mlflow.db'}"


@pytest.mark.slow
def test_run_writes_finished_mlflow_runs_with_metrics_and_artifacts(store, capsys, tmp_path):
    rc = main(["run", "--suite", "standard", "--model", "cnet1", "--algorithm", "standard", "mltp_fo",
               "--seeds", "0", "1", "--epochs", "2", "--max-steps", "12", "--tracking-uri", store, "--no-progress"])
    cap = capsys.readouterr()
    out = cap.out
    assert rc == 0, cap.err
    assert "glyph-fonts / cnet1" in out and "mltp_fo" in out and "+-" in out
    c, runs = _runs(store)
    assert len(runs) == 4
    for r in runs:
        assert r.info.status == "FINISHED"
        assert r.data.tags["scale"] == "quick" and r.data.tags["git_commit"]
        assert "hardware.cpu" in r.data.tags and r.data.tags["dataset"] == "glyph-fonts"
        assert r.data.tags["model.parameters"] == str(sum(p.numel() for p in create_model("cnet1", 100, 1, 16).parameters()))
        assert r.data.params["hp.lr"] == "0.001" and r.data.params["epochs"] == "2"
        for m in ("final_test_acc", "final_val_acc", "final_train_loss", "wall_time_s"):
            assert m in r.data.metrics
        hist = c.get_metric_history(r.info.run_id, "val_acc")
        assert [h.step for h in hist] == [1, 2]
        assert len(c.get_metric_history(r.info.run_id, "epoch_time")) == 2
        arts = {a.path for a in c.list_artifacts(r.info.run_id)}
        assert {"config.json", "metrics.json", "training_curves.png", "history.json"} <= arts
        if r.data.tags["algorithm"] == "mltp_fo":
            assert "alpha_mean" in r.data.metrics and "grad_agreement" in r.data.metrics
            assert "hp.eta" in r.data.params
    assert (tmp_path / "results" / "standard-quick-glyph-fonts-cnet1.png").is_file()


@pytest.mark.slow
def test_diverging_run_is_failed_and_grid_continues(store, capsys):
    rc = main(["run", "--model", "cnet1", "--algorithm", "standard", "--seeds", "0", "--epochs", "1",
               "--set", "lr=1e30", "--tracking-uri", store, "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 1
    assert "diverged" in err and "last finite loss" in err
    c, runs = _runs(store)
    assert [r.info.status for r in runs] == ["FAILED"]
    assert "diverged" in runs[0].data.tags["error"]
    arts = {a.path for a in c.list_artifacts(runs[0].info.run_id)}
    assert "config.json" in arts and "metrics.json" in arts


@pytest.mark.parametrize("argv,needle", [
    (["run", "--algorithm", "nope"], "unknown algorithm 'nope'; valid for suite standard: mltp"),
    (["run", "--algorithm", "maml"], "algorithm 'maml' belongs to the fewshot suite"),
    (["run", "--suite", "fewshot", "--algorithm", "mltp"], "valid for suite fewshot: anil, baseline_pp, finetune, fomaml"),
    (["run", "--suite", "fewshot", "--ways", "1"], "--ways must be >= 2"),
    (["run", "--suite", "fewshot", "--dataset", "cifar10"], "unknown episodic dataset 'cifar10'"),
    (["run", "--suite", "fewshot", "--shots", "30"], "lower --ways/--shots/--queries"),
    (["run", "--dataset", "mnist9"], "unknown supervised dataset 'mnist9'; valid:"),
    (["run", "--model", "vgg99"], "unknown model 'vgg99'; valid:"),
    (["run", "--epochs", "-3"], "--epochs: expected an integer >= 0"),
    (["run", "--epochs", "0"], "--epochs must be >= 1"),
    (["run", "--suite", "fewshot", "--set", "SEARCH_SPACE=1"], "--set SEARCH_SPACE: no selected algorithm"),
    (["episodes", "export", "--dataset", "glyphs", "--count", "-3", "--out", "x.json"], "--count: expected an integer >= 1"),
    (["run", "--profile", "huge"], "unknown profile 'huge'"),
    (["run", "--suite", "nosuch"], "unknown suite 'nosuch'"),
    (["run", "--dataset", "cifar10", "--data-root", "/nonexistent/x"], "--download"),
    (["run", "--set", "etaa=3"], "etaa"),
    (["run", "--seeds", "x"], "expected an integer"),
    (["run", "--device", "tpu"], "invalid choice"),
    (["run", "--max-seeds", "6"], "--max-seeds and --min-effect belong to --until-decided"),
    (["run", "--until-decided", "--seeds", "0", "1"], "--until-decided chooses the seeds"),
    (["run", "--until-decided", "--max-seeds", "2"], "--max-seeds: expected an integer >= 3"),
    (["run", "--until-decided", "--min-effect", "-1"], "--min-effect: expected a finite number > 0"),
])
def test_bad_input_is_one_line_and_exit_2(argv, needle, store, capsys):
    with pytest.raises(SystemExit) as e:
        sys.exit(main(argv + ["--tracking-uri", store]))
    err = capsys.readouterr().err
    assert e.value.code == 2
    assert needle in err
    assert len(err.strip().splitlines()) == 1, err


def test_missing_data_creates_no_mlflow_run(store, tmp_path, capsys):
    assert main(["run", "--dataset", "cifar10", "--data-root", str(tmp_path / "none"), "--tracking-uri", store]) == 2
    assert not (tmp_path / "mlflow.db").exists()


def test_list_shows_everything(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for word in ("mltp_fo", "standard", "cifar10", "tiny-imagenet", "imagefolder", "digits", "cnet4", "resnet34", "quick", "paper"):
        assert word in out


def test_paper_profile_plan_matches_protocol():
    from benchmark.plan import Overrides, build_plan

    specs = build_plan("standard", "paper", Overrides())
    by = {(s.dataset, s.model, s.algorithm, s.seed): s for s in specs}
    assert len(specs) == 3 * (2 * (3 * 5 + 2) + 2 * 2)
    s = by[("cifar10", "cnet2", "mltp", 0)]
    assert (s.epochs, s.milestones, s.batch_size, s.scale) == (150, [50, 100], 128, "paper")
    assert s.hparams_dict() == {"optimizer": "adam", "lr": 1e-3, "momentum": 0.9, "weight_decay": 0.0, "eta": 1.0,
                         "alpha_mean": 1e-3, "alpha_std": 1e-3, "fix_alpha": False}
    assert by[("cifar10", "cnet2", "standard", 0)].hparams_dict() == {"optimizer": "adam", "lr": 1e-3, "momentum": 0.9, "weight_decay": 0.0}
    assert by[("cifar100", "ccnet4", "mltp_fo", 2)].hparams_dict()["weight_decay"] == 1e-4
    assert ("cifar10", "cnet4", "mltp", 0) not in by
    t = by[("tiny-imagenet", "resnet34", "mltp_fo", 1)]
    assert (t.epochs, t.milestones, t.hparams.optimizer, t.hparams.lr, t.hparams.eta, t.hparams.alpha_mean,
            t.hparams.weight_decay) == (90, [30, 60], "sgd", 0.05, 0.5, 1e-2, 1e-5)
    reduced = build_plan("standard", "paper", Overrides(datasets=["imagefolder"], data_root="x/cifar10-jpeg.tar.gz",
                                                         models=["cnet2"], epochs=3))
    assert {r.scale for r in reduced} == {"reduced"} and reduced[0].milestones == [1, 2]
    assert "3 of 150 epochs" in reduced[0].scale_note and reduced[0].hparams.optimizer == "adam"


def test_python_dash_m_entry_point(tmp_path):
    r = subprocess.run([sys.executable, "-m", "benchmark", "run", "--algorithm", "bogus"], cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert r.stderr.strip() == (
        "benchmark: error: unknown algorithm 'bogus'; valid for suite standard: mltp, mltp_conv, mltp_fc, mltp_fo, standard"
    )


def _grid_parsers():
    from benchmark.cli.parser import build_parser

    sub = next(a for a in build_parser()._actions if a.dest == "command")
    return {name: sub.choices[name] for name in ("run", "tune")}


def test_every_run_and_tune_flag_is_classified_by_suite():
    """A new flag must say which suite it belongs to (or that both share it), so none is silently ignored."""
    from benchmark.cli.parser import SHARED, SUITE_ONLY

    for name, parser in _grid_parsers().items():
        unclassified = {a.dest for a in parser._actions} - SHARED - set(SUITE_ONLY)
        assert not unclassified, f"{name}: classify {sorted(unclassified)} in benchmark/cli/parser.py"


@pytest.mark.parametrize("dest", sorted(__import__("benchmark.cli.parser", fromlist=["SUITE_ONLY"]).SUITE_ONLY))
def test_a_flag_of_the_other_suite_is_one_line(dest, capsys, tmp_path):
    from benchmark.cli.parser import SUITE_ONLY

    owner = SUITE_ONLY[dest]
    other = "standard" if owner == "fewshot" else "fewshot"
    action = next(a for a in _grid_parsers()["run"]._actions if a.dest == dest)
    value = ([] if action.nargs == 0 else [action.choices[-1]] if action.choices else ["x.json"] if dest == "episodes_file"
             else ["0.2"] if dest == "val_fraction" else ["2"])
    argv = ["run", "--suite", other, action.option_strings[0], *value, "--no-progress", "--tracking-uri",
            f"sqlite:///{tmp_path / 'm.db'}"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "suite only" in err, err
    assert not (tmp_path / "m.db").exists()  # nothing ran, no store was created


def test_leaderboard_writes_outside_the_committed_tables_by_default():
    """A user in a clone must not overwrite ``leaderboards/`` by building a table from their own store."""
    from pathlib import Path

    from benchmark.cli import build_parser

    assert Path(build_parser().parse_args(["leaderboard", "--suite", "standard"]).out) == Path("results/leaderboards")
