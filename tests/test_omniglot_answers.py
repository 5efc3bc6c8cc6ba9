"""scripts/omniglot_answers.py: the Omniglot reruns' answers are written from the tables' CSVs, only when every row
and comparison a question needs has 5 paired seeds, and the committed page is what the committed tables give."""
import importlib.util
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("omniglot_answers", ROOT / "scripts" / "omniglot_answers.py")
answers = importlib.util.module_from_spec(spec)
spec.loader.exec_module(answers)
ONE, FIVE = answers.SETTINGS


def _row(setting, algorithm, diff, verdict, n=5, versus=None, plateau="5/5", iterations=6000.0):
    return {"setting": setting, "algorithm": algorithm, "n": n, "paired_seeds": 0 if verdict == "baseline" else n,
            "mean": 80.0 + diff, "diff": diff, "diff_lo": diff - 1, "diff_hi": diff + 1, "verdict": verdict,
            "plateau": plateau, "iterations": iterations, "versus": versus, "detectable": 1.5}


def _table1():
    """Table 1 at 5 seeds. 1-shot: maml better than both baselines, protonet better than transfer only, anil better
    than Baseline++ only (transfer: no evidence), reptile worse than Baseline++; 5-shot: no meta-learner better than
    both. fomaml plateaued in 2 of 5 seeds at the cap; finetune has no validation curve."""
    rows, pairs = [], []
    against = {(ONE, "maml"): ("better", "better"), (ONE, "protonet"): ("better", "no evidence"),
               (ONE, "anil"): ("no evidence", "better"), (ONE, "reptile"): ("better", "worse")}
    for s in (ONE, FIVE):
        rows += [_row(s, "transfer", 0.0, "baseline"), _row(s, "baseline_pp", 1.5, "better"),
                 _row(s, "finetune", -30.0, "worse", plateau="-", iterations=0.0)]
        rows += [_row(s, a, -0.5, "no evidence") for a in ("linear_probe", "nearest_neighbour")]
        for a in answers.META:
            vt, vb = against.get((s, a), ("better", "no evidence"))
            rows.append(_row(s, a, 2.0, vt, plateau="2/5" if a == "fomaml" else "5/5",
                             iterations=10000.0 if a == "fomaml" else 6000.0))
            pairs.append(_row(s, a, {"better": 2.5, "worse": -2.5}.get(vb, 0.5), vb, versus="baseline_pp"))
    return pd.DataFrame(rows), pd.DataFrame(pairs)


def _table2():
    rows, pairs = [], []
    for mtl, parent in answers.MTL.items():
        for s in answers.TABLE2[mtl]:
            wins = mtl == "mtl_maml" and s == "20-way 15-shot"
            half = mtl == "mtl_maml" and s == "5-way 15-shot"  # better than transfer, not than its parent
            rows += [_row(s, "transfer", 0.0, "baseline"), _row(s, parent, 1.0, "better"),
                     _row(s, mtl, 3.0 if wins or half else -2.0, "better" if wins or half else "worse")]
            pairs.append(_row(s, mtl, 2.0 if wins else 0.2 if half else -3.0,
                              "better" if wins else "no evidence" if half else "worse", versus=parent))
    return pd.DataFrame(rows).drop_duplicates(["setting", "algorithm"]), pd.DataFrame(pairs)


def _write(tmp_path, edit=None):
    """Writes the fixture tables (v1 judged by v3's plan beside Table 1: maml 5-shot worse against transfer, protonet
    1-shot better than Baseline++), lets ``edit(name, frame)`` change one, and returns the page."""
    t1, t2 = tmp_path / "t1", tmp_path / "t2"
    t1.mkdir(exist_ok=True)
    t2.mkdir(exist_ok=True)
    rows, pairs = _table1()
    old, old_pairs = rows.copy(), pairs.copy()
    old.loc[(old.algorithm == "maml") & (old.setting == FIVE), "verdict"] = "worse"
    old_pairs.loc[(old_pairs.algorithm == "protonet") & (old_pairs.setting == ONE), "verdict"] = "better"
    frames = {"t1/fewshot.csv": rows, "t1/fewshot-pairs.csv": pairs, "t1/v1-by-v3-plan.csv": old,
              "t1/v1-by-v3-plan-pairs.csv": old_pairs, **dict(zip(("t2/fewshot.csv", "t2/fewshot-pairs.csv"), _table2()))}
    for name, frame in frames.items():
        frame = edit(name, frame) if edit else frame
        if frame is not None:
            frame.to_csv(tmp_path / name, index=False)
    return answers.write(tmp_path / "answers.md", t1, t2).read_text()


def _sections(page):
    q1, rest = page.split("## 2.")
    q2, q3 = rest.split("## 3.")
    one, five = q1.split(f"### {ONE}")[1].split(f"### {FIVE}")
    return one, five, q2, q3


def test_every_question_is_answered_from_the_tables_at_five_seeds(tmp_path):
    one, five, q2, q3 = _sections(_write(tmp_path))
    assert "**Yes, for maml**: better than both transfer and Baseline++ after Holm. Worse than transfer or Baseline++: reptile." in one
    assert "protonet" not in one.split("\n")[2] and "anil" not in one.split("\n")[2]  # one side only: not "beats both"
    assert "Against Baseline++ (planned): better: maml (+2.50 pp [+1.50, +3.50]), anil (+2.50 pp" in one
    assert "**Not shown**: no meta-learner is better than both transfer and Baseline++ after Holm (this design detects 1.5-1.5 pp" in five
    assert "(2/5, mean 10,000 meta-iterations, every seed at the cap)" in one
    assert "without a validation curve (not meta-trained): finetune" in one and "every trained row" not in one
    assert "mtl_maml beats both transfer and maml in 20-way 15-shot; mtl_reptile beats both transfer and reptile in no setting" in q2
    assert "| 20-way 15-shot | +3.00 pp [+2.00, +4.00], better | +2.00 pp [+1.00, +3.00], better | - | - |" in q2
    assert answers.OUT_OF_SHOTS in q2  # the 20-way 5/15-shot cells come from 1-shot models (the plan's cut): said
    assert f"- {ONE}: v1 protonet, maml; v3 maml" in q3 and f"- {FIVE}: v1 none; v3 none" in q3
    assert "2 verdict(s) changed" in q3 and f"- {FIVE}, maml against transfer: worse -> better" in q3
    assert f"- {ONE}, protonet against baseline_pp: better -> no evidence" in q3


def _drop(target, algorithm, setting=ONE):
    def edit(name, frame):
        if name != target:
            return frame
        return None if algorithm is None else frame[~((frame.algorithm == algorithm) & (frame.setting == setting))]
    return edit


def _short_seeds(target, algorithm, setting=ONE):
    def edit(name, frame):
        if name == target:
            hit = (frame.algorithm == algorithm) & (frame.setting == setting)
            frame.loc[hit, "paired_seeds"] = 4
        return frame
    return edit


@pytest.mark.parametrize("edit, section, says", [
    (_short_seeds("t1/fewshot.csv", "maml"), 0, "4 of 5 seeds: maml"),
    (_short_seeds("t1/fewshot-pairs.csv", "maml"), 0, "4 of 5 seeds: vs baseline_pp: maml"),
    (_drop("t1/fewshot-pairs.csv", "anil"), 0, "not run or not judged yet: vs baseline_pp: anil"),
    (_drop("t1/fewshot-pairs.csv", None), 0, "vs baseline_pp: protonet"),  # the table built without --compare
    (_drop("t2/fewshot-pairs.csv", "mtl_maml", "20-way 5-shot"), 2, "not run or not judged yet: 20-way 5-shot vs maml: mtl_maml"),
    (_drop("t2/fewshot.csv", "mtl_reptile", "5-way 15-shot"), 2, "not run or not judged yet: 5-way 15-shot mtl_reptile"),
    (_drop("t2/fewshot-pairs.csv", None), 2, "5-way 1-shot vs reptile: mtl_reptile"),
    (_drop("t1/v1-by-v3-plan-pairs.csv", "maml", FIVE), 3, f"v1 {FIVE} maml vs baseline_pp"),  # a stale v1 file
    (_drop("t1/v1-by-v3-plan-pairs.csv", None), 3, f"v1 {ONE} protonet vs baseline_pp"),
    (_short_seeds("t1/fewshot.csv", "transfer", FIVE), 3, None),
])
def test_a_short_or_missing_row_or_comparison_leaves_its_question_unanswered(tmp_path, edit, section, says):
    if says is None:  # the baseline's own row: its seeds, not its (empty) pairing, count
        edit = _drop_n("t1/fewshot.csv", "transfer", FIVE)
        says = f"4 of 5 seeds: {FIVE} transfer"
    parts = _sections(_write(tmp_path, edit))
    part = parts[section] if section < 2 else parts[section]
    if section == 0:  # the 1-shot question; the 5-shot one is answered unless its own rows are short
        assert "Not answered yet" in part and says in part and "Yes" not in part and "Not shown" not in part
    else:
        assert "Not answered yet" in part and says in part and "beats both" not in part and "changed" not in part


def test_a_setting_answered_while_the_other_is_short_is_provisional(tmp_path):
    """Holm's family spans both settings: 1-shot is answered, but labelled provisional with what 5-shot still lacks,
    while a 5-shot comparison is at 4 seeds; at 5 seeds everywhere no answer is provisional."""
    one, five, _, _ = _sections(_write(tmp_path, _short_seeds("t1/fewshot-pairs.csv", "maml", FIVE)))
    assert "*Provisional*: Holm's family is the whole table (44 comparisons, both settings), and 1 of its rows" in one
    assert f"(4 of 5 seeds: {FIVE} vs baseline_pp: maml)" in one and "**Yes, for maml**" in one
    assert "Not answered yet" in five and "Provisional" not in five
    assert "Provisional" not in _write(tmp_path)


def _drop_n(target, algorithm, setting):
    def edit(name, frame):
        if name == target:
            frame.loc[(frame.algorithm == algorithm) & (frame.setting == setting), "n"] = 4
        return frame
    return edit


def test_two_rows_of_one_setting_and_algorithm_are_refused(tmp_path):
    def twice(name, frame):
        return pd.concat([frame, frame.iloc[:1]]) if name == "t1/fewshot.csv" else frame
    with pytest.raises(SystemExit, match="several rows per setting, algorithm"):
        _write(tmp_path, twice)


def test_the_committed_answers_page_is_what_the_committed_tables_give(tmp_path):
    lb = ROOT / "leaderboards"
    page = answers.write(tmp_path / "answers.md", lb / "omniglot-alphabets", lb / "omniglot-mtl").read_text()
    assert page == (lb / "omniglot-answers.md").read_text(), "rerun: python scripts/omniglot_answers.py"


def test_the_committed_v1_v3_pages_are_what_v1s_raw_results_and_the_v3_table_give(tmp_path):
    """scripts/protocol_sides.py: v1's raw results judged by v3's plan (its planned pairs, so the same Holm family),
    and the side-by-side page, regenerate unchanged; the page names a v1 verdict that v1's own table differs on."""
    spec = importlib.util.spec_from_file_location("protocol_sides", ROOT / "scripts" / "protocol_sides.py")
    sides = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sides)
    sides.main(tmp_path)
    v3 = ROOT / "leaderboards" / "omniglot-alphabets"
    for name in ("v1-by-v3-plan.csv", "v1-by-v3-plan-pairs.csv"):
        pd.testing.assert_frame_equal(pd.read_csv(tmp_path / name), pd.read_csv(v3 / name))
    page = (tmp_path / "v1-vs-v3.md").read_text()
    assert page == (v3 / "v1-vs-v3.md").read_text(), "rerun: python scripts/protocol_sides.py"
    plan = pd.read_csv(tmp_path / "v1-by-v3-plan-pairs.csv")
    planned = pd.read_csv(v3 / "fewshot-pairs.csv")
    assert set(zip(plan.algorithm, plan.versus)) == set(zip(planned.algorithm, planned.versus))
