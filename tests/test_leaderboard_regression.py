"""The leaderboards regenerate with the same rows from the same runs: each suite's table
is built from a small fixed run set (``leaderboard_runs``) and compared with the stored
expected table (``tests/data/leaderboard``; regenerate it deliberately when the table's
format changes), and rebuilt from the raw results written beside it (``--from``)."""
from pathlib import Path

import pandas as pd
import pytest

from benchmark.report.leaderboard import build
from benchmark.track.tracking import Tracker

from .leaderboard_runs import populate_fewshot, populate_standard
from .stores import mlflow_sqlite

EXPECTED = Path(__file__).parent / "data" / "leaderboard"


@pytest.mark.parametrize("suite,populate", [("standard", populate_standard), ("fewshot", populate_fewshot)])
def test_leaderboard_matches_the_stored_table(tmp_path, suite, populate):
    tracker = Tracker(mlflow_sqlite(tmp_path / "m.db"), suite)
    populate(tracker)
    md, board, _ = build(tracker, suite, tmp_path / "lb", None, "python -m benchmark leaderboard", None)
    assert md.read_text() == (EXPECTED / f"{suite}.md").read_text()
    got = pd.read_csv(tmp_path / "lb" / f"{suite}.csv")
    want = pd.read_csv(EXPECTED / f"{suite}.csv")
    pd.testing.assert_frame_equal(got, want)
    assert (tmp_path / "lb" / f"{suite}.png").is_file()
    assert (tmp_path / "lb" / f"{suite}-episodes.csv.gz").is_file() == (suite == "fewshot")  # no empty artifact
    md2, board2, _ = build(tmp_path / "lb", suite, tmp_path / "again", None, "python -m benchmark leaderboard", None)
    assert md2.read_text() == md.read_text()
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "again" / f"{suite}.csv"), got)


def test_the_console_verdict_is_the_tables_and_tests_nothing_below_three_seeds(tmp_path):
    from benchmark.report.leaderboard import verdict_lines

    tracker = Tracker(mlflow_sqlite(tmp_path / "m.db"), "fewshot")
    populate_fewshot(tracker)
    _, board, _ = build(tracker, "fewshot", tmp_path / "lb", None, "python -m benchmark leaderboard", None)
    text = "\n".join(verdict_lines(board))
    for _, r in board.iterrows():
        line = next(x for x in text.splitlines() if x.startswith(r.algorithm + " "))
        if r.verdict == "baseline":
            assert "baseline" in line
        elif r.n >= 3:
            assert r.verdict in line and f"{r['diff']:+.2f} [{r.diff_lo:+.2f}, {r.diff_hi:+.2f}]" in line
    few = board.assign(n=2)
    lines = [x for x in verdict_lines(few) if x and not x.startswith(("verdict", "algorithm"))]
    assert all("not tested (n < 3)" in x or "baseline" in x for x in lines) and not any("[" in x for x in lines)


def test_a_table_says_when_its_runs_shared_the_machine_or_used_other_threads(tmp_path):
    """The cost columns count elapsed time: a Cost line names runs trained on an oversubscribed machine (mean load
    above the cores) and thread counts that differ; the committed raw results (no load recorded) get none."""
    import shutil

    src = Path(__file__).resolve().parents[1] / "leaderboards" / "quick"
    for f in ("fewshot-runs.csv.gz", "fewshot-episodes.csv.gz", "fewshot-curves.csv.gz"):
        if (src / f).exists():
            shutil.copy(src / f, tmp_path / f)
    build(tmp_path, "fewshot", tmp_path / "plain", "transfer", "test")
    assert "Cost:" not in (tmp_path / "plain" / "fewshot.md").read_text()
    runs = pd.read_csv(tmp_path / "fewshot-runs.csv.gz")
    runs["cores"], runs["load"], runs["threads"] = 2, 1.0, 1
    runs.loc[runs.index[:3], "load"] = 3.5  # three runs trained while more threads ran than the machine has cores
    runs.loc[runs.index[3], "threads"] = 2
    runs.to_csv(tmp_path / "fewshot-runs.csv.gz", index=False)
    build(tmp_path, "fewshot", tmp_path / "busy", "transfer", "test")
    text = (tmp_path / "busy" / "fewshot.md").read_text()
    assert f"Cost: 3 of {len(runs)} runs shared the machine" in text and "runs used 1 and 2 torch threads" in text
