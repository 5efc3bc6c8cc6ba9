"""The Omniglot table's verdicts under the earlier protocol and the current one, side by side for each row (issue 28):
what each row concluded under protocol v1 (the dated folder, kept as it was) and under v3, and which of the
protocol's changes touch that row (`python -m benchmark list --protocol omniglot-alphabets --suite fewshot`; the
history is the suite's ``protocol_history``). Rebuilt from the two tables' CSVs, themselves regenerated from raw
results by `leaderboard --from`:

Against Baseline++ too: v3 plans every meta-learner's comparison with Baseline++ (`--compare`, in the table's
Holm family; scripts/table1_pieces.sh); v1 asked it only afterwards, as an exploratory re-test. Here v1's raw results
are judged by v3's plan (the same pairs, in the same kind of family), so the two sides differ by protocol alone; those
v1 comparisons are kept in v1-vs-v3-pairs.csv for scripts/omniglot_answers.py.

    python scripts/protocol_sides.py   # -> leaderboards/omniglot-alphabets/v1-vs-v3.md, v1-vs-v3-pairs.csv
"""
import math
import os
import sys
import tempfile
from pathlib import Path

import pandas as pd

os.chdir(Path(__file__).resolve().parents[1])
V1 = Path("leaderboards/omniglot-alphabets/2026-12-01-protocol-v1")
V3 = Path("leaderboards/omniglot-alphabets")
OUT = V3 / "v1-vs-v3.md"
V1_PAIRS = V3 / "v1-vs-v3-pairs.csv"  # v1's raw results judged with v3's planned comparisons

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


def _changes(algorithm: str, setting: str) -> str:
    own = [c for c in CHANGES.get(algorithm, []) if all(c.startswith(k) <= (setting == v) for k, v in ONLY_AT.items())]
    return "; ".join(own) or "-"


def _side(r) -> str:
    if r is None:
        return "- | - | - | -"
    diff = "-" if math.isnan(r["diff"]) else f"{r['diff']:+.2f}" + (
        "" if math.isnan(r.diff_lo) else f" [{r.diff_lo:+.2f}, {r.diff_hi:+.2f}]")
    return f"{int(r.n)} | {r['mean']:.2f} | {diff} | {r.verdict}" + (f" ({r.plateau} plateaued)" if r.plateau != "-" else "")


def _changed(a, b) -> str:
    if a is None or b is None:
        return "-"
    if b.verdict.startswith("too few seeds"):
        return "not yet (v3 has too few seeds)"
    return "no" if a.verdict == b.verdict else f"**{a.verdict} -> {b.verdict}**"


def _v1_planned(v3_pairs: pd.DataFrame) -> pd.DataFrame:
    """v1's raw results judged with v3's planned comparisons (its fewshot-pairs.csv), written to V1_PAIRS."""
    from benchmark.report.leaderboard import build
    pairs = tuple(dict.fromkeys(zip(v3_pairs.algorithm, v3_pairs.versus)))
    with tempfile.TemporaryDirectory() as tmp:
        build(V1, "fewshot", tmp, pairs=pairs)
        planned = pd.read_csv(Path(tmp) / "fewshot-pairs.csv")
    planned.to_csv(V1_PAIRS, index=False)
    return planned


def _sides(lines: list[str], setting: str, v1: pd.DataFrame, v3: pd.DataFrame, changes: bool) -> None:
    a1 = {r.algorithm: r for _, r in v1[v1.setting == setting].iterrows()}
    a3 = {r.algorithm: r for _, r in v3[v3.setting == setting].iterrows()}
    lines += ["| algorithm | v1 n | v1 mean % | v1 diff [95% CI] | v1 verdict | v3 n | v3 mean % | v3 diff [95% CI] | "
              "v3 verdict | verdict changed |" + (" what else changed for this row |" if changes else ""),
              "|" + "---|" * (11 if changes else 10)]
    order = sorted(set(a1) | set(a3), key=lambda x: -(a3[x]["mean"] if x in a3 else a1[x]["mean"]))
    for algo in order:
        r1, r3 = a1.get(algo), a3.get(algo)
        lines.append(f"| {algo} | {_side(r1)} | {_side(r3)} | {_changed(r1, r3)} |" +
                     (f" {_changes(algo, setting)} |" if changes else ""))
    lines.append("")


def main() -> None:
    v1, v3 = pd.read_csv(V1 / "fewshot.csv"), pd.read_csv(V3 / "fewshot.csv")
    p3 = pd.read_csv(V3 / "fewshot-pairs.csv")
    p1 = _v1_planned(p3)
    lines = ["# Omniglot, held-out alphabets: protocol v1 and v3 side by side", "",
             "Generated by `python scripts/protocol_sides.py` from `2026-12-01-protocol-v1/fewshot.csv` and "
             "`fewshot.csv` (each regenerated from its raw results by `leaderboard --from`); do not edit by hand.", "",
             "Each side: seeds, mean %, the difference to `transfer` with its 95% interval, and the verdict (Holm over "
             "its table; plateau: seeds whose validation curve met the criterion). Every v3 row was " + EVERY +
             "; v1 rows stopped at a fixed budget with their final weights. The last columns name what else changed.",
             "", "Against Baseline++: each meta-learner's planned comparison (v3's `--compare`, in its table's Holm "
             "family); v1's raw results judged by the same plan (its own table's family grown by the same pairs; "
             "protocol v1 itself asked this only after its table, as an exploratory re-test). Mean %: the "
             "meta-learner's.", ""]
    for setting in sorted(set(v1.setting) | set(v3.setting)):
        lines += [f"## {setting}", "", "Against transfer:", ""]
        _sides(lines, setting, v1, v3, changes=True)
        lines += ["Against Baseline++ (planned):", ""]
        _sides(lines, setting, p1, p3, changes=False)
    OUT.write_text("\n".join(lines))
    print(f"{OUT}")


if __name__ == "__main__":
    sys.path.insert(0, os.getcwd())
    main()
