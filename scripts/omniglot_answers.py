"""The Omniglot reruns' answers (issue 28) in plain words, written from the committed tables' CSVs (themselves
regenerated from raw results by `leaderboard --from`), so every number in an answer is recomputed with the tables:

  1. At convergence and under one fair protocol, do meta-learners beat the simple baselines on held-out alphabets,
     at 1-shot and at 5-shot? (Table 1: each meta-learner against transfer, the table's baseline, and against
     Baseline++, its planned comparison; scripts/table1_pieces.sh)
  2. Does MTL beat both transfer and its own meta-learner as ways and shots grow, as seed 003 claims? (Table 2)
  3. Where does the answer differ from protocol v1's table? (each row's two verdicts: omniglot-alphabets/v1-vs-v3.md)

A question is answered only when every row it needs has 5 seeds; until then the page says which rows are short.

    python scripts/omniglot_answers.py   # -> leaderboards/omniglot-answers.md
"""
import math
import os
import sys
from pathlib import Path

import pandas as pd

SEEDS = 5  # the issue's seeds per row; no answer from fewer
META = ["protonet", "matching_net", "maml", "fomaml", "metasgd", "anil", "reptile", "mtl_maml", "mtl_reptile"]
SIMPLE = ["transfer", "baseline_pp", "linear_probe", "nearest_neighbour", "finetune"]
PLANNED = "baseline_pp"  # Table 1's planned comparison for every meta-learner
MTL = {"mtl_maml": "maml", "mtl_reptile": "reptile"}
# Table 2's settings for each MTL (the plan in leaderboards/README: only the MAML pair is meta-trained at 20-way)
TABLE2 = {"mtl_maml": [f"{w}-way {k}-shot" for w in (5, 20) for k in (1, 5, 15)],
          "mtl_reptile": [f"5-way {k}-shot" for k in (1, 5, 15)]}
ROOT = Path("leaderboards")
T1, T2, V1 = ROOT / "omniglot-alphabets", ROOT / "omniglot-mtl", ROOT / "omniglot-alphabets/2026-12-01-protocol-v1"


def _read(folder: Path, name: str) -> pd.DataFrame:
    path = folder / name
    return pd.read_csv(path) if path.is_file() else pd.DataFrame(columns=["setting", "algorithm", "versus", "n"])


def _num(r) -> str:
    """A comparison's difference with its 95% interval."""
    return f"{r['diff']:+.2f} pp" + ("" if math.isnan(r.diff_lo) else f" [{r.diff_lo:+.2f}, {r.diff_hi:+.2f}]")


def _diff(r) -> str:
    """A comparison in words: its difference, 95% interval and verdict."""
    return "not measured" if r is None else f"{_num(r)}, {r.verdict}"


def _short(rows: pd.DataFrame, needed: list[str], label: str = "") -> list[tuple[str, int]]:
    """The rows that keep a question open (missing, or at fewer than SEEDS seeds), with their seeds."""
    have = {r.algorithm: int(r.n) for _, r in rows.iterrows()}
    return [(label + a, have.get(a, 0)) for a in needed if have.get(a, 0) < SEEDS]


def _open(short: list[tuple[str, int]]) -> list[str]:
    """Why a question has no answer yet, in one line: the short rows, grouped by their seeds."""
    by: dict[int, list[str]] = {}
    for name, n in dict.fromkeys(short):
        by.setdefault(n, []).append(name)
    parts = [f"{'not run yet' if n == 0 else f'{n} of {SEEDS} seeds'}: {', '.join(names)}" for n, names in sorted(by.items())]
    return [f"Not answered yet: {len(dict.fromkeys(short))} row(s) have fewer than {SEEDS} seeds ({'; '.join(parts)})."]


def _group(rows: pd.DataFrame, names: list[str]) -> str:
    words = {v: [f"{r.algorithm} ({_num(r)})" for _, r in rows[rows.algorithm.isin(names)].iterrows()
                 if r.verdict == v] for v in ("better", "no evidence", "worse")}
    return "; ".join(f"{v}: {', '.join(a)}" for v, a in words.items() if a) or "none"


def _q1_setting(setting: str, t1: pd.DataFrame, pairs: pd.DataFrame) -> list[str]:
    rows, planned = t1[t1.setting == setting], pairs[(pairs.setting == setting) & (pairs.versus == PLANNED)]
    short = _short(rows, META + SIMPLE) + _short(planned, META, f"vs {PLANNED}: ")
    if short:
        return _open(short)
    simple = rows[rows.algorithm.isin(SIMPLE)].sort_values("mean", ascending=False)
    both = sorted(set(rows[(rows.verdict == "better") & rows.algorithm.isin(META)].algorithm)
                  & set(planned[planned.verdict == "better"].algorithm))
    capped = [f"{r.algorithm} ({r.plateau})" for _, r in rows.iterrows()
              if isinstance(r.plateau, str) and "/" in r.plateau and int(r.plateau.split("/")[0]) < SEEDS - 1]
    answer = (f"**Yes, for {', '.join(both)}**: better than both transfer and Baseline++ after Holm." if both else
              "**No**: no meta-learner is better than both transfer and Baseline++ after Holm.")
    strongest = simple.iloc[0]
    lines = [answer, "",
             "- The simple baselines (mean %): " + ", ".join(f"{r.algorithm} {r['mean']:.2f}" for _, r in simple.iterrows())
             + ("" if strongest.algorithm in ("transfer", PLANNED) else
                f" ({strongest.algorithm}, the highest, is compared with transfer only)") + ".",
             f"- Against transfer: {_group(rows, META)}.",
             f"- Against Baseline++ (planned): {_group(planned, META)}.",
             "- Plateau: " + (f"rows that met the criterion in fewer than {SEEDS - 1} of {SEEDS} seeds, so they "
                               f"describe the 10,000-iteration cap: {', '.join(capped)}." if capped else
                               f"every row met the criterion in at least {SEEDS - 1} of {SEEDS} seeds.")]
    return lines


def _q2(t2: pd.DataFrame, pairs: pd.DataFrame) -> list[str]:
    lines = ["| setting | " + " | ".join(f"{m} vs transfer | {m} vs {p}" for m, p in MTL.items()) + " |",
             "|---|" + "---|---|" * len(MTL)]
    open_, both = [], {m: [] for m in MTL}
    for s in dict.fromkeys(x for m in MTL for x in TABLE2[m]):
        cells = []
        for mtl, parent in MTL.items():
            row = t2[(t2.setting == s) & (t2.algorithm == mtl)]
            pair = pairs[(pairs.setting == s) & (pairs.algorithm == mtl) & (pairs.versus == parent)]
            if s not in TABLE2[mtl]:
                cells += ["-", "-"]
                continue
            open_ += _short(t2[t2.setting == s], [mtl, parent, "transfer"], f"{s} ")
            r, q = (row.iloc[0] if len(row) else None), (pair.iloc[0] if len(pair) else None)
            cells += [_diff(r), _diff(q)]
            if r is not None and q is not None and r.verdict == q.verdict == "better":
                both[mtl].append(s)
        lines.append(f"| {s} | " + " | ".join(cells) + " |")
    if open_:
        return _open(open_)
    words = [f"{m} beats both transfer and {p} in " + (", ".join(both[m]) if both[m] else "no setting") for m, p in MTL.items()]
    return ["**" + "; ".join(words) + "** (Holm over Table 2's family).", ""] + lines


def _changes(v1: pd.DataFrame, v3: pd.DataFrame, against: str) -> tuple[list[str], list[tuple[str, int]]]:
    """The rows whose verdict differs between v1 and v3, and the v3 rows still short of SEEDS seeds."""
    lines, open_ = [], []
    for _, r1 in v1[v1.verdict != "baseline"].sort_values(["setting", "algorithm"]).iterrows():
        r3 = v3[(v3.setting == r1.setting) & (v3.algorithm == r1.algorithm)]
        if r3.empty or r3.iloc[0].n < SEEDS:
            open_.append((f"{r1.setting} {r1.algorithm}" + (f" vs {against}" if against != "transfer" else ""),
                          0 if r3.empty else int(r3.iloc[0].n)))
        elif r1.verdict != r3.iloc[0].verdict:
            lines.append(f"- {r1.setting}, {r1.algorithm} against {against}: {r1.verdict} -> {r3.iloc[0].verdict} "
                         f"(v1 {r1['diff']:+.2f} pp, v3 {r3.iloc[0]['diff']:+.2f} pp)")
    return lines, open_


def _beats_both(rows: pd.DataFrame, planned: pd.DataFrame, setting: str) -> list[str]:
    better = rows[(rows.setting == setting) & (rows.verdict == "better") & rows.algorithm.isin(META)]
    return sorted(set(better.algorithm) & set(planned[(planned.setting == setting) & (planned.verdict == "better")].algorithm))


def _q3(v1: pd.DataFrame, t1: pd.DataFrame, p1: pd.DataFrame, p3: pd.DataFrame) -> list[str]:
    transfer, open_t = _changes(v1, t1, "transfer")
    planned, open_p = _changes(p1, p3, PLANNED)
    if open_t or open_p:
        return _open(open_t + open_p)
    both = [f"- {s}: v1 {', '.join(_beats_both(v1, p1, s)) or 'none'}; v3 {', '.join(_beats_both(t1, p3, s)) or 'none'}"
            for s in ("5-way 1-shot", "5-way 5-shot")]
    return (["The meta-learners that beat both transfer and Baseline++ (v1's raw results judged by v3's plan):", ""]
            + both + ["", f"{len(transfer) + len(planned)} verdict(s) changed (why: each row's changes in "
                      "`omniglot-alphabets/v1-vs-v3.md`):", ""] + (transfer + planned or ["- none"]))


def write(out: Path = ROOT / "omniglot-answers.md", t1_dir: Path = T1, t2_dir: Path = T2, v1_dir: Path = V1) -> Path:
    t1, t2 = _read(t1_dir, "fewshot.csv"), _read(t2_dir, "fewshot.csv")
    lines = ["# Omniglot, held-out alphabets: the answers (issue 28)", "",
             "Generated by `python scripts/omniglot_answers.py` from `omniglot-alphabets/fewshot.csv` and "
             "`fewshot-pairs.csv` (Table 1), `omniglot-mtl/fewshot.csv` and `fewshot-pairs.csv` (Table 2) and "
             "`omniglot-alphabets/2026-12-01-protocol-v1/fewshot.csv` with "
             "`omniglot-alphabets/v1-vs-v3-pairs.csv` (v1 judged by v3's planned comparisons, "
             "`scripts/protocol_sides.py`); do not edit by hand. A question is answered "
             f"only when every row it needs has {SEEDS} seeds. Verdicts: the tables' (Holm over each table's family).", "",
             "## 1. At convergence, under one fair protocol, do meta-learners beat the simple baselines?", ""]
    for setting in ("5-way 1-shot", "5-way 5-shot"):
        lines += [f"### {setting}", ""] + _q1_setting(setting, t1, _read(t1_dir, "fewshot-pairs.csv")) + [""]
    lines += ["## 2. Does MTL beat both transfer and its meta-learner as ways and shots grow?", ""]
    lines += _q2(t2, _read(t2_dir, "fewshot-pairs.csv")) + [""]
    lines += ["## 3. Where the verdicts differ from protocol v1's table", ""] + _q3(_read(v1_dir, "fewshot.csv"), t1, _read(t1_dir, "v1-vs-v3-pairs.csv"),
                                                        _read(t1_dir, "fewshot-pairs.csv")) + [""]
    out.write_text("\n".join(lines))
    return out


if __name__ == "__main__":
    os.chdir(Path(__file__).resolve().parents[1])
    sys.path.insert(0, os.getcwd())
    print(write())
