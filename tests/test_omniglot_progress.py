"""scripts/omniglot_progress.py: the Omniglot reruns' progress page lists every planned cell that is not committed,
with the piece that makes it and a cost measured at other seeds, flags Table 2 cells scored from another model than
the plan's, and the committed page is what the committed raw results give."""
import importlib.util
from pathlib import Path

import pandas as pd
import pytest

from benchmark.report import raw

ROOT = Path(__file__).resolve().parents[1]


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


progress = _load("omniglot_progress")


def test_the_groups_are_the_piece_scripts_fourteen_algorithms():
    g = progress.groups()
    table1 = g["embedding"] + g["maml"] + g["reptile"]
    assert len(table1) == len(set(table1)) == 14
    assert set(g["sensitivity"]) <= set(table1) and "mtl_reptile" in g["reptile"] and "metasgd" in g["maml"]


def test_table2s_plan_is_read_from_its_piece_script():
    """omniglot_plan.py: Table 2's algorithms (table1_pieces.sh's table2 group) and their settings, the any-way ones
    read from table2_pieces.sh; the answers page asks each MTL at the same settings."""
    plan, answers = _load("omniglot_plan"), _load("omniglot_answers")
    g = plan.groups()
    assert plan.any_way() == ["transfer", "protonet", "baseline_pp"]
    assert set(g["table2"]) == set(plan.any_way()) | set(plan.MTL) | set(plan.MTL.values())
    assert plan.table2_settings("mtl_reptile") == ["5-way 1-shot", "5-way 5-shot", "5-way 15-shot"]
    assert len(plan.table2_settings("protonet")) == 9 and plan.table2_settings("maml")[-1] == "20-way 15-shot"
    assert answers.TABLE2 == {m: plan.table2_settings(m) for m in ("mtl_maml", "mtl_reptile")}


@pytest.mark.parametrize("algorithm, setting, model", [
    ("maml", "5-way 15-shot", "5-way 5-shot"), ("maml", "20-way 1-shot", "20-way 1-shot"),
    ("mtl_maml", "20-way 15-shot", "20-way 1-shot"), ("protonet", "35-way 15-shot", "5-way 5-shot"),
    ("transfer", "20-way 1-shot", "5-way 1-shot"), ("reptile", "5-way 5-shot", "5-way 5-shot")])
def test_each_cell_is_scored_from_the_nearest_trained_shot_count(algorithm, setting, model):
    assert progress.model_setting(algorithm, setting) == model


def _run(algorithm, seed, setting, hours, trained_on=""):
    """One committed run: trained (hours of training on 1 thread) or, with trained_on, scored by evaluate."""
    note = f"best weights of run abc (trained on omniglot-alphabets {trained_on}), evaluated" if trained_on else "x"
    return {"run_id": f"{algorithm}{seed}{setting}", "suite": "fewshot", "status": "FINISHED",
            "start_time": 1, "config_key": f"{algorithm}-{seed}-{setting}", "dataset": "omniglot-alphabets",
            "source": "", "model": "conv4", "setting": setting, "bn_eval": "transductive", "profile": "p",
            "scale": "reduced", "algorithm": algorithm, "seed": seed, "acc": 90.0, "scale_note": note,
            "source_run_id": "abc" if trained_on else "", "paper_dataset": "", "episodes_fingerprint": "", "wall_time_s": hours * 3600, "train_time_s": hours * 3600,
            "threads": 1}


def _write(folder: Path, rows: list[dict]):
    raw.write(folder, "fewshot", pd.DataFrame(rows), pd.DataFrame(columns=["run_id", "episode", "acc"]))


def test_missing_cells_their_pieces_and_costs(tmp_path):
    _write(tmp_path / "omniglot-alphabets", [
        _run("maml", 0, "5-way 5-shot", 2.0), _run("maml", 1, "5-way 5-shot", 4.0),
        _run("transfer", 0, "5-way 1-shot", 0.5)])
    _write(tmp_path / "omniglot-mtl", [
        _run("maml", 0, "20-way 5-shot", 0.01, trained_on="5-way 5-shot"),  # the wrong model: to replace
        _run("maml", 1, "20-way 15-shot", 0.01, trained_on="20-way 1-shot"),  # the plan's model (the 20-way cut)
        _run("maml", 0, "5-way 15-shot", 0.02, trained_on="5-way 5-shot")])
    done, todo = progress.missing(tmp_path)
    t1 = todo[todo.table == "t1"].set_index(["algorithm", "setting", "seed"])
    assert ("maml", "5-way 5-shot", 0) not in t1.index and ("maml", "5-way 5-shot", 1) not in t1.index
    row = t1.loc[("maml", "5-way 5-shot", 2)]
    assert row.core_h == pytest.approx(3.0) and row.piece == "SHOTS=5 ONLY=maml scripts/table1_pieces.sh 2"
    assert row.step == 3 and progress._phase(3, row.step) > progress._phase(4, 1)  # the seed cut comes last
    assert t1.loc[("transfer", "5-way 1-shot", 4)].piece == "SHOTS=1 ONLY=embedding scripts/table1_pieces.sh 4"
    assert pd.isna(t1.loc[("fomaml", "5-way 1-shot", 0)].core_h)  # nothing measured: no number made up
    t2 = todo[todo.table == "t2"].set_index(["algorithm", "setting", "seed"])
    assert t2.loc[("maml", "20-way 5-shot", 0)]["replace"] and not t2.loc[("maml", "20-way 1-shot", 0)]["replace"]
    assert ("maml", "5-way 15-shot", 0) not in t2.index and ("maml", "20-way 15-shot", 1) not in t2.index
    assert t2.loc[("maml", "5-way 5-shot", 0)].piece.startswith("SCORE=5 scripts/table2_pieces.sh 0")  # model committed
    assert t2.loc[("maml", "5-way 1-shot", 0)].piece == ""  # its model's piece scores it
    assert "35-way 1-shot" not in set(t2.xs("maml").index.get_level_values(0))  # the MAML pair takes 5 or 20 ways
    bn = todo[todo.table == "bn"]
    assert set(bn.seed) == {0, 1, 2} and bn.set_index(["algorithm", "setting", "seed"]).loc[
        ("maml", "5-way 5-shot", 0)].core_h == pytest.approx(3.0)  # estimated from Table 1's runs
    page = progress.write(tmp_path / "p.md", tmp_path).read_text()
    assert "| maml | 5-way 5-shot | 90.00 | 90.00 | · | · | · |" in page and "| maml | 20-way 5-shot | 90.00 † |" in page


def test_a_diverged_cell_is_shown_as_such_and_is_not_missing(tmp_path):
    """A cell whose run diverged (FAILED, "diverged: ...") has no accuracy and is not to rerun: the page says so, and
    its piece is not listed; a FAILED run for another reason (a crash) still leaves its cell missing."""
    div = _run("maml", 0, "5-way 1-shot", 0.1) | {"status": "FAILED", "acc": float("nan"),
                                                  "error": "diverged: query logits became non-finite"}
    crash = _run("maml", 1, "5-way 1-shot", 0.1) | {"status": "FAILED", "acc": float("nan"), "error": "OSError: disk"}
    rerun = [_run("maml", 2, "5-way 1-shot", 0.1) | {"status": "FAILED", "acc": float("nan"), "error": "diverged: x"},
             _run("maml", 2, "5-way 1-shot", 0.1) | {"status": "KILLED", "acc": float("nan"), "run_id": "r2", "start_time": 2}]
    _write(tmp_path / "omniglot-alphabets" / "bn-inductive", [div, crash, *rerun, _run("protonet", 0, "5-way 1-shot", 0.1)])
    _write(tmp_path / "omniglot-alphabets", [_run("maml", 0, "5-way 1-shot", 0.5)])
    done, todo = progress.missing(tmp_path)
    bn = todo[todo.table == "bn"].set_index(["algorithm", "setting", "seed"])
    assert ("maml", "5-way 1-shot", 0) not in bn.index and ("maml", "5-way 1-shot", 1) in bn.index
    assert ("maml", "5-way 1-shot", 2) in bn.index  # rerun since it diverged (KILLED): missing, not hidden
    assert ("protonet", "5-way 1-shot", 0) not in bn.index
    # the diverged run stopped early: the missing cells' cost comes from finished runs (here Table 1's), not from it
    assert bn.loc[("maml", "5-way 1-shot", 1)].core_h == pytest.approx(0.5)
    page = progress.write(tmp_path / "p.md", tmp_path).read_text()
    assert "| maml | 5-way 1-shot | diverged | · | · |" in page


def test_the_committed_progress_page_is_what_the_committed_results_give(tmp_path):
    lb = ROOT / "leaderboards"
    if not (lb / "omniglot-progress.md").is_file():
        pytest.skip("no committed progress page")
    assert progress.write(tmp_path / "p.md", lb).read_text() == (lb / "omniglot-progress.md").read_text(), \
        "rerun: python scripts/omniglot_progress.py"
