"""The batch-norm sensitivity table read against Table 1 (issue 28, plan step 5): each algorithm's accuracy in the
inductive mode (every test episode normalised by the running statistics collected in training) minus its accuracy in
Table 1's transductive mode (the support set and the queries normalised as separate batches), paired by seed over the
same fixed test episodes. Each seed was trained once per mode from the same initialisation and data order; the modes
differ at every validation (so in which checkpoint is kept and when the plateau rule stops) and at test. A run that
diverged in one mode has no accuracy to pair; it is listed with its reason instead.

    python scripts/bn_sensitivity.py   # -> leaderboards/omniglot-alphabets/bn-inductive/paired.md
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd

TABLE1 = Path("leaderboards/omniglot-alphabets")
SENSITIVITY = TABLE1 / "bn-inductive"


def _finished(runs: pd.DataFrame, episodes: pd.DataFrame, setting: str, algorithm: str, seeds: list[int]):
    """seeds x episodes accuracies of one cell's runs at ``seeds`` (in that order) and their fingerprint: the runs the
    tables count (``raw.finished``: FINISHED, the newest per configuration and per cell)."""
    from benchmark.report import raw

    runs = raw.finished(runs)[0]
    r = runs[(runs.setting == setting) & (runs.algorithm == algorithm) & runs.seed.isin(seeds)]
    if r.seed.duplicated().any() or sorted(r.seed) != sorted(seeds):
        raise SystemExit(f"{setting} {algorithm}: expected one finished run at each of seeds {seeds}, found {sorted(r.seed)}")
    r = r.set_index("seed").loc[seeds]
    e = episodes[episodes.run_id.isin(r.run_id)].pivot(index="run_id", columns="episode", values="acc")
    return e.loc[r.run_id].to_numpy(), set(r.episodes_fingerprint)


def pairs(table1: Path = TABLE1, other: Path = SENSITIVITY) -> tuple[pd.DataFrame, list[str]]:
    """One row per setting and algorithm of ``other`` with finished runs: the paired comparison with ``table1`` at the
    seeds ``other`` has (Holm over the rows); and one line per algorithm and setting whose runs all failed."""
    from benchmark.report import raw, stats

    (rt, et), (ro, eo) = raw.read(table1, "fewshot"), raw.read(other, "fewshot")
    rows, failed = [], []
    for (setting, algorithm), g in ro.sort_values("start_time").groupby(["setting", "algorithm"], sort=True):
        seeds = sorted(int(s) for s in g[g.status == "FINISHED"].seed.unique())
        lost = sorted(int(s) for s in set(g[g.status == "FAILED"].seed) - set(seeds))
        if lost:
            t1 = raw.finished(rt)[0]
            t1 = t1[(t1.setting == setting) & (t1.algorithm == algorithm) & t1.seed.isin(lost)]
            failed.append(f"- {setting}, {algorithm}: FAILED in the inductive mode at seed(s) {', '.join(map(str, lost))} "
                          f"(transductive at those seeds: {t1.acc.mean():.2f}%); the first reason: "
                          f"{g[g.seed == lost[0]].error.iloc[-1]}")
        if not seeds:
            continue
        a, fa = _finished(ro, eo, setting, algorithm, seeds)
        b, fb = _finished(rt, et, setting, algorithm, seeds)
        if fa != fb or len(fa) != 1:
            raise SystemExit(f"{setting} {algorithm}: the two modes' runs were not scored on the same test episodes")
        two, t = stats.two_level(a, b), stats.paired(a.mean(1), b.mean(1))
        rows.append({"setting": setting, "algorithm": algorithm, "seeds": " ".join(map(str, seeds)),
                     "n": len(seeds), "transductive": b.mean(), "inductive": a.mean(), "diff": two.diff,
                     "diff_lo": two.lo, "diff_hi": two.hi, "p": two.p, "t_lo": t.lo, "t_hi": t.hi, "_c": two})
    df = pd.DataFrame(rows)
    if len(df):  # a cell with fewer seeds than a test needs is not in Holm's family
        df["p_holm"] = stats.holm([p if n >= stats.MIN_SEEDS else np.nan for p, n in zip(df.p, df.n)])
        df["verdict"] = [stats.verdict(c, p) for c, p in zip(df._c, df.p_holm)]
        df = df.drop(columns="_c")
    return df, failed


def _reading(df: pd.DataFrame) -> str:
    """One factual sentence over the cells: how many are lower in the inductive mode, by how much, how many shown."""
    if df.empty:
        return "No cell has finished runs in both modes yet."
    low, shown = int((df["diff"] < 0).sum()), int((df.verdict == "worse").sum())
    return (f"The inductive mode is lower in {low} of {len(df)} cells (mean differences {df['diff'].min():+.2f} to "
            f"{df['diff'].max():+.2f} pp, mean {df['diff'].mean():+.2f} pp); {shown} of them are `worse` after Holm over "
            f"the {int(df.p_holm.notna().sum())} tested comparisons, and {int((df.verdict == 'better').sum())} `better`.")


def write(table1: Path = TABLE1, other: Path = SENSITIVITY) -> Path:
    df, failed = pairs(table1, other)
    lines = ["# Batch norm at test: inductive vs transductive, paired by seed", "",
             f"Generated by `python scripts/bn_sensitivity.py` from the raw results in `{table1}` (Table 1, transductive) "
             f"and `{other}` (the sensitivity table, inductive); do not edit by hand.", "",
             "Each seed was trained once in each mode from the same initialisation and data order and tested on the "
             "same fixed episodes; the modes differ at every validation (the kept checkpoint, the plateau stop) and at "
             "test. diff = inductive - transductive in pp at the seeds the sensitivity table has; 95% intervals: the "
             "tables' two-level closed form (new seeds and new episodes), and t over the seeds' differences; p (Holm): "
             "the two-level p, Holm-adjusted over this page's comparisons at 3 or more seeds; with fewer, nothing is tested.",
             "", _reading(df), "",
             "| setting | algorithm | seeds | transductive % | inductive % | diff [two-level 95% CI] | p (Holm) | verdict "
             "| diff [t 95% CI] |", "|---|---|---|---|---|---|---|---|---|"]
    for _, r in df.iterrows():
        ci = "" if np.isnan(r.diff_lo) else f" [{r.diff_lo:+.2f}, {r.diff_hi:+.2f}]"
        t = "-" if np.isnan(r.t_lo) else f"[{r.t_lo:+.2f}, {r.t_hi:+.2f}]"
        p = "-" if np.isnan(r.p_holm) else f"{r.p_holm:.3g}"
        lines.append(f"| {r.setting} | {r.algorithm} | {r.seeds} | {r.transductive:.2f} | {r.inductive:.2f} | "
                     f"{r['diff']:+.2f}{ci} | {p} | {r.verdict} | {t} |")
    if failed:
        lines += ["", "Not paired (no accuracy in the inductive mode):", ""] + failed
    out = other / "paired.md"
    out.write_text("\n".join(lines) + "\n")
    return out


if __name__ == "__main__":
    os.chdir(Path(__file__).resolve().parents[1])
    sys.path.insert(0, os.getcwd())
    print(write())
