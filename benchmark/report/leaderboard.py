"""Leaderboards built from the tracked runs, never typed: MLflow -> pandas -> Markdown,
CSV and a plot in ``leaderboards/``.

Only FINISHED runs count (the rest are left out and counted); a configuration run more
than once (``--force``) counts once, its newest run. Rows are grouped by (dataset,
source, model, setting, profile, scale), so reduced-scale runs never share a row with
paper-protocol runs, and two image folders (``imagefolder`` runs, told apart by their
archive or folder name) never share a table. Significance against the baseline:

each suite's ``Style`` says which (``paired_by``): a paired t-test on the seeds' final
test accuracies (a seed fixes the initialisation and the batch order for every
algorithm; Welch's t-test where the seed sets differ), or a paired t-test over the fixed
test episodes (each episode's accuracy averaged over seeds; every algorithm saw the
same episodes). The baseline is the suite's unless ``--baseline`` names another.
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
from scipy import stats

from ..suites import get_suite
from . import references

GROUP = ["dataset", "source", "model", "setting", "profile", "scale"]


def _short_commit(c: str) -> str:
    return c[:12] + ("-dirty" if c.endswith("-dirty") else "")


def _source(tags: dict[str, str]) -> str:
    """The folder or archive name of an ``imagefolder`` run (its data); empty for named datasets."""
    if tags.get("dataset") != "imagefolder":
        return ""
    return Path(tags.get("data.source", "")).name or "?"


def _title(d: dict) -> str:
    data = d["dataset"]
    if d.get("source"):
        paper = d.get("paper_dataset")
        data += f" ({d['source']}" + (f", {paper} images" if paper else "") + ")"
    return f"{data} / {d['model']}" + (f" / {d['setting']}" if d["setting"] else "")


def runs_frame(tracker, suite: str) -> tuple[pd.DataFrame, dict[str, int]]:
    """One row per FINISHED run (newest per configuration) and the counts of the rest."""
    runs = tracker.runs(suite)
    rows, left_out = [], {}
    for r in runs:
        if r.data.tags.get("suite", suite) != suite:
            continue
        status = r.info.status
        if status != "FINISHED":
            left_out[status] = left_out.get(status, 0) + 1
            continue
        t, m = r.data.tags, r.data.metrics
        acc = m.get(get_suite(suite).style.test_metric)
        if acc is None:
            left_out["FINISHED without test metrics"] = left_out.get("FINISHED without test metrics", 0) + 1
            continue
        rows.append({
            "run_id": r.info.run_id, "start_time": r.info.start_time, "config_key": t.get("config_key", r.info.run_id),
            "dataset": t.get("dataset"), "source": _source(t), "model": t.get("model"), "algorithm": t.get("algorithm"),
            "seed": int(t.get("seed", 0)), "setting": t.get("setting", ""), "profile": t.get("profile"),
            "scale": t.get("scale"), "scale_note": t.get("scale_note", ""), "commit": _short_commit(t.get("git_commit", "?")),
            "hardware": t.get("hardware.gpu") or t.get("hardware.cpu", "?"), "paper_dataset": "" if t.get("data.paper_dataset") in (None, "None") else t["data.paper_dataset"],
            "acc": 100 * acc, "ci95": 100 * m["test_ci95"] if "test_ci95" in m else math.nan,
            "top5": 100 * m["final_test_top5"] if "final_test_top5" in m else math.nan,
            "train_time_s": m.get("train_time_s", math.nan), "wall_time_s": m.get("wall_time_s", math.nan),
        })
    df = pd.DataFrame(rows)
    if len(df):
        before = len(df)
        df = df.sort_values("start_time", ascending=False).drop_duplicates("config_key").sort_values(GROUP + ["algorithm", "seed"])
        if before > len(df):
            left_out["superseded (older run of the same configuration)"] = before - len(df)
    return df.reset_index(drop=True), left_out


def _paper(suite: str, row: pd.Series, algorithm: str):
    ds = references.paper_dataset(row["dataset"], row["paper_dataset"] or None)
    return get_suite(suite).reference(ds, row["model"], algorithm, row["setting"])


def significance(suite: str, group: pd.DataFrame, algorithm: str, baseline: str, episode_acc) -> float:
    """p-value of the difference to the baseline (nan where it cannot be tested)."""
    a, b = group[group.algorithm == algorithm], group[group.algorithm == baseline]
    if algorithm == baseline or a.empty or b.empty:
        return math.nan
    if get_suite(suite).style.paired_by == "episodes":
        ea, eb = episode_acc(a), episode_acc(b)
        if ea is None or eb is None or len(ea) != len(eb) or len(ea) < 2:
            return math.nan
        diff = [x - y for x, y in zip(ea, eb)]
        if all(d == diff[0] for d in diff):
            return 1.0 if diff[0] == 0 else 0.0
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return float(stats.ttest_rel(ea, eb).pvalue)
    if len(a) < 2 or len(b) < 2:
        return math.nan
    sa, sb = a.set_index("seed").acc, b.set_index("seed").acc
    with warnings.catch_warnings():  # identical values give a zero variance: scipy warns, the p-value is still defined
        warnings.simplefilter("ignore", RuntimeWarning)
        if set(sa.index) == set(sb.index):
            # a seed fixes the initialisation and the batch order for every algorithm: pair by seed
            seeds = sorted(sa.index)
            return float(stats.ttest_rel(sa[seeds].to_numpy(), sb[seeds].to_numpy()).pvalue)
        return float(stats.ttest_ind(a.acc, b.acc, equal_var=False).pvalue)


def tables(df: pd.DataFrame, suite: str, baseline: str, episode_acc=None) -> pd.DataFrame:
    out = []
    for key, g in df.groupby(GROUP, sort=False, dropna=False):
        base_time = g[g.algorithm == baseline].train_time_s.mean()
        for algo, a in g.groupby("algorithm", sort=False):
            ref = _paper(suite, a.iloc[0], algo)
            mean = a.acc.mean()
            out.append({
                **dict(zip(GROUP, key)), "paper_dataset": a.paper_dataset.iloc[0], "algorithm": algo, "n": len(a), "seeds": " ".join(map(str, sorted(a.seed))),
                "mean": mean, "std": a.acc.std(ddof=1) if len(a) > 1 else math.nan,
                "ci95": a.ci95.mean(), "top5": a.top5.mean(),
                "paper": ref.value if ref else math.nan, "paper_source": ref.source if ref else "",
                "diff": mean - ref.value if ref else math.nan,
                "p_vs_baseline": significance(suite, g, algo, baseline, episode_acc),
                "relative_cost": a.train_time_s.mean() / base_time if base_time and base_time > 0 else math.nan,
                "commits": " ".join(sorted(set(a.commit))), "hardware": "; ".join(sorted(set(a.hardware))),
                "scale_note": a.scale_note.iloc[0], "first_run": pd.to_datetime(a.start_time.min(), unit="ms").strftime("%Y-%m-%d"),
            })
    return pd.DataFrame(out)


def _scale_note(notes: list[str]) -> str:
    """The notes every row shares, then (once each) the parts only some rows have, such
    as each algorithm's own tuning study."""
    parts = [[x for x in (n or "").split("; ") if x] for n in notes]
    if not parts:
        return ""
    common = [x for x in parts[0] if all(x in q for q in parts)]
    extra = sorted({x for q in parts for x in q if x not in common})
    return "; ".join(common + (["per algorithm: " + "; ".join(extra)] if extra else []))


def _fmt(x: float, spec: str = ".2f") -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, spec)


def markdown(board: pd.DataFrame, suite: str, baseline: str, left_out: dict[str, int], command: str, reproduce: str | None = None) -> str:
    style = get_suite(suite).style
    lines = [f"# Leaderboard: {suite} suite", "",
             f"Generated from MLflow by `{command}`; do not edit by hand.", ""]
    if reproduce:
        lines += [f"The runs: `{reproduce}`", ""]
    lines += [
             f"Spread: {style.spread}. Significance: {style.significance}, against `{baseline}`. Relative cost: mean training time / `{baseline}`'s, same group.",
             "Paper values are the papers' own numbers (`benchmark/data/paper_results.csv`); beside a reduced or quick-scale "
             "row they are for orientation only.", ""]
    if left_out:
        lines.append("Left out: " + ", ".join(f"{n} {k}" for k, n in sorted(left_out.items())) + " run(s).")
        lines.append("")
    for key, g in board.groupby(GROUP, sort=False, dropna=False):
        d = dict(zip(GROUP, key)) | {"paper_dataset": g.paper_dataset.iloc[0]}
        lines += [f"## {_title(d)} ({d['scale']} scale, profile {d['profile']})", ""]
        if note := _scale_note(list(g.scale_note)):
            lines += [f"Scale: {note}.", ""]
        seeds = sorted({int(x) for ss in g.seeds for x in ss.split()})
        lines += [f"Provenance: seeds {' '.join(map(str, seeds))}; commit(s) {' '.join(sorted(set(' '.join(g.commits).split())))}; "
                  f"first run {g.first_run.min()}; hardware {'; '.join(sorted(set(g.hardware)))}.", ""]
        ci = style.interval_column
        head = ["algorithm", "n", "mean %", "std"] + (["95% CI"] if ci else []) + [
            "paper %", "diff", f"p vs {baseline}", "rel. cost"]
        lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for _, r in g.iterrows():
            spread = [_fmt(r["std"])] + ([_fmt(r["ci95"])] if ci else [])
            lines.append("| " + " | ".join([
                r.algorithm, str(r.n), _fmt(r["mean"]), *spread, _fmt(r.paper, style.paper_format),
                _fmt(r["diff"], "+.2f"), _fmt(r.p_vs_baseline, ".3g"), _fmt(r.relative_cost),
            ]) + " |")
        lines.append("")
    return "\n".join(lines)


def plot(board: pd.DataFrame, path: Path, suite: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = list(board.groupby(GROUP, sort=False, dropna=False))
    fig, axes = plt.subplots(len(groups), 1, figsize=(8, 2.8 * len(groups)), squeeze=False)
    for ax, (key, g) in zip(axes[:, 0], groups):
        d = dict(zip(GROUP, key)) | {"paper_dataset": g.paper_dataset.iloc[0]}
        err = g.ci95 if get_suite(suite).style.interval_column else g["std"].fillna(0)
        x = range(len(g))
        ax.bar(x, g["mean"], yerr=err, capsize=3, alpha=0.8, label="ours (mean)")
        if g.paper.notna().any():
            ax.scatter(x, g.paper, color="black", marker="_", s=300, label="paper", zorder=3)
        ax.set_xticks(list(x), list(g.algorithm), rotation=20, ha="right", fontsize=8)
        lo = max(0.0, float(min(g["mean"].min(), g.paper.min() if g.paper.notna().any() else 100)) - 10)
        ax.set_ylim(lo, min(100.0, float(max(g["mean"].max(), g.paper.max() if g.paper.notna().any() else 0)) + 5))
        ax.set_title(f"{_title(d)} ({d['scale']})", fontsize=9)
        ax.set_ylabel("test accuracy (%)")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def build(tracker, suite: str, out: str | Path, baseline: str | None = None, command: str = "",
          reproduce: str | None = None) -> tuple[Path, pd.DataFrame, dict[str, int]]:
    baseline = baseline or get_suite(suite).style.baseline
    df, left_out = runs_frame(tracker, suite)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cache: dict[str, list[float] | None] = {}

    def episode_acc(rows: pd.DataFrame) -> Sequence[float] | None:
        per_seed = []
        for rid in rows.run_id:
            if rid not in cache:
                try:
                    cache[rid] = tracker.load_json_artifact(rid, "test_episode_acc.json")
                except Exception:
                    cache[rid] = None
            if cache[rid] is None:
                return None
            per_seed.append(cache[rid])
        if len({len(p) for p in per_seed}) != 1:
            return None
        return [sum(v) / len(v) for v in zip(*per_seed)]

    board = tables(df, suite, baseline, episode_acc) if len(df) else pd.DataFrame()
    md = out / f"{suite}.md"
    if board.empty:
        md.write_text(f"# Leaderboard: {suite} suite\n\nNo finished runs.\n")
        return md, board, left_out
    md.write_text(markdown(board, suite, baseline, left_out, command, reproduce))
    board.to_csv(out / f"{suite}.csv", index=False)
    plot(board, out / f"{suite}.png", suite)
    return md, board, left_out
