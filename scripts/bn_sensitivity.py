"""The batch-norm sensitivity table read against Table 1 (issue 28, plan step 5): each algorithm's accuracy in the
inductive mode (every test episode normalised by the running statistics collected in training) minus its accuracy in
Table 1's transductive mode (the support set and the queries normalised as separate batches), paired by seed over the
same fixed test episodes. Each seed was trained once per mode; the modes differ at every validation (so in which
checkpoint is kept and when the plateau rule stops) and at test, and where the hardware column says so the two runs
also ran on different CPUs, whose float reduction order alone changes a trajectory. `cpu-control/` beside the
sensitivity table, where present, holds Table 1's transductive runs again at the same seeds on the inductive runs' CPU:
it separates the two (transductive there minus Table 1: the CPU alone; inductive minus it: the mode on one CPU).
A cell that diverged has no accuracy to pair; it is listed with its reasons instead.

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
CONTROL = SENSITIVITY / "cpu-control"


def _load(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, str]:
    """A folder's counted runs (``raw.finished``: FINISHED with a test result, the newest per configuration and cell),
    its diverged cells, its episodes, and its one batch-norm mode."""
    from benchmark.report import raw

    runs, episodes = raw.read(folder, "fewshot")
    modes = sorted(set(runs.bn_eval))
    if len(modes) != 1:
        raise SystemExit(f"{folder}: runs of {len(modes)} batch-norm modes ({', '.join(modes)}); keep one mode per folder")
    return raw.finished(runs)[0], raw.diverged(runs), episodes, modes[0]


def _matrix(runs: pd.DataFrame, episodes: pd.DataFrame, seeds: list[int]) -> np.ndarray:
    """seeds x episodes accuracies of one cell's runs, rows in the order of ``seeds``."""
    e = episodes[episodes.run_id.isin(runs.run_id)].pivot(index="run_id", columns="episode", values="acc")
    m = e.loc[runs.set_index("seed").loc[seeds].run_id].to_numpy()
    if np.isnan(m).any() or m.shape[1] == 0:
        raise SystemExit(f"{runs.setting.iloc[0]} {runs.algorithm.iloc[0]}: a run's test episodes are missing")
    return m


def _cpu(runs: pd.DataFrame) -> str:
    return " + ".join(sorted({str(h).split(",")[0].replace("(R)", "").replace(" Processor", "") for h in runs.hardware}))


def _row(setting: str, algorithm: str, base: tuple, other: tuple):
    """The paired comparison of one cell (other - base) at the seeds both have, or None when they share no seed."""
    from benchmark.report import stats

    b, o = (x[0][(x[0].setting == setting) & (x[0].algorithm == algorithm)] for x in (base, other))
    seeds = sorted(set(b.seed) & set(o.seed))
    if not seeds:
        return None
    b, o = b[b.seed.isin(seeds)], o[o.seed.isin(seeds)]
    if set(b.episodes_fingerprint) != set(o.episodes_fingerprint) or len(set(b.episodes_fingerprint)) != 1:
        raise SystemExit(f"{setting} {algorithm}: the two folders' runs were not scored on the same test episodes")
    mb, mo = _matrix(b, base[2], seeds), _matrix(o, other[2], seeds)
    two, t = stats.two_level(mo, mb), stats.paired(mo.mean(1), mb.mean(1))
    return {"setting": setting, "algorithm": algorithm, "seeds": " ".join(map(str, seeds)), "n": len(seeds),
            "base": mb.mean(), "other": mo.mean(), "cpus": f"{_cpu(b)} / {_cpu(o)}", "diff": two.diff,
            "diff_lo": two.lo, "diff_hi": two.hi, "p": two.p, "t_lo": t.lo, "t_hi": t.hi, "_c": two}


def _diverged(base: tuple, other: tuple) -> list[str]:
    """One line per setting and algorithm whose cells diverged in ``other``: its seeds, the base's accuracy at them,
    and the distinct reasons with their seeds."""
    lines = []
    for (setting, algorithm), g in other[1].groupby(["setting", "algorithm"], sort=True):
        seeds = sorted(int(s) for s in g.seed)
        b = base[0][(base[0].setting == setting) & (base[0].algorithm == algorithm) & base[0].seed.isin(seeds)]
        at = f"{b.acc.mean():.2f}% at seed(s) {' '.join(map(str, sorted(b.seed)))}" if len(b) else "none"
        why = "; ".join(f"seed(s) {' '.join(str(s) for s in sorted(r.seed))}: {e}" for e, r in g.groupby("error", sort=False))
        lines.append(f"- {setting}, {algorithm}: diverged in the {other[3]} mode at seed(s) {', '.join(map(str, seeds))} "
                     f"({base[3]} there: {at}). {why}")
    return lines


def pairs(base_folder: Path, other_folder: Path) -> tuple[pd.DataFrame, list[str]]:
    """One row per setting and algorithm with counted runs in both folders: other - base at the seeds both have, Holm
    over the rows with at least 3 seeds (the others are not tested); and the lines of ``other``'s diverged cells."""
    from benchmark.report import stats

    base, other = _load(base_folder), _load(other_folder)
    cells = sorted(set(map(tuple, other[0][["setting", "algorithm"]].values)))
    df = pd.DataFrame([r for s, a in cells if (r := _row(s, a, base, other)) is not None])
    if len(df):
        df["p_holm"] = stats.holm([p if n >= stats.MIN_SEEDS else np.nan for p, n in zip(df.p, df.n)])
        df["verdict"] = [stats.verdict(c, p) for c, p in zip(df._c, df.p_holm)]
        level = stats.ALPHA / max(1, int(df.p_holm.notna().sum()))  # Holm's strictest step, as the tables' column
        df["detectable"] = [stats.detectable(c.spread, c.n, alpha=level) if n >= stats.MIN_SEEDS else np.nan
                            for c, n in zip(df._c, df.n)]
        df = df.drop(columns="_c")
    return df, _diverged(base, other)


def _reading(df: pd.DataFrame, diverged: list[str], what: str) -> str:
    """One factual sentence over the cells."""
    if df.empty:
        return "No cell has counted runs in both folders yet."
    tested = int(df.p_holm.notna().sum())
    verdicts = (f"after Holm over the {tested} cells with at least 3 seeds, {int((df.verdict == 'worse').sum())} `worse`, "
                f"{int((df.verdict == 'better').sum())} `better`" if tested else "no cell has 3 seeds yet, so none is tested")
    return (f"{what} is lower in {int((df['diff'] < 0).sum())} of the {len(df)} cells with runs in both (differences "
            f"{df['diff'].min():+.2f} to {df['diff'].max():+.2f} pp); {verdicts}"
            + (f"; {len(diverged)} cell(s) diverged there and have no accuracy (below)." if diverged else "."))


def _table(df: pd.DataFrame, base: str, other: str) -> list[str]:
    lines = [f"| setting | algorithm | seeds | CPU ({base} / {other}) | {base} % (same seeds) | {other} % | diff "
             "[two-level 95% CI] | p (Holm) | verdict | detectable | diff [t 95% CI] |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for _, r in df.iterrows():
        ci = "" if np.isnan(r.diff_lo) else f" [{r.diff_lo:+.2f}, {r.diff_hi:+.2f}]"
        t = "-" if np.isnan(r.t_lo) else f"[{r.t_lo:+.2f}, {r.t_hi:+.2f}]"
        p = "-" if np.isnan(r.p_holm) else f"{r.p_holm:.3g}"
        lines.append(f"| {r.setting} | {r.algorithm} | {r.seeds} | {r.cpus} | {r.base:.2f} | {r.other:.2f} | "
                     f"{r['diff']:+.2f}{ci} | {p} | {r.verdict} | {'-' if np.isnan(r.detectable) else f'{r.detectable:.2f}'} | {t} |")
    return lines


def _section(title: str, base: Path, other: Path, what: str, labels: tuple[str, str], divergences: bool = True) -> list[str]:
    df, diverged = pairs(base, other)
    diverged = diverged if divergences else []  # listed once, in the section against Table 1
    lines = [f"## {title}", "", _reading(df, diverged, what), ""] + _table(df, *labels)
    return lines + (["", f"Not paired (no accuracy in `{other}`):", ""] + diverged if diverged else []) + [""]


def render(table1: Path = TABLE1, other: Path = SENSITIVITY, control: Path = CONTROL) -> str:
    lines = ["# Batch norm at test: inductive vs transductive, paired by seed", "",
             f"Generated by `python scripts/bn_sensitivity.py` from the raw results in `{table1}` (Table 1, transductive), "
             f"`{other}` (the sensitivity table, inductive) and `{control}` (where present); do not edit by hand.", "",
             "Each row pairs two folders' runs of one cell by seed (each seed's initialisation and data order are the "
             "same in both) over the same fixed test episodes: diff = the second - the first, in pp, at the seeds both "
             "have; the first's accuracy is its mean at those seeds, not its table's. 95% intervals: the tables' "
             "two-level closed form (new seeds and new episodes) and t over the seeds' differences. p (Holm): the "
             "two-level p, Holm-adjusted within each section over its cells with at least 3 seeds (fewer: not "
             "tested). detectable: the smallest true difference detected with 80% power at Holm's strictest step (0.05 / "
             "the section's tested cells), as in the tables. These comparisons were not planned before the runs; read the verdicts as exploratory. The CPU "
             "column names each side's processor: where they differ, the float reduction order differs too, which "
             "alone moves a run (README, `--workers`: 1 against 2 threads moved single runs by 1.2 pp on average at "
             "300 meta-iterations), and the diff is the mode's effect and the CPU's together.", ""]
    lines += _section("Inductive (sensitivity table) - transductive (Table 1)", table1, other, "The inductive mode",
                      ("transductive", "inductive"))
    if (control / "fewshot-runs.csv.gz").is_file():
        lines += _section("The CPU alone: transductive on the inductive runs' CPU - Table 1", table1, control,
                          "The rerun on the other CPU", ("Table 1", "rerun"))
        lines += _section("The mode on one CPU: inductive - transductive rerun", control, other, "The inductive mode",
                          ("transductive", "inductive"), divergences=False)
    return "\n".join(lines)


def write(table1: Path = TABLE1, other: Path = SENSITIVITY, control: Path = CONTROL) -> Path:
    out = other / "paired.md"
    out.write_text(render(table1, other, control))
    return out


if __name__ == "__main__":
    os.chdir(Path(__file__).resolve().parents[1])
    sys.path.insert(0, os.getcwd())
    print(write())
