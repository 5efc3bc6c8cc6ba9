"""scripts/omniglot_answers.py: the Omniglot reruns' answers are written from the tables' CSVs, only when every row a
question needs has 5 seeds, and the committed page is what the committed tables give."""
import importlib.util
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("omniglot_answers", ROOT / "scripts" / "omniglot_answers.py")
answers = importlib.util.module_from_spec(spec)
spec.loader.exec_module(answers)


def _row(setting, algorithm, diff, verdict, n=5, mean=None, versus=None, plateau="5/5"):
    return {"setting": setting, "algorithm": algorithm, "n": n, "mean": 80.0 + diff if mean is None else mean,
            "diff": diff, "diff_lo": diff - 1, "diff_hi": diff + 1, "verdict": verdict, "plateau": plateau,
            "versus": versus}


def _table1(n_maml=5):
    rows, pairs = [], []
    for s in ("5-way 1-shot", "5-way 5-shot"):
        rows.append(_row(s, "transfer", 0.0, "baseline"))
        rows.append(_row(s, "baseline_pp", 1.5, "better"))
        rows += [_row(s, a, -0.5, "no evidence") for a in answers.SIMPLE[2:]]
        for a in answers.META:
            good = a == "maml" and s == "5-way 1-shot"
            rows.append(_row(s, a, 4.0 if good else 2.0, "better", n=n_maml if a == "maml" else 5,
                             plateau="2/5" if a == "fomaml" else "5/5"))
            pairs.append(_row(s, a, 2.5 if good else 0.5, "better" if good else "no evidence", versus="baseline_pp"))
    return pd.DataFrame(rows), pd.DataFrame(pairs)


def _table2():
    rows, pairs = [], []
    for mtl, parent in answers.MTL.items():
        for s in answers.TABLE2[mtl]:
            wins = mtl == "mtl_maml" and s == "20-way 15-shot"
            rows += [_row(s, "transfer", 0.0, "baseline"), _row(s, parent, 1.0, "better"),
                     _row(s, mtl, 3.0 if wins else -2.0, "better" if wins else "worse")]
            pairs.append(_row(s, mtl, 2.0 if wins else -3.0, "better" if wins else "worse", versus=parent))
    return pd.DataFrame(rows).drop_duplicates(["setting", "algorithm"]), pd.DataFrame(pairs)


def _write(tmp_path, n_maml=5, v1_maml_verdict="better"):
    t1, t2, v1 = tmp_path / "t1", tmp_path / "t2", tmp_path / "v1"
    for d in (t1, t2, v1):
        d.mkdir()
    rows, pairs = _table1(n_maml)
    rows.to_csv(t1 / "fewshot.csv", index=False)
    pairs.to_csv(t1 / "fewshot-pairs.csv", index=False)
    old = rows.copy()
    old.loc[(old.algorithm == "maml") & (old.setting == "5-way 5-shot"), "verdict"] = "worse"
    old.loc[old.algorithm == "maml", "n"] = 5
    old.loc[(old.algorithm == "maml") & (old.setting == "5-way 1-shot"), "verdict"] = v1_maml_verdict
    old.to_csv(v1 / "fewshot.csv", index=False)
    old_pairs = pairs.copy()  # v1 judged by v3's plan: protonet was better than Baseline++ at 1 shot under v1
    old_pairs.loc[(old_pairs.algorithm == "protonet") & (old_pairs.setting == "5-way 1-shot"), "verdict"] = "better"
    old_pairs.to_csv(t1 / "v1-vs-v3-pairs.csv", index=False)
    for frame, name in zip(_table2(), ("fewshot.csv", "fewshot-pairs.csv")):
        frame.to_csv(t2 / name, index=False)
    return answers.write(tmp_path / "answers.md", t1, t2, v1).read_text()


def test_every_question_is_answered_from_the_tables_at_five_seeds(tmp_path):
    page = _write(tmp_path)
    one_shot, five_shot = page.split("### 5-way 1-shot")[1].split("### 5-way 5-shot")
    assert "**Yes, for maml**" in one_shot  # better than transfer and, in its planned pair, than Baseline++
    assert "**No**" in five_shot.split("## 2.")[0]  # better than transfer only: not better than both
    assert "Against Baseline++ (planned): better: maml (+2.50 pp [+1.50, +3.50]); no evidence: protonet" in one_shot
    assert "describe the 10,000-iteration cap: fomaml (2/5)" in one_shot
    assert "mtl_maml beats both transfer and maml in 20-way 15-shot; mtl_reptile beats both transfer and reptile in no setting" in page
    assert "| 20-way 15-shot | +3.00 pp [+2.00, +4.00], better | +2.00 pp [+1.00, +3.00], better | - | - |" in page
    q3 = page.split("## 3.")[1]
    assert "- 5-way 1-shot: v1 maml, protonet; v3 maml" in q3 and "- 5-way 5-shot: v1 none; v3 none" in q3
    assert "2 verdict(s) changed" in q3 and "- 5-way 5-shot, maml against transfer: worse -> better" in q3
    assert "- 5-way 1-shot, protonet against baseline_pp: better -> no evidence" in q3


def test_a_row_short_of_five_seeds_leaves_its_questions_unanswered(tmp_path):
    page = _write(tmp_path, n_maml=4)
    q1 = page.split("## 2.")[0]
    assert "Yes" not in q1 and "**No**" not in q1
    assert q1.count("Not answered yet: 1 row(s) have fewer than 5 seeds (4 of 5 seeds: maml)") == 2
    assert "Not answered yet" in page.split("## 3.")[1] and "5-way 1-shot maml" in page.split("## 3.")[1]
    assert "mtl_maml beats both" in page  # Table 2's rows all have 5 seeds: its question is answered


def test_a_missing_table2_cell_is_not_run_yet(tmp_path):
    t2 = tmp_path / "t2"
    _write(tmp_path)
    rows = pd.read_csv(t2 / "fewshot.csv")
    rows[~((rows.algorithm == "mtl_reptile") & (rows.setting == "5-way 15-shot"))].to_csv(t2 / "fewshot.csv", index=False)
    page = answers.write(tmp_path / "answers.md", tmp_path / "t1", t2, tmp_path / "v1").read_text()
    assert "Not answered yet: 1 row(s) have fewer than 5 seeds (not run yet: 5-way 15-shot mtl_reptile)" in page


def test_the_committed_answers_page_is_what_the_committed_tables_give(tmp_path):
    committed = ROOT / "leaderboards" / "omniglot-answers.md"
    lb = ROOT / "leaderboards"
    page = answers.write(tmp_path / "answers.md", lb / "omniglot-alphabets", lb / "omniglot-mtl",
                         lb / "omniglot-alphabets" / "2026-12-01-protocol-v1").read_text()
    assert page == committed.read_text(), "rerun: python scripts/omniglot_answers.py"
