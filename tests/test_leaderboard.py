"""Leaderboards from real MLflow runs: spread, significance, provenance; unfinished runs
left out and counted; reduced and quick scales never share a row."""
from pathlib import Path

import pandas as pd
import pytest

import algorithms
from benchmark.cli import main

from .stores import mlflow_sqlite


@pytest.mark.slow
def test_standard_leaderboard_from_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    uri = mlflow_sqlite(tmp_path / "m.db")
    base = ["run", "--model", "cnet1", "--epochs", "1", "--max-steps", "3", "--tracking-uri", uri, "--no-progress"]
    assert main(base + ["--algorithm", "standard", "mltp_fo", "--seeds", "0", "1"]) == 0
    assert main(base + ["--algorithm", "standard", "--seeds", "5", "--set", "lr=1e30"]) == 1  # a FAILED run
    capsys.readouterr()
    assert main(["leaderboard", "--suite", "standard", "--tracking-uri", uri, "--out", str(tmp_path / "lb")]) == 0
    out = capsys.readouterr().out
    assert "left out 1 FAILED run(s)" in out
    md = (tmp_path / "lb" / "standard.md").read_text()
    assert "the paired t over seed differences" in md and "## glyph-fonts / cnet1 (quick scale, profile quick, the papers' hyperparameters)" in md
    assert "Provenance: seeds 0 1" in md and "Left out: 1 FAILED" in md
    csv = pd.read_csv(tmp_path / "lb" / "standard.csv")
    assert set(csv.algorithm) == {"standard", "mltp_fo"} and (csv.n == 2).all()
    fo = csv[csv.algorithm == "mltp_fo"].iloc[0]
    assert 0 <= fo.p <= 1 and fo.relative_cost > 0 and fo.verdict.startswith("too few seeds")  # 2 seeds: no test
    assert (tmp_path / "lb" / "standard-runs.csv.gz").is_file()  # raw results beside the table
    assert (tmp_path / "lb" / "standard.png").is_file()


@pytest.mark.slow
def test_fewshot_leaderboard_pairs_episodes_and_separates_scales(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    uri = mlflow_sqlite(tmp_path / "f.db")
    run = ["run", "--suite", "fewshot", "--algorithm", "protonet", "transfer", "--meta-iterations", "3",
           "--test-episodes", "10", "--tracking-uri", uri, "--no-progress"]
    assert main(run) == 0
    reduced = ["run", "--suite", "fewshot", "--profile", "omniglot", "--dataset", "glyphs", "--model", "conv4-32",
               "--algorithm", "protonet", "transfer", "--ways", "5", "--shots", "1", "--queries", "5", "--meta-batch", "2",
               "--meta-iterations", "3", "--test-episodes", "10", "--seeds", "0", "--tracking-uri", uri, "--no-progress"]
    assert main(reduced) == 0
    capsys.readouterr()
    assert main(["leaderboard", "--suite", "fewshot", "--tracking-uri", uri, "--out", str(tmp_path / "lb")]) == 0
    csv = pd.read_csv(tmp_path / "lb" / "fewshot.csv")
    assert set(csv.scale) == {"quick", "reduced"}
    assert len(csv) == 4  # two algorithms x two scales: never mixed in one row
    proto = csv[(csv.algorithm == "protonet") & (csv.scale == "quick")].iloc[0]
    assert proto.interval == "two-level closed form" and proto.paired_seeds == 1 and pd.isna(proto.diff_lo)  # one seed: no interval
    md = (tmp_path / "lb" / "fewshot.md").read_text()
    assert "one closed-form two-level standard error" in md and "too few seeds (1 < 3)" in md
    episodes = pd.read_csv(tmp_path / "lb" / "fewshot-episodes.csv.gz")
    assert len(episodes) == 4 * 10  # four finished runs x ten test episodes


def _row(algorithm, seed, acc, source="cifar10-jpeg.tar.gz", paper="cifar10"):
    return {"run_id": f"{algorithm}{seed}{source}", "start_time": 0, "config_key": f"{algorithm}{seed}{source}",
            "dataset": "imagefolder", "source": source, "model": "cnet2", "algorithm": algorithm, "seed": seed,
            "setting": "", "bn_eval": "", "profile": "paper", "scale": "reduced", "scale_note": "", "commit": "abc", "hardware": "cpu",
            "paper_dataset": paper, "acc": acc, "ci95": float("nan"), "top5": float("nan"), "train_time_s": 1.0,
            "wall_time_s": 1.0, "chance": 10.0, "episodes_fingerprint": ""}


def test_tables_keep_image_folders_apart_and_list_every_seed():
    from benchmark.report.leaderboard import markdown, tables

    df = pd.DataFrame([_row("standard", 0, 40.0), _row("standard", 1, 42.0), _row("mltp", 1, 44.0), _row("mltp", 2, 45.0),
                       _row("standard", 0, 70.0, source="my-photos", paper=""),
                       _row("standard", 1, 71.0, source="my-photos", paper="")])
    board = tables(df, "standard", "standard")
    mine = board[board.source == "my-photos"]
    assert len(mine) == 1 and mine.iloc[0]["mean"] == pytest.approx(70.5)  # not averaged with the CIFAR-10 folder
    cifar = board[(board.source == "cifar10-jpeg.tar.gz") & (board.algorithm == "standard")].iloc[0]
    assert cifar["mean"] == pytest.approx(41.0) and cifar.paper > 0  # CNet2 on CIFAR-10 has a paper value
    md = markdown(board, "standard", "standard", {}, "cmd")
    assert "## imagefolder (cifar10-jpeg.tar.gz, cifar10 images) / cnet2" in md
    assert "## imagefolder (my-photos) / cnet2" in md
    assert "Provenance: seeds 0 1 2;" in md


def test_standard_comparison_pairs_runs_by_seed():
    """A seed fixes the initialisation and batch order for every algorithm, so a shift
    that is consistent across seeds is significant even when the seeds differ a lot;
    only the seeds both algorithms have are paired."""
    from scipy import stats

    from benchmark.report.leaderboard import compare

    base = [30.0, 20.0, 40.0]
    df = pd.DataFrame([_row("standard", s, v) for s, v in enumerate(base)] +
                      [_row("mltp", s, v + 2.0 + 0.1 * s) for s, v in enumerate(base)] +
                      [_row("mltp_fo", s, v) for s, v in zip([0, 1, 5], [32.0, 22.0, 42.0])])
    paired = compare(df, "mltp", "standard", "standard", pd.DataFrame(columns=["run_id", "episode", "acc"]))
    assert paired.p == pytest.approx(stats.ttest_rel([32.0, 22.1, 42.2], base).pvalue) and paired.p < 0.01
    assert paired.n == 3 and paired.lo > 0
    partial = compare(df, "mltp_fo", "standard", "standard", pd.DataFrame(columns=["run_id", "episode", "acc"]))
    assert partial.n == 2  # seeds {0, 1, 5} vs {0, 1, 2}: the two shared seeds


def test_verdicts_use_holm_across_the_table():
    from benchmark.report.leaderboard import tables

    base = [30.0, 20.0, 40.0, 35.0]
    df = pd.DataFrame([_row("standard", s, v) for s, v in enumerate(base)] +
                      [_row("mltp", s, v + 3.0 + 0.05 * s) for s, v in enumerate(base)] +
                      [_row("mltp_fo", s, v + (0.6 if s % 2 else -0.4)) for s, v in enumerate(base)])
    board = tables(df, "standard", "standard").set_index("algorithm")
    assert board.loc["mltp", "verdict"] == "better" and board.loc["mltp_fo", "verdict"] == "no evidence"
    assert board.loc["mltp", "p_holm"] == pytest.approx(2 * board.loc["mltp", "p"])  # the smaller of two p's, times 2
    assert board.loc["standard", "verdict"] == "baseline"
    assert list(board.index) == ["mltp", "mltp_fo", "standard"]  # best mean first


def test_runs_compare_to_the_paper_dataset_they_hold():
    from benchmark.plan import RunSpec
    from benchmark.report import references
    from benchmark.report.console import paper_dataset_of
    from benchmark.run.runner import RunResult

    assert references.paper_dataset("imagefolder", "cifar10") == "cifar10"
    assert references.paper_dataset("imagefolder") is None  # an unknown folder has no paper value
    assert references.paper_dataset("cifar10") == "cifar10" and references.paper_dataset("digits") is None
    spec = RunSpec(suite="standard", profile="paper", dataset="imagefolder", model="cnet2", algorithm="mltp", seed=0,
                   hparams=algorithms.make_hparams("mltp"),
                   data_root="/nowhere/cifar10-jpeg.tar.gz")  # named, never read
    assert paper_dataset_of(RunResult(spec=spec, status="FINISHED")) == "cifar10"
    assert references.lookup("standard", "cifar10", "cnet2", "mltp", "top1").value == 86.4


def test_scale_note_names_what_differs_between_rows():
    from benchmark.report.leaderboard import _scale_note

    assert _scale_note(["a; b", "a; b"]) == "a; b"
    assert _scale_note(["a; study x", "a; study y"]) == "a; per algorithm: study x; study y"
    assert _scale_note(["", ""]) == ""


def test_the_grid_parent_and_the_experiment_describe_the_verdict(tmp_path):
    """MLflow's UI shows a run's and an experiment's ``mlflow.note.content`` on their overview pages: the parent
    carries the verdict table there, the experiment the latest grid's verdicts."""
    from benchmark.report.leaderboard import NOTE, close_grid
    from benchmark.track.tracking import Tracker

    from .leaderboard_runs import populate_fewshot

    tracker = Tracker(mlflow_sqlite(tmp_path / "m.db"), "fewshot")
    populate_fewshot(tracker)
    runs = tracker.client.search_runs([tracker.experiment_id])
    keys = {r.data.tags["config_key"] for r in runs if "config_key" in r.data.tags}
    parent = tracker.grid_parent("g", "grid:fewshot:test", {"suite_grid": "fewshot"})
    board, _ = close_grid(tracker, parent, "fewshot", keys, "FINISHED")
    assert not board.empty
    note = tracker.client.get_run(parent).data.tags[NOTE]
    assert note.startswith("# Leaderboard: fewshot suite") and "| verdict |" in note
    described = tracker.client.get_experiment(tracker.experiment_id).tags[NOTE]
    assert parent in described and "verdict:" in described and "diff [95% CI]" in described


def test_the_holm_family_spans_the_table_or_one_setting(tmp_path):
    """--family table (default): one Holm family over the 1- and 5-shot comparisons of the committed Omniglot table
    (26); --family setting: 13 each, so its adjusted p are never larger, and the legend names the family used."""
    from benchmark.report.leaderboard import build

    src = Path(__file__).resolve().parents[1] / "leaderboards" / "omniglot-alphabets" / "2026-12-01-protocol-v1"
    if not (src / "fewshot-runs.csv.gz").is_file():
        pytest.skip(f"the committed table's raw results are not in {src}")
    _, table, _ = build(src, "fewshot", tmp_path / "t")
    _, setting, _ = build(src, "fewshot", tmp_path / "s", family="setting")
    both = table.merge(setting, on=["setting", "algorithm"], suffixes=("_t", "_s")).dropna(subset=["p_holm_t"])
    assert len(both) == 26 and (both.p_holm_s <= both.p_holm_t + 1e-12).all() and (both.p_holm_s < both.p_holm_t).any()
    assert set(table.alpha_detectable.dropna()) == {0.05 / 26} and set(setting.alpha_detectable.dropna()) == {0.05 / 13}
    assert "(`--family table`)" in (tmp_path / "t" / "fewshot.md").read_text()
    assert "(`--family setting`)" in (tmp_path / "s" / "fewshot.md").read_text()


def test_planned_pairs_are_judged_in_the_baselines_holm_family(tmp_path):
    """--compare A:B: A against B paired by seed, by the same test as the baseline's comparisons, Holm-adjusted with
    them in one family; its own section in the table and its own CSV, the main table unchanged."""
    from scipy import stats as st

    from benchmark.report.leaderboard import build_frames, tables

    base = [30.0, 20.0, 40.0, 35.0, 33.0]
    a = [v + 3.0 + 0.3 * s for s, v in enumerate(base)]
    b = [v + 1.0 + (0.8 if s % 2 else -0.6) for s, v in enumerate(base)]
    df = pd.DataFrame([_row("standard", s, v) for s, v in enumerate(base)] + [_row("mltp", s, v) for s, v in enumerate(a)]
                      + [_row("mltp_fo", s, v) for s, v in enumerate(b)])
    board = tables(df, "standard", "standard", pairs=(("mltp", "mltp_fo"),))
    pair = board[board.versus == "mltp_fo"].iloc[0]
    assert pair.algorithm == "mltp" and pair["diff"] == pytest.approx(sum(a) / 5 - sum(b) / 5)
    assert pair.p == pytest.approx(st.ttest_rel(a, b).pvalue)  # the paired t over seeds, computed independently
    ps = sorted(board.p.dropna())  # three comparisons in one family: Holm's steps
    holm = {p: min(1.0, max((3 - i) * q for i, q in enumerate(ps[: ps.index(p) + 1]))) for p in ps}
    for _, r in board.dropna(subset=["p"]).iterrows():
        assert r.p_holm == pytest.approx(holm[r.p])
    plain = tables(df, "standard", "standard").set_index("algorithm").p_holm.dropna()
    assert (plain <= board[board.versus == ""].set_index("algorithm").p_holm.dropna()).all()  # a bigger family: stricter
    md, main_board, _ = build_frames(df.assign(status="FINISHED"), pd.DataFrame(columns=["run_id", "episode", "acc"]),
                                     "standard", tmp_path, pairs=(("mltp", "mltp_fo"),))
    text = md.read_text()
    assert "Planned comparisons" in text and "| `mltp` vs `mltp_fo` | 5 |" in text
    assert len(main_board) == 3 and "versus" not in pd.read_csv(tmp_path / "standard.csv")
    assert pd.read_csv(tmp_path / "standard-pairs.csv").versus.tolist() == ["mltp_fo"]
    build_frames(df.assign(status="FINISHED"), pd.DataFrame(columns=["run_id", "episode", "acc"]), "standard", tmp_path)
    assert not (tmp_path / "standard-pairs.csv").exists() and "Planned" not in md.read_text()  # no stale pairs
    for pairs in ((("mltp", "standard"),), (("standard", "mltp"),)):  # the baseline's own comparisons are the table's
        with pytest.raises(ValueError, match="standard is the baseline"):
            build_frames(df.assign(status="FINISHED"), pd.DataFrame(), "standard", tmp_path, pairs=pairs)
    with pytest.raises(ValueError, match="a pair is named twice"):  # one comparison counted twice would enlarge the family
        build_frames(df.assign(status="FINISHED"), pd.DataFrame(), "standard", tmp_path,
                     pairs=(("mltp", "mltp_fo"), ("mltp_fo", "mltp")))


def test_exporting_an_experiment_without_runs_writes_nothing(tmp_path, capsys):
    """An empty export would replace a folder's raw results, or break the next --merge into it: one line instead."""
    from benchmark.track.tracking import Tracker

    uri = mlflow_sqlite(tmp_path / "m.db")
    Tracker(uri, "fewshot")
    out = tmp_path / "raw"
    assert main(["leaderboard", "--suite", "fewshot", "--tracking-uri", uri, "--experiment", "fewshot-20way",
                 "--export", str(out), "--merge"]) == 2
    err = capsys.readouterr().err.strip()
    assert "no fewshot-suite runs in experiment 'fewshot-20way'" in err and "\n" not in err
    assert not (out / "fewshot-runs.csv.gz").exists()


def test_a_table_of_several_settings_opens_with_their_overview():
    """Algorithms by settings, ordered by ways and then shots (the MTL paper's layout), each cell the mean and its seeds."""
    from benchmark.report.leaderboard import overview_md

    rows = []
    for setting, shift in (("20-way 1-shot", -40), ("5-way 5-shot", 0), ("5-way 1-shot", -10), ("5-way 15-shot", 2)):
        for algo, acc, n in (("transfer", 80.0, 3), ("maml", 85.0, 2)):
            rows.append({"dataset": "omniglot", "source": "", "model": "conv4", "setting": setting, "bn_eval": "",
                         "profile": "p", "scale": "reduced", "paper_dataset": "", "algorithm": algo, "mean": acc + shift, "n": n})
    lines = overview_md(pd.DataFrame(rows))
    assert lines[2] == "| algorithm | 5-way 1-shot | 5-way 5-shot | 5-way 15-shot | 20-way 1-shot |"
    assert lines[4] == "| maml | 75.00 (2) | 85.00 (2) | 87.00 (2) | 45.00 (2) |" and lines[5].startswith("| transfer | 70.00 (3)")
    assert overview_md(pd.DataFrame(rows[:2])) == []  # one setting: the section itself is the table


@pytest.mark.parametrize("argv, says", [
    (["--compare", "mltp"], "expected two different algorithms as A:B"),
    (["--compare", "mltp:mltp"], "expected two different algorithms as A:B"),
    (["--compare", "nope:mltp_fo"], "--compare nope:mltp_fo: nope has no finished runs; algorithms present: "),
])
def test_a_bad_pair_is_one_line(argv, says, tmp_path, capsys):
    df = pd.DataFrame([_row(a, s, 40.0 + s) for a in ("standard", "mltp_fo") for s in range(3)]).assign(status="FINISHED")
    from benchmark.report import raw

    raw.write(tmp_path, "standard", df, pd.DataFrame(columns=["run_id", "episode", "acc"]))
    with pytest.raises(SystemExit) if "A:B" in says else _nothing():
        code = main(["leaderboard", "--from", str(tmp_path), "--out", str(tmp_path / "lb"), *argv])
        assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert says in err[-1] and (len(err) == 1 or "A:B" in says)


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_a_table_of_evaluations_declares_how_its_models_were_scored():
    """Table 2 scores Table 1's models with evaluate: its header declares the profile's deviations of that scoring
    (cited), which a table of the training runs themselves does not list."""
    from benchmark.report.leaderboard import _deviations, tables

    algos = {"maml", "transfer", "finetune"}
    assert "Table 2" not in _deviations("fewshot", "omniglot-alphabets", algos)
    scored = _deviations("fewshot", "omniglot-alphabets", algos, scored=True)
    assert "[!] Table 2, the MTL question: models and settings (maml, transfer)" in scored  # not finetune: not in it
    df = pd.DataFrame([_row("standard", s, 40.0 + s) | {"source_run_id": "a1"} for s in range(3)]
                      + [_row("mltp", s, 41.0 + s) | {"source_run_id": ""} for s in range(3)])
    assert tables(df, "standard", "standard").set_index("algorithm").evaluation.to_dict() == {"standard": True, "mltp": False}


def test_a_planned_pair_waits_for_a_registered_algorithm_that_has_not_run_yet(tmp_path, capsys):
    """A table built piece by piece plans its comparisons before every algorithm has run: a pair naming a registered
    algorithm without finished runs is listed as not judged yet, not refused (a typo still is, above)."""
    df = pd.DataFrame([_row(a, s, 40.0 + s) for a in ("standard", "mltp_fo") for s in range(3)]).assign(status="FINISHED")
    from benchmark.report import raw

    raw.write(tmp_path, "standard", df, pd.DataFrame(columns=["run_id", "episode", "acc"]))
    assert main(["leaderboard", "--from", str(tmp_path), "--out", str(tmp_path / "lb"), "--compare", "mltp:mltp_fo"]) == 0
    md = (tmp_path / "lb" / "standard.md").read_text()
    assert "Planned comparison mltp:mltp_fo not judged yet: mltp has no finished runs." in md
    assert not (tmp_path / "lb" / "standard-pairs.csv").exists()
