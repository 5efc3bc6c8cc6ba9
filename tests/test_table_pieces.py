"""A table built in pieces across stores (scripts/table_piece.sh): `leaderboard --export DIR
--merge` keeps the runs of other stores already in DIR, and `run --done-in DIR` skips the
cells DIR already has, so a lost store loses no finished piece and reruns none."""
import pandas as pd

from benchmark.cli import main
from benchmark.report import raw
from benchmark.track.tracking import Tracker

from .leaderboard_runs import populate_fewshot
from .stores import mlflow_sqlite


def _store(tmp_path, name: str) -> str:
    uri = f"sqlite:///{tmp_path / name}.db"
    populate_fewshot(Tracker(uri, "fewshot"))
    return uri


def test_export_merge_keeps_the_runs_of_other_stores(tmp_path, capsys):
    table = tmp_path / "table"
    first, second = _store(tmp_path, "a"), _store(tmp_path, "b")
    assert main(["leaderboard", "--suite", "fewshot", "--tracking-uri", first, "--export", str(table), "--merge"]) == 0
    a_runs, a_eps = raw.read(table, "fewshot")
    assert main(["leaderboard", "--suite", "fewshot", "--tracking-uri", second, "--export", str(table), "--merge"]) == 0
    assert f"kept {len(a_runs)} run(s) of other stores" in capsys.readouterr().out
    runs, eps = raw.read(table, "fewshot")
    b_ids = set(runs.run_id) - set(a_runs.run_id)
    assert set(a_runs.run_id) < set(runs.run_id) and len(b_ids) == len(a_runs)  # both stores' runs, none twice
    assert len(eps) == 2 * len(a_eps) and set(eps.run_id) == set(a_eps.run_id) | b_ids
    pd.testing.assert_frame_equal(eps[eps.run_id.isin(a_runs.run_id)].reset_index(drop=True), a_eps)
    # exporting the same store again replaces its own rows instead of adding them twice
    assert main(["leaderboard", "--suite", "fewshot", "--tracking-uri", second, "--export", str(table), "--merge"]) == 0
    assert len(raw.read(table, "fewshot")[0]) == len(runs)
    # the table reads the newest run per configuration: the same keys as one store's
    assert set(raw.finished(runs)[0].run_id) <= b_ids | set(a_runs.run_id)
    assert raw.finished_keys(table, "fewshot") == set(raw.finished(a_runs)[0].config_key)
    # without --merge an export writes this store's runs only
    assert main(["leaderboard", "--suite", "fewshot", "--tracking-uri", first, "--export", str(table)]) == 0
    assert set(raw.read(table, "fewshot")[0].run_id) == set(a_runs.run_id)


def test_a_run_still_running_is_no_result_and_a_lost_one_leaves_the_table(tmp_path, capsys):
    """An export while a run is going leaves it out (its next export writes it); a RUNNING row already in the folder
    (exported from a store lost before its run ended: it can never end) leaves at the next merge."""
    table = tmp_path / "table"
    uri = _store(tmp_path, "a")
    t = Tracker(uri, "fewshot")
    tags = {"suite": "fewshot", "algorithm": "maml", "seed": "7", "setting": "5-way 1-shot", "config_key": "going",
            "dataset": "glyphs", "profile": "quick", "model": "conv4-32"}
    going = t.client.create_run(t.experiment_id, tags=tags).info.run_id  # started, not ended
    assert main(["leaderboard", "--suite", "fewshot", "--tracking-uri", uri, "--export", str(table), "--merge"]) == 0
    runs = raw.read(table, "fewshot")[0]
    assert going not in set(runs.run_id) and "RUNNING" not in set(runs.status) and len(runs) == 9
    # a row written RUNNING by an earlier export (the old behaviour), from a store since lost
    lost = runs.iloc[[0]].assign(run_id="lost", status="RUNNING", config_key="lost", seed=8, acc=float("nan"))
    raw.write(table, "fewshot", pd.concat([runs, lost], ignore_index=True), raw.read(table, "fewshot")[1])
    t.end(going, "FINISHED")
    assert main(["leaderboard", "--suite", "fewshot", "--tracking-uri", uri, "--export", str(table), "--merge"]) == 0
    runs = raw.read(table, "fewshot")[0]
    assert "lost" not in set(runs.run_id) and runs.set_index("run_id").status[going] == "FINISHED"
    assert "kept 0 run(s) of other stores" in capsys.readouterr().out


def test_merge_needs_export(tmp_path, capsys):
    assert main(["leaderboard", "--suite", "fewshot", "--from", str(tmp_path), "--merge"]) == 2
    assert "--merge" in capsys.readouterr().err


def test_run_done_in_skips_the_cells_a_table_already_has(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    flags = ["run", "--model", "cnet1", "--algorithm", "standard", "mltp_fo", "--seeds", "0", "--epochs", "1",
             "--max-steps", "2", "--no-progress"]
    first = mlflow_sqlite(tmp_path / "first.db")
    assert main([*flags[:5], *flags[6:], "--tracking-uri", first]) == 0  # standard only
    assert main(["leaderboard", "--tracking-uri", first, "--export", "table", "--merge"]) == 0
    capsys.readouterr()
    second = mlflow_sqlite(tmp_path / "second.db")  # a new store: the first one is lost
    assert main([*flags, "--tracking-uri", second, "--done-in", "table"]) == 0
    out = capsys.readouterr().out
    assert "1 of 2 cells already finished in table (--done-in), skipped" in out
    algos = {r.data.tags["algorithm"] for r in Tracker(second, "standard").runs("standard") if "config_key" in r.data.tags}
    assert algos == {"mltp_fo"}
    assert main(["leaderboard", "--tracking-uri", second, "--export", "table", "--merge"]) == 0
    assert sorted(raw.read("table", "standard")[0].algorithm) == ["mltp_fo", "standard"]
    assert main([*flags, "--tracking-uri", second, "--done-in", "table"]) == 0
    assert "nothing to run" in capsys.readouterr().out
    assert main([*flags, "--done-in", "missing"]) == 2
    assert "--done-in missing: no such folder" in capsys.readouterr().err


def test_a_table_counts_one_run_per_cell_whatever_the_configurations(tmp_path):
    """Pieces from stores whose data lived elsewhere (another config key for the same cell) must not
    count a seed twice: the newest run of each (group, algorithm, seed) is the table's."""
    table = tmp_path / "table"
    assert main(["leaderboard", "--suite", "fewshot", "--tracking-uri", _store(tmp_path, "a"), "--export", str(table)]) == 0
    runs, _ = raw.read(table, "fewshot")
    again = runs.assign(config_key=runs.config_key + "-elsewhere", run_id=runs.run_id + "x", start_time=runs.start_time + 1)
    kept, left_out = raw.finished(pd.concat([runs, again], ignore_index=True))
    assert len(kept) == len(raw.finished(runs)[0]) and set(kept.run_id) <= set(again.run_id)
    assert left_out["superseded (older run of the same table cell, another configuration)"] == len(kept)


def test_merging_a_store_without_runs_keeps_the_table(tmp_path):
    table = tmp_path / "table"
    assert main(["leaderboard", "--suite", "fewshot", "--tracking-uri", _store(tmp_path, "a"), "--export", str(table)]) == 0
    before = raw.read(table, "fewshot")[0]
    empty = mlflow_sqlite(tmp_path / "empty.db")
    Tracker(empty, "fewshot")
    assert main(["leaderboard", "--suite", "fewshot", "--tracking-uri", empty, "--export", str(table), "--merge"]) == 0
    assert set(raw.read(table, "fewshot")[0].run_id) == set(before.run_id)
