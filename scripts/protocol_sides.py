"""The Omniglot table's verdicts under the earlier protocol and the current one, side by side for each row (issue 28):
what each row concluded under protocol v1 (the dated folder, kept as it was) and under v3, and which of the
protocol's changes touch that row (`python -m benchmark list --protocol omniglot-alphabets --suite fewshot`; the
history is the suite's ``protocol_history``). Rebuilt from the two tables' CSVs, themselves regenerated from raw
results by `leaderboard --from`:

Against Baseline++ too: v3 plans every meta-learner's comparison with Baseline++ (`--compare`, in the table's
Holm family; scripts/table1_pieces.sh); v1 asked it only afterwards, as an exploratory re-test. Here v1's raw results
are judged by v3's plan: the same pairs, so the same size of Holm family (44, not v1's own 26), which alone can move
a verdict (a cell says so where v1's own table differs); the sides then differ by protocol and data, not by analysis.
v1 so judged is kept in v1-by-v3-plan.csv and v1-by-v3-plan-pairs.csv for scripts/omniglot_answers.py.

    python scripts/protocol_sides.py   # -> leaderboards/omniglot-alphabets/v1-vs-v3.md, v1-by-v3-plan*.csv
"""
import math
import sys
import tempfile
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
V1 = ROOT / "leaderboards/omniglot-alphabets/2026-12-01-protocol-v1"
V3 = ROOT / "leaderboards/omniglot-alphabets"
OUT, V1_PLAN = "v1-vs-v3.md", "v1-by-v3-plan"  # in V3; V1_PLAN: v1's raw results judged by v3's plan (.csv, -pairs.csv)

EVERY = "trained to its validation plateau (6,000-10,000 meta-iterations) and tested with its best-validation weights"
TRANSFER = "pre-trained one task's images per forward pass (v1, v2: the whole meta-batch as one batch)"
# The changes from v1 to v3 that touch each algorithm (the suite's protocol_history; issues 26 and 27)
CHANGES = {
    "protonet": ["support set and queries normalised apart (v1: together)"],
    "matching_net": ["support set and queries normalised apart (v1: together)"],
    "baseline_pp": ["Chen et al.'s fixed scale and test head (v1: a learned scale, a full-batch head from the support sums)",
                    TRANSFER],
    "metasgd": ["Li et al.'s one adaptation step with the learned rates (v1: MAML's steps)"],
    "reptile": ["at 5 shots, its 5-shot command (v1: the 1-shot command)"],
    "mtl_maml": ["its parent's meta step (scaled by 1/beta) and the transfer baseline's Adam supervised step (v1: half the step, plain SGD)", TRANSFER],
    "mtl_reptile": ["its parent's meta step (scaled by 1/beta) and the transfer baseline's Adam supervised step (v1: half the step, plain SGD)", TRANSFER],
    "transfer": [TRANSFER], "linear_probe": [TRANSFER], "nearest_neighbour": [TRANSFER],
}
ONLY_AT = {"at 5 shots": "5-way 5-shot"}  # changes that touch one setting's rows


def _changes(algorithm: str, setting: str, versus: str = "") -> str:
    """What changed from v1 to v3 for a row (and, for a comparison with another algorithm, for that one too)."""
    own = [c for a in dict.fromkeys([algorithm] + [versus] * bool(versus)) for c in CHANGES.get(a, [])
           if all(c.startswith(k) <= (setting == v) for k, v in ONLY_AT.items())]
    return "; ".join(dict.fromkeys(own)) or "-"


def _side(r, own=None) -> str:
    """One side's cells; ``own``: the row in v1's own table, named where its verdict differs (a smaller family)."""
    if r is None:
        return "- | - | - | -"
    diff = "-" if math.isnan(r["diff"]) else f"{r['diff']:+.2f}" + (
        "" if math.isnan(r.diff_lo) else f" [{r.diff_lo:+.2f}, {r.diff_hi:+.2f}]")
    verdict = r.verdict + (f" (own table: {own.verdict})" if own is not None and own.verdict != r.verdict else "")
    return f"{int(r.n)} | {r['mean']:.2f} | {diff} | {verdict}" + (f" ({r.plateau} plateaued)" if r.plateau != "-" else "")


def _changed(a, b) -> str:
    if a is None or b is None:
        return "-"
    if b.verdict.startswith("too few seeds"):
        return "not yet (v3 has too few seeds)"
    return "no" if a.verdict == b.verdict else f"**{a.verdict} -> {b.verdict}**"


def _v1_planned(v3_pairs: pd.DataFrame, out: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """v1's raw results judged with v3's planned comparisons (its fewshot-pairs.csv): the table and its pairs,
    written beside v3's table (V1_PLAN)."""
    from benchmark.report.leaderboard import build
    pairs = tuple(dict.fromkeys(zip(v3_pairs.algorithm, v3_pairs.versus)))
    with tempfile.TemporaryDirectory() as tmp:
        build(V1, "fewshot", tmp, pairs=pairs)
        table, planned = pd.read_csv(Path(tmp) / "fewshot.csv"), pd.read_csv(Path(tmp) / "fewshot-pairs.csv")
    table.to_csv(out / f"{V1_PLAN}.csv", index=False)
    planned.to_csv(out / f"{V1_PLAN}-pairs.csv", index=False)
    return table, planned


def _sides(lines: list[str], setting: str, v1: pd.DataFrame, v3: pd.DataFrame, own: pd.DataFrame) -> None:
    a1, a3, ao = ({r.algorithm: r for _, r in t[t.setting == setting].iterrows()} for t in (v1, v3, own))
    lines += ["| algorithm | v1 n | v1 mean % | v1 diff [95% CI] | v1 verdict | v3 n | v3 mean % | v3 diff [95% CI] | "
              "v3 verdict | verdict changed | what else changed for this row |", "|" + "---|" * 11]
    order = sorted(set(a1) | set(a3), key=lambda x: -(a3[x]["mean"] if x in a3 else a1[x]["mean"]))
    for algo in order:
        r1, r3 = a1.get(algo), a3.get(algo)
        versus = (r1 if r1 is not None else r3).get("versus", "")
        lines.append(f"| {algo} | {_side(r1, ao.get(algo))} | {_side(r3)} | {_changed(r1, r3)} | "
                     f"{_changes(algo, setting, versus if isinstance(versus, str) else '')} |")
    lines.append("")


def main(out: Path = V3) -> Path:
    """Writes v1-vs-v3.md and v1 judged by v3's plan into ``out`` (default: beside v3's table)."""
    own, v3 = pd.read_csv(V1 / "fewshot.csv"), pd.read_csv(V3 / "fewshot.csv")
    p3 = pd.read_csv(V3 / "fewshot-pairs.csv")
    v1, p1 = _v1_planned(p3, out)
    lines = ["# Omniglot, held-out alphabets: protocol v1 and v3 side by side", "",
             "Generated by `python scripts/protocol_sides.py` from `2026-12-01-protocol-v1/fewshot.csv` and "
             "`fewshot.csv` (each regenerated from its raw results by `leaderboard --from`); do not edit by hand.", "",
             "Each side: seeds, mean %, the difference to `transfer` with its 95% interval, and the verdict (Holm over "
             "its table; plateau: seeds whose validation curve met the criterion). Every v3 row was " + EVERY +
             "; v1 rows stopped at a fixed budget with their final weights. The last columns name what else changed.",
             "", "Against Baseline++: each meta-learner's planned comparison (v3's `--compare`, in its table's Holm "
             "family); protocol v1 asked this only after its table, as an exploratory re-test. Both sections judge v1's raw "
             "results by v3's plan (the same pairs, so the same Holm family of 44 comparisons, not v1's own 26): a v1 "
             "verdict that differs in v1's own table says so in brackets. Mean %: the meta-learner's.", ""]
    for setting in sorted(set(v1.setting) | set(v3.setting)):
        lines += [f"## {setting}", "", "Against transfer:", ""]
        _sides(lines, setting, v1, v3, own)
        lines += ["Against Baseline++ (planned; what changed: for the meta-learner and for Baseline++):", ""]
        _sides(lines, setting, p1, p3, own.iloc[:0])
    (out / OUT).write_text("\n".join(lines))
    return out / OUT


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    print(main().relative_to(ROOT))
