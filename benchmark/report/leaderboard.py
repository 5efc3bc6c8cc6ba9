"""Leaderboards built from raw results, never typed: MLflow (or the committed csv.gz
files) -> pandas -> Markdown, CSV and plots in ``leaderboards/``.

Only FINISHED runs count (the rest are left out and counted); a configuration run more
than once (``--force``) counts once, its newest run. Rows are grouped by (dataset,
source, model, setting, profile, scale), so reduced-scale runs never share a row with
paper-protocol runs, and two image folders never share a table.

Each algorithm is compared with the baseline seed by seed (``stats``): the mean
difference with its 95% interval (t over seed differences; few-shot: a two-level
bootstrap over seeds and the shared episodes), p of the paired t-test over seeds, Holm's
adjustment over the table's comparisons, a verdict (better / worse / no evidence), the
smallest difference this many seeds could detect with 80% power, and the seeds the
paper's claimed difference would need.
"""
from __future__ import annotations

import math
import tempfile
from pathlib import Path

import pandas as pd

from ..suites import get_suite
from . import plateau, raw, references, sequential, stats
from .console import format_rows
from .raw import GROUP


def _title(d: dict) -> str:
    data = d["dataset"]
    if d.get("source"):
        paper = d.get("paper_dataset")
        data += f" ({d['source']}" + (f", {paper} images" if paper else "") + ")"
    bn = f" / BN {d['bn_eval']}" if d.get("bn_eval") else ""  # batch norm at test (few-shot --bn-eval)
    return f"{data} / {d['model']}" + (f" / {d['setting']}" if d["setting"] else "") + bn


def _tuned(g: pd.DataFrame) -> bool:
    return g.scale_note.str.contains("tuned hyperparameters").any()


def _paper(suite: str, row: pd.Series, algorithm: str):
    ds = references.paper_dataset(row["dataset"], row["paper_dataset"] or None)
    return get_suite(suite).reference(ds, row["model"], algorithm, row["setting"], bn_eval=row.get("bn_eval") or "",
                                      profile=str(row.get("profile") or ""))


def _matrix(runs: pd.DataFrame, episodes: pd.DataFrame) -> pd.DataFrame | None:
    """seeds x episodes accuracies of one algorithm's runs (None without per-episode results)."""
    e = episodes[episodes.run_id.isin(runs.run_id)]
    if e.empty:
        return None
    m = e.merge(runs[["run_id", "seed"]], on="run_id").pivot(index="seed", columns="episode", values="acc")
    return None if m.isna().any().any() else m


def paired_seeds(g: pd.DataFrame, algorithm: str, baseline: str) -> list[int]:
    return sorted(set(g[g.algorithm == algorithm].seed) & set(g[g.algorithm == baseline].seed))


def compare(g: pd.DataFrame, algorithm: str, baseline: str, suite: str, episodes: pd.DataFrame,
            first: int | None = None) -> stats.Comparison | None:
    """The algorithm against the baseline on the seeds both have (paired); ``first``: on the first n of them only
    (in seed order: a sequential design's look)."""
    if first is not None:
        keep = paired_seeds(g, algorithm, baseline)[:first]
        g = g[g.seed.isin(keep)]
    a, b = g[g.algorithm == algorithm], g[g.algorithm == baseline]
    if algorithm == baseline or a.empty or b.empty:
        return None
    if get_suite(suite).style.paired_by == "episodes":
        ma, mb = _matrix(a, episodes), _matrix(b, episodes)
        fingerprints = set(a.episodes_fingerprint) | set(b.episodes_fingerprint)
        if ma is not None and mb is not None and ma.shape[1] == mb.shape[1] and len(fingerprints) == 1:
            seeds = ma.index.intersection(mb.index)
            return stats.two_level(ma.loc[seeds].to_numpy(), mb.loc[seeds].to_numpy())
    sa, sb = a.set_index("seed").acc, b.set_index("seed").acc
    seeds = sorted(set(sa.index) & set(sb.index))
    return stats.paired(sa[seeds].to_numpy(), sb[seeds].to_numpy())


def _unplateaued_iterations(a: pd.DataFrame) -> float:
    """Iterations trained by the seeds whose curve missed the plateau criterion (NaN if none did, or unrecorded):
    the stopping rule stops a run once the criterion holds, so a run that misses it ran to its cap (issue 28)."""
    if not {"val_tail_gain", "iterations"} <= set(a):
        return math.nan
    short = a[a.val_tail_gain >= plateau.TOL].iterations.dropna()
    return float(short.max()) if len(short) else math.nan


def _cap_hit(r: pd.Series, short: int) -> str:
    """The cap a row's ``short`` unplateaued seeds ran to, for its plateau note ("" where it is not recorded)."""
    cap = r.get("unplateaued_iterations", math.nan)
    who = "the seed short of it" if short == 1 else "the seeds short of it"
    return "" if pd.isna(cap) else f"; {who} ran to the cap, {cap:,.0f} iterations"


def _row(suite: str, key: tuple, a: pd.DataFrame, base_time: float, base_paper, c: stats.Comparison | None) -> dict:
    ref = _paper(suite, a.iloc[0], a.algorithm.iloc[0])
    paper_diff = ref.value - base_paper.value if ref and base_paper and c else math.nan
    sd = c.sd if c else math.nan
    return {
        **dict(zip(GROUP, key)), "paper_dataset": a.paper_dataset.iloc[0], "algorithm": a.algorithm.iloc[0], "n": len(a),
        "seeds": " ".join(map(str, sorted(a.seed))), "mean": a.acc.mean(), "std": a.acc.std(ddof=1) if len(a) > 1 else math.nan,
        "ci95": a.ci95.mean(), "top5": a.top5.mean(), "chance": a.chance.iloc[0],
        "paper": ref.value if ref else math.nan, "paper_source": ref.source if ref else "",
        "paired_seeds": c.n if c else 0, "diff": c.diff if c else math.nan, "diff_lo": c.lo if c else math.nan,
        "diff_hi": c.hi if c else math.nan, "interval": c.interval if c else "", "p": c.p if c else math.nan,
        # a sign-flip p that cannot reach 0.05 (2 / 2^n >= 0.05 below 6 seeds) is left out: it could never reject
        "p_signflip": c.p_perm if c and stats.signflip_floor(c.n) < stats.ALPHA else math.nan, "sd_diff": sd,
        # the one standard error behind the interval and p, its degrees of freedom and components (stats.Spread)
        "se": c.se if c else math.nan, "df": c.df if c else math.nan,
        "var_seed": c.spread.u if c and c.spread else math.nan, "var_episodes": c.spread.w if c and c.spread else math.nan,
        "var_episodes_df": c.spread.w_df if c and c.spread else math.nan,
        "paper_diff": paper_diff,  # detectable and seeds needed: in tables(), at the family's Bonferroni level
        "relative_cost": a.train_time_s.mean() / base_time if base_time and base_time > 0 else math.nan,
        "iterations": a.iterations.mean() if "iterations" in a else math.nan,  # meta-iterations trained, mean over seeds
        "core_h": raw.core_hours(a).mean() if "threads" in a else math.nan,
        "shared_runs": int((a.load > a.cores).sum()) if {"load", "cores"} <= set(a) else 0,  # the machine was oversubscribed
        "threads_used": " ".join(str(int(t)) for t in sorted(set(a.threads.dropna()))) if "threads" in a else "",
        "commits": " ".join(sorted(set(a.commit))), "hardware": "; ".join(sorted(set(a.hardware))),
        "scale_note": a.scale_note.iloc[0], "first_run": pd.to_datetime(a.start_time.min(), unit="ms").strftime("%Y-%m-%d"),
        "plateau": plateau.summary(list(a.val_tail_gain)) if "val_tail_gain" in a else "-",
        "tail_gain_max": a.val_tail_gain.max() if "val_tail_gain" in a else math.nan,
        "unplateaued_iterations": _unplateaued_iterations(a),  # where the seeds short of the criterion stopped: the cap
        "protocol": int(a.protocol.min()) if "protocol" in a else 1,  # the suite's protocol version of the oldest run
        # `evaluate` runs: trained models scored again (their profile's deviations of scoring apply)
        "evaluation": bool((a.source_run_id.astype(str).str.len() > 0).any()) if "source_run_id" in a else False,
    }


FAMILIES = {"table": [k for k in GROUP if k != "setting"], "setting": GROUP}  # what one Holm family spans


def _against(suite: str, key: tuple, g: pd.DataFrame, algorithm: str, other: str, episodes: pd.DataFrame) -> dict:
    """A row of ``algorithm`` judged against ``other`` (the baseline, or a planned pair's second member)."""
    base_time = g[g.algorithm == other].train_time_s.mean()
    return _row(suite, key, g[g.algorithm == algorithm], base_time, _paper(suite, g.iloc[0], other),
                compare(g, algorithm, other, suite, episodes))


def tables(df: pd.DataFrame, suite: str, baseline: str, episodes: pd.DataFrame | None = None,
           family: str = "table", design: sequential.Design | None = None,
           pairs: tuple[tuple[str, str], ...] = ()) -> pd.DataFrame:
    """One row per (group, algorithm), the best mean first, with the comparison to the baseline. Holm's family:
    ``table``, every comparison of a table across its settings (one question: 1-shot and 5-shot together), or
    ``setting``, each setting's comparisons on their own. ``design``: the runs came from ``run --until-decided``;
    each comparison is judged at its looks over the seeds in order (``sequential``) instead of by Holm. ``pairs``:
    planned comparisons (A, B) besides those with the baseline, in the same family; their rows follow the group's,
    with B in the ``versus`` column (empty for the baseline's comparisons)."""
    if design and pairs:
        raise ValueError("--compare pairs are judged by Holm; --until-decided's design judges only the baseline's comparisons")
    episodes = episodes if episodes is not None else pd.DataFrame(columns=["run_id", "episode", "acc"])
    groups = []
    for key, g in df.groupby(GROUP, sort=False, dropna=False):
        present = set(g.algorithm)
        rows = [_against(suite, key, g, algo, baseline, episodes) | {"versus": ""} for algo in g.algorithm.unique()]
        extra = [_against(suite, key, g, a, b, episodes) | {"versus": b} for a, b in pairs if {a, b} <= present]
        groups.append((g, rows, extra))
    members: dict[tuple, list[dict]] = {}
    for _, rows, extra in groups:
        for r in rows + extra:
            members.setdefault(tuple(str(r[k]) for k in FAMILIES[family]), []).append(r)
    for rows in members.values():
        _judge(rows, baseline, family)
    if design:
        for g, rows, _ in groups:
            m = sum(not math.isnan(r["p"]) for r in members[tuple(str(rows[0][k]) for k in FAMILIES[family])])
            for r in rows:
                _sequential_row(r, g, baseline, suite, episodes, design, m)
    return pd.DataFrame([r for _, rows, extra in groups for r in sorted(rows, key=lambda r: -r["mean"]) + extra])


def _sequential_row(r: dict, g: pd.DataFrame, baseline: str, suite: str, episodes: pd.DataFrame,
                    design: sequential.Design, comparisons: int) -> None:
    """A row of a sequential grid: its looks, the boundary, why it stopped, and the comparison at that look."""
    r.update(looks=0, boundary=design.nominal(comparisons), stopped="", p_holm=math.nan)
    if r["algorithm"] == baseline:
        return
    out = sequential.analyse(lambda n: compare(g, r["algorithm"], baseline, suite, episodes, first=n),
                             len(paired_seeds(g, r["algorithm"], baseline)), design, comparisons)
    if out is None:
        r["stopped"] = f"no look yet (< {sequential.FIRST} seeds)"
        return
    c = out.comparison
    r.update(looks=out.looks, stopped=out.reason, verdict=out.verdict(design.min_effect), paired_seeds=out.seeds,
             diff=c.diff, diff_lo=out.lo, diff_hi=out.hi, p=c.p, se=c.se, df=c.df,
             interval=f"repeated {1 - out.nominal:.4g} interval ({c.interval})")
    if c.spread and out.seeds > 1:  # what this look could detect at the boundary it is held to
        lo, hi = stats.spread_range(out.seeds, df=c.df)
        r["detectable"] = stats.detectable(c.spread, out.seeds, alpha=out.nominal)
        r["detectable_lo"], r["detectable_hi"], r["alpha_detectable"] = r["detectable"] * lo, r["detectable"] * hi, out.nominal


def _judge(rows: list[dict], baseline: str, family: str) -> None:
    """Holm over one family's comparisons; detectable differences and seeds needed at its Bonferroni level."""
    adjusted = stats.holm([r["p"] for r in rows])
    level = stats.ALPHA / max(1, sum(not math.isnan(r["p"]) for r in rows))  # Bonferroni: Holm's strictest step
    for r, p in zip(rows, adjusted):
        r["p_holm"], r["family"], r["alpha_detectable"] = p, family, level
        n = r["paired_seeds"]
        spread = stats.Spread(r["var_seed"], r["var_episodes"], r["var_episodes_df"]) if n > 1 else None
        r["detectable"] = stats.detectable(spread, n, alpha=level) if spread else math.nan
        lo, hi = stats.spread_range(n, df=r["df"]) if spread else (math.nan, math.nan)
        r["detectable_lo"], r["detectable_hi"] = r["detectable"] * lo, r["detectable"] * hi
        r["seeds_for_paper_diff"] = stats.seeds_needed(r["paper_diff"], spread, alpha=level) if spread else math.nan
        for bound, factor in (("lo", lo), ("hi", hi)):  # the same 80% range: the error's components scaled alike
            scaled = stats.Spread(spread.u * factor**2, spread.w * factor**2, spread.w_df) if spread else None
            r[f"seeds_for_paper_diff_{bound}"] = (stats.seeds_needed(r["paper_diff"], scaled, alpha=level)
                                                  if scaled and not math.isnan(factor) else math.nan)
        c = stats.Comparison(n, r["diff"], r["diff_lo"], r["diff_hi"], r["p"], r["p_signflip"], r["sd_diff"])
        own = r["algorithm"] == baseline and not r.get("versus")
        r["verdict"] = "baseline" if own else (stats.verdict(c, p) if n else "not compared")


def _sequential_cells(r) -> list[str]:
    if r.verdict == "baseline":
        return ["-", "-", "-"]
    return [f"{_fmt(r.p, '.3g')} ({sequential.fmt_boundary(r.boundary)})", str(int(r.looks)), r.stopped or "-"]


def _seeds_needed(r) -> str:
    """The seeds a paper's difference needs with its 80% range, e.g. ``12 [6, 40]``."""
    if math.isnan(r.seeds_for_paper_diff):
        return "-"
    return f"{_fmt(r.seeds_for_paper_diff, '.0f')} [{_fmt(r.seeds_for_paper_diff_lo, '.0f')}, {_fmt(r.seeds_for_paper_diff_hi, '.0f')}]"


def _detectable(r) -> str:
    """The detectable difference with its 80% range, e.g. ``1.45 [0.96, 2.93]``."""
    if math.isnan(r.detectable):
        return "-"
    return f"{_fmt(r.detectable)} [{_fmt(r.detectable_lo)}, {_fmt(r.detectable_hi)}]"


def _fmt(x, spec: str = ".2f") -> str:
    return "-" if x is None or (isinstance(x, float) and (math.isnan(x))) else ("inf" if x == math.inf else format(x, spec))


def _scale_note(notes: list[str]) -> str:
    """The notes every row shares, then (once each) the parts only some rows have, such
    as each algorithm's own tuning study."""
    parts = [[x for x in (n or "").split("; ") if x] for n in notes]
    if not parts:
        return ""
    common = [x for x in parts[0] if all(x in q for q in parts)]
    extra = sorted({x for q in parts for x in q if x not in common})
    return "; ".join(common + (["per algorithm: " + "; ".join(extra)] if extra else []))


ESTIMAND = {
    "episodes": "the mean difference over new training seeds and new test episodes (the interval and p generalise to "
                "both: one closed-form two-level standard error with its Welch-Satterthwaite degrees of freedom)",
    "seeds": "the mean difference over new training seeds on this test set (the paired t over seed differences)",
}
FAMILY_TEXT = {"table": "every comparison of this dataset, model and profile across its settings (`--family table`)",
               "setting": "each setting's comparisons on their own (`--family setting`)"}


def _legend(suite: str, baseline: str, family: str) -> list[str]:
    style = get_suite(suite).style
    ci = ("; 95% CI: over the test episodes (the mean of the seeds' intervals, the field's usual form; it says how well "
          "the episodes measure one trained model, not how much training seeds vary)" if style.interval_column else "")
    return [
        f"- **mean %**: final test accuracy, mean over seeds; **std**: over seeds{ci}.",
        f"- **diff**: mean paired difference to `{baseline}` (same seeds: same initialisation, data order"
        + (" and test episodes" if style.paired_by == "episodes" else "") + ") with its 95% interval; the estimand is "
        + ESTIMAND[style.paired_by] + ".",
        "- **p (Holm)**: the t-test of that estimand from the interval's own standard error and degrees of freedom "
        "(unadjusted p < 0.05 exactly when the interval excludes 0), Holm-adjusted over the family: "
        f"{FAMILY_TEXT[family]}. **verdict**: better / worse when the Holm p < 0.05, else no evidence (an interval that "
        f"excludes 0 with a Holm p >= 0.05 is significant alone, not in the family); with fewer than {stats.MIN_SEEDS} "
        "seeds nothing is tested. A sign-flip permutation p over the seeds is in the CSV from 6 seeds: with fewer, its "
        "smallest possible value (2 / 2^n >= 0.0625) can never reject.",
        "- **detectable**: the smallest true difference this design detects with 80% power at the level the verdicts "
        "are held to (Holm's strictest step, the Bonferroni level 0.05 / the family's comparisons: a bound, since later "
        "steps are less strict), from the same standard error; in brackets its 80% range, from the uncertainty of that "
        "standard error (chi-square with its degrees of freedom). **paper gain**: the paper's difference to the baseline; "
        "**seeds needed**: the seeds a test at that level needs to detect it with 80% power, with its 80% range from "
        "the same uncertainty (inf: the test episodes' own variance, which more seeds do not shrink, hides it).",
        f"- **rel. cost**: mean training time / `{baseline}`'s, by the wall clock (elapsed seconds, not CPU time), so it "
        "counts whatever else the machine ran (a **Cost** line above the table says when runs shared it). **iterations**: "
        "meta-iterations trained, mean over seeds (fewer than the budget where a run stopped at its plateau); **core-h**: "
        "a run's wall time x its torch threads, mean over seeds. Paper values are the papers' own numbers "
        "(`benchmark/data/paper_results.csv`); beside a reduced or quick-scale row they are for orientation only.",
    ]


def _deviations(suite: str, profile: str, algorithms: set[str], scored: bool = False) -> str:
    """The profile's recorded deviations from the papers ([!]) and decisions ([=]) that
    concern the algorithms of a table (``scored``: a table of `evaluate` runs, which has those of its scoring too)."""
    from ..suites.deviations import for_profile

    out = []
    for dv in for_profile(suite, profile):
        if dv.scored and not scored:
            continue
        who = sorted(algorithms & set(dv.algorithms)) if dv.algorithms else []
        if dv.algorithms and not who:
            continue
        out.append(("[=] " if dv.decided else "[!] ") + dv.element + (f" ({', '.join(who)})" if who else ""))
    return "; ".join(out)


def _protocol_lines(suite: str, profile: str, g: pd.DataFrame) -> list[str]:
    """The runs' protocol: the profile's declared deviations, or, for runs of an earlier protocol version, what they
    did differently (they are not the comparison `list --protocol` describes now)."""
    s = get_suite(suite)
    versions = sorted({int(v) for v in g.protocol}) if "protocol" in g else [1]
    old = [v for v in versions if v < s.protocol_version]
    if old:
        return [f"Protocol: measured under {'; '.join(s.protocol_history.get(v, f'protocol v{v}') for v in old)}. Not the "
                f"protocol v{s.protocol_version} that `python -m benchmark list --protocol {profile} --suite {suite}` "
                "describes now.", ""]
    if devs := _deviations(suite, profile, set(g.algorithm), bool(g.get("evaluation", pd.Series(dtype=bool)).any())):
        return [f"Protocol: v{s.protocol_version}; {devs} (`python -m benchmark list --protocol {profile} --suite {suite}`).", ""]
    return []


def _sharing_lines(g: pd.DataFrame) -> list[str]:
    """A note where the cost columns are not like for like: runs that shared the machine, or differing threads."""
    notes = []
    shared = int(g.shared_runs.sum()) if "shared_runs" in g else 0
    if shared:
        notes.append(f"{shared} of {int(g.n.sum())} runs shared the machine (a mean 1-minute load average above its "
                     "cores while they trained), so their times, rel. cost and core-h are inflated")
    threads = sorted({t for ts in g.get("threads_used", pd.Series(dtype=str)) for t in str(ts).split()}, key=int)
    if len(threads) > 1:
        notes.append(f"runs used {' and '.join(threads)} torch threads: their times are not comparable one to one")
    return [f"Cost: {'; '.join(notes)}.", ""] if notes else []


def _pairs_md(planned: pd.DataFrame) -> list[str]:
    """The planned comparisons (``--compare A:B``) of one group, judged in the same Holm family as the table's."""
    if planned is None or planned.empty:
        return []
    head = ["comparison", "seeds", "diff [95% CI]", "p (Holm)", "verdict", "detectable", "paper gain"]
    lines = ["Planned comparisons (`--compare`; in the same Holm family as the baseline's):", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for _, r in planned.iterrows():
        diff = _diff_cell(r)
        lines.append("| " + " | ".join([f"`{r.algorithm}` vs `{r.versus}`", str(r.paired_seeds), diff, _fmt(r.p_holm, ".3g"), r.verdict, _detectable(r), _fmt(r.paper_diff, "+.2f")]) + " |")
    return lines + [""]


def _diff_cell(r) -> str:
    """A row's paired difference with its interval, e.g. ``+1.02 [+0.32, +1.72]``."""
    return "-" if math.isnan(r["diff"]) else f"{r['diff']:+.2f} [{_fmt(r.diff_lo, '+.2f')}, {_fmt(r.diff_hi, '+.2f')}]"


def ways_shots(setting: str) -> tuple[int, int]:
    parts = [int(x.split("-")[0]) for x in str(setting).split() if x.split("-")[0].isdigit()]
    return (parts + [0, 0])[:2] if parts else (0, 0)


def overview_md(board: pd.DataFrame) -> list[str]:
    """Where a table has several settings: one matrix per dataset, model and profile, its algorithms by its settings
    (ways, then shots, as the MTL paper's Table 1 lays them out), each cell the mean over seeds and their number."""
    lines: list[str] = []
    keys = [k for k in GROUP if k != "setting"]
    for key, g in board.groupby(keys, sort=False, dropna=False):
        settings = sorted(set(g.setting), key=ways_shots)
        if len(settings) < 2:
            continue
        d = dict(zip(keys, key)) | {"setting": "", "paper_dataset": g.paper_dataset.iloc[0]}
        cells = {(r.algorithm, r.setting): f"{r['mean']:.2f} ({r.n})" for _, r in g.iterrows()}
        order = g.groupby("algorithm", sort=False)["mean"].mean().sort_values(ascending=False).index
        lines += [f"Overview: {_title(d)}, mean % over seeds (seeds); the sections below judge each setting.", "",
                  "| algorithm | " + " | ".join(settings) + " |", "|---|" + "---|" * len(settings)]
        lines += ["| " + " | ".join([a] + [cells.get((a, st), "-") for st in settings]) + " |" for a in order]
        lines.append("")
    return lines


def _group_md(g: pd.DataFrame, suite: str, baseline: str, planned: pd.DataFrame | None = None) -> list[str]:
    style = get_suite(suite).style
    d = dict(zip(GROUP, g[GROUP].iloc[0])) | {"paper_dataset": g.paper_dataset.iloc[0]}
    s = get_suite(suite)
    tuned = ("tuned hyperparameters" if _tuned(g) else "one budget for every algorithm" if d["profile"] in s.comparative_profiles
             else "the papers' hyperparameters")
    lines = [f"## {_title(d)} ({d['scale']} scale, profile {d['profile']}, {tuned})", ""]
    if note := _scale_note(list(g.scale_note)):
        lines += [f"Scale: {note}.", ""]
    lines += _protocol_lines(suite, d["profile"], g)
    seeds = sorted({int(x) for ss in g.seeds for x in ss.split()})
    lines += [f"Provenance: seeds {' '.join(map(str, seeds))}; commit(s) {' '.join(sorted(set(' '.join(g.commits).split())))}; "
              f"first run {g.first_run.min()}; hardware {'; '.join(sorted(set(g.hardware)))}.", ""]
    lines += _sharing_lines(g)
    estimand = ESTIMAND[style.paired_by].split(" (")[0]
    seed_only = sorted(g[g.interval == "t over seed differences"].algorithm) if style.paired_by == "episodes" else []
    if seed_only:  # runs without per-episode results: only the seeds-only question can be asked of them
        estimand += f"; for {', '.join(seed_only)} (no per-episode results): over new training seeds on these episodes"
    lines += [f"Estimand: {estimand}.", ""]
    judged = bool((g.plateau != "-").any())
    costed = "iterations" in g and bool(g.iterations.notna().any())  # runs that record what they trained (issue 28)
    seq = "looks" in g  # a sequential grid (run --until-decided): looks, boundary and stopping reason per row
    head = ["algorithm", "n", "mean %", "std"] + (["95% CI"] if style.interval_column else []) + [
        "paper %", f"diff vs {baseline} [{'repeated CI' if seq else '95% CI'}]"] + (
        ["p (boundary)", "looks", "stopped"] if seq else ["p (Holm)"]) + ["verdict", "detectable", "paper gain", "seeds needed",
        "rel. cost"] + (["iterations", "core-h"] if costed else []) + (["plateau"] if judged else [])
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for _, r in g.iterrows():
        diff = _diff_cell(r)
        lines.append("| " + " | ".join([
            r.algorithm, str(r.n), _fmt(r["mean"]), _fmt(r["std"]), *([_fmt(r["ci95"])] if style.interval_column else []),
            _fmt(r.paper, style.paper_format), diff, *(_sequential_cells(r) if seq else [_fmt(r.p_holm, ".3g")]),
            r.verdict, _detectable(r),
            _fmt(r.paper_diff, "+.2f"), _seeds_needed(r), _fmt(r.relative_cost),
        ] + ([_fmt(r.iterations, ".0f"), _fmt(r.core_h, ".2f")] if costed else []) + ([r.plateau] if judged else [])) + " |")
    lines.append("")
    if judged:
        lines += [f"Plateau: seeds whose validation curve met the criterion ({plateau.CRITERION}); the curves are "
                  "in the `-curves.png` figure and `-curves.csv.gz` beside this table.", ""]
        for _, r in g[g.plateau != "-"].iterrows():
            met, n = (int(x) for x in r.plateau.split("/"))
            if met < n:
                lines.append(f"- `{r.algorithm}` did not plateau in {n - met} of {n} seeds (its best validation rose by up to "
                             f"{r.tail_gain_max:+.2f} pp in the last {plateau.TAIL:.0%}{_cap_hit(r, n - met)}): its number is not "
                             "converged.")
    for _, r in g[g.verdict == "no evidence"].iterrows():
        lines.append(f"- `{r.algorithm}` vs `{baseline}`: no evidence of a difference; with {r.paired_seeds} seeds this "
                     f"experiment could only detect differences of at least {_fmt(r.detectable)} pp.")
    return lines + [""] + _pairs_md(planned)


def _diverged_lines(diverged: pd.DataFrame | None) -> list[str]:
    """The cells with no accuracy because their run diverged (``raw.diverged``): named, not silently absent."""
    if diverged is None or diverged.empty:
        return []
    cells = [f"{r.algorithm} {r.setting} seed {r.seed} ({', '.join(dict.fromkeys(str(x) for x in (r.dataset, r.model, r.profile, r.bn_eval) if x))})"
             for r in diverged.itertuples()]
    return [f"**Diverged** (FAILED, no accuracy to report; each run's reason is its `error` in the raw results): "
            f"{'; '.join(cells)}.", ""]


def markdown(board: pd.DataFrame, suite: str, baseline: str, left_out: dict[str, int], command: str,
             reproduce: str | None = None, design: sequential.Design | None = None,
             planned: pd.DataFrame | None = None, diverged: pd.DataFrame | None = None) -> str:
    pr, pe = raw.paths(".", suite)
    lines = [f"# Leaderboard: {suite} suite", "",
             f"Generated by `{command}` from the raw results `{pr.name}`"
             + (f" and `{pe.name}`" if get_suite(suite).style.paired_by == "episodes" else "") + "; do not edit by hand.", ""]
    if reproduce:
        lines += [f"The runs: `{reproduce}`", ""]
    lines += _legend(suite, baseline, str(board.family.iloc[0]) if "family" in board else "table") + [""]
    if design:
        lines += [f"**Design:** {design.describe()}. Each row is judged at the look where it stopped: **p (boundary)** "
                  "is its p there and the nominal level every look is held to; the interval is the repeated confidence "
                  "interval at that level (simultaneous over the looks), not a 95% one; **stopped**: efficacy (the "
                  "interval excludes 0), futility (it lies within the smallest effect worth finding), or max seeds.", ""]
    own = get_suite(suite).style.baseline
    if baseline != own:  # a re-test against another baseline is a second look at the same runs
        lines += [f"**Exploratory:** the baseline `{baseline}` is not the suite's own (`{own}`). If it was chosen after "
                  "seeing a table of these runs, its verdicts are outside that table's family-wise control: read them "
                  "as exploratory, to be confirmed on new seeds.", ""]
    if left_out:
        lines += ["Left out: " + ", ".join(f"{n} {k}" for k, n in sorted(left_out.items())) + " run(s).", ""]
    lines += _diverged_lines(diverged)
    lines += overview_md(board)
    sections = board.groupby(GROUP, sort=False, dropna=False)  # in the table's order, by ways and then shots
    for key, g in sorted(sections, key=lambda kg: ways_shots(kg[0][GROUP.index("setting")])):
        mine = planned[(planned[GROUP].astype(str) == [str(k) for k in key]).all(axis=1)] if planned is not None else None
        lines += _group_md(g, suite, baseline, mine)
    return "\n".join(lines).rstrip() + "\n"


def build(source, suite: str, out: str | Path, baseline: str | None = None, command: str = "",
          reproduce: str | None = None, **judging) -> tuple[Path, pd.DataFrame, dict[str, int]]:
    """Tables, plots and raw results in ``out`` from ``source``: a Tracker, or a folder of raw results."""
    out = Path(out)
    from_files = isinstance(source, (str, Path))
    runs, episodes = raw.read(source, suite) if from_files else raw.from_tracker(source, suite)
    curves = raw.read_curves(source, suite) if from_files else raw.curves_from_tracker(source, runs)
    write_raw = not (from_files and Path(source).resolve() == out.resolve())
    return build_frames(runs, episodes, suite, out, baseline, command, reproduce, write_raw, curves, **judging)


def _check_pairs(pairs: tuple[tuple[str, str], ...], df: pd.DataFrame, baseline: str) -> list[tuple[str, str, str]]:
    """Refuses (ValueError, one line) a planned pair named twice, one with the baseline, or one naming neither a
    finished algorithm nor a registered one (a typo); returns the pairs waiting for a registered algorithm's first
    finished runs (a table built piece by piece plans its comparisons before every algorithm has run)."""
    from algorithms.registry import available

    if len(set(map(frozenset, pairs))) < len(pairs):
        raise ValueError(f"--compare {' '.join(f'{a}:{b}' for a, b in pairs)}: a pair is named twice (in either order)")
    present, known, waiting = set(df.algorithm), set(available()), []
    for a, b in pairs if len(df) else ():
        missing = [x for x in (a, b) if x not in present]
        if baseline in (a, b) or not known.issuperset(missing):
            why = (f"{baseline} is the baseline: every algorithm is already judged against it" if baseline in (a, b) else
                   f"{missing[0]} has no finished runs")
            raise ValueError(f"--compare {a}:{b}: {why}; algorithms present: {', '.join(sorted(present))}")
        waiting += [(a, b, x) for x in missing[:1]]
    return waiting


def build_frames(runs: pd.DataFrame, episodes: pd.DataFrame, suite: str, out: Path, baseline: str | None = None,
                 command: str = "", reproduce: str | None = None, write_raw: bool = True,
                 curves: pd.DataFrame | None = None, family: str = "table",
                 design: sequential.Design | None = None,
                 pairs: tuple[tuple[str, str], ...] = ()) -> tuple[Path, pd.DataFrame, dict[str, int]]:
    """``curves``: the runs' validation curves (``raw.curves_from_tracker``), the plateau evidence; ``family``,
    ``design`` and ``pairs``: as in ``tables`` (the planned pairs' rows go to ``<suite>-pairs.csv``)."""
    from . import plots

    baseline = baseline or get_suite(suite).style.baseline
    if curves is not None and len(curves):
        runs = raw.with_tail_gain(runs, curves)
    df, left_out = raw.finished(runs)
    if len(df) and baseline not in set(df.algorithm):
        raise ValueError(f"baseline {baseline!r} has no finished runs; algorithms present: {', '.join(sorted(set(df.algorithm)))}")
    waiting = _check_pairs(pairs, df, baseline)
    out.mkdir(parents=True, exist_ok=True)
    if write_raw:
        raw.write(out, suite, runs, episodes)
        if curves is not None and len(curves):
            raw.write_curves(out, suite, curves)
    board = tables(df, suite, baseline, episodes, family, design, pairs) if len(df) else pd.DataFrame()
    md, pairs_csv = out / f"{suite}.md", out / f"{suite}-pairs.csv"
    pairs_csv.unlink(missing_ok=True)  # a table regenerated without --compare keeps no stale pairs
    diverged = raw.diverged(runs)
    if board.empty:
        md.write_text("\n".join([f"# Leaderboard: {suite} suite", "", "No finished runs.", "", *_diverged_lines(diverged)]))
        return md, board, left_out
    planned = board[board.versus != ""].reset_index(drop=True)
    board = board[board.versus == ""].drop(columns="versus").reset_index(drop=True)
    md.write_text(markdown(board, suite, baseline, left_out, command, reproduce, design, planned, diverged)
                  + "".join(f"\nPlanned comparison {a}:{b} not judged yet: {x} has no finished runs.\n" for a, b, x in waiting))
    board.to_csv(out / f"{suite}.csv", index=False)
    if len(planned):
        planned.to_csv(pairs_csv, index=False)
    plots.leaderboard(board, df, out / f"{suite}.png", suite, baseline, get_suite(suite).style.paired_by)
    if curves is not None and len(curves):
        plots.validation_curves(curves[curves.run_id.isin(df.run_id)], df, GROUP, _title, out / f"{suite}-curves.png")
    return md, board, left_out


def grid_summary(tracker, suite: str, config_keys: set[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The raw results of one grid's runs (its configuration keys) in the store: only those runs
    are read, whatever the store's size."""
    return raw.from_tracker(tracker, suite, keys=config_keys)


CELLS = "cells"  # the parent run's artifact folder naming each shard's cells (shard-I-of-N.json)


def record_cells(tracker, parent: str, keys: set[str], shard: tuple[int, int] | None) -> None:
    """Name this process's cells on the grid's parent run, so whichever shard closes the grid last tables all of them."""
    i, n = shard or (1, 1)
    tracker.log_json(parent, sorted(keys), f"shard-{i}-of-{n}.json", CELLS)


def close_grid(tracker, parent: str, suite: str, keys: set[str], status: str,
               design: sequential.Design | None = None) -> tuple[pd.DataFrame, int]:
    """The grid's verdict table, difference plot and raw results as the parent run's artifacts, built under the
    store's lock from every finished cell of the grid (every shard's, as named by ``record_cells``, whichever
    finished last); the parent ends with the grid's status (never left RUNNING). Returns the verdict table's rows
    (empty where nothing finished or the summary failed) and how many finished cells it covers."""
    from ..track.stores import creation_lock

    with creation_lock(tracker.uri):
        return _close_grid(tracker, parent, suite, keys, status, design)


def _close_grid(tracker, parent: str, suite: str, keys: set[str], status: str,
                design: sequential.Design | None) -> tuple[pd.DataFrame, int]:
    board, runs = pd.DataFrame(), pd.DataFrame()
    try:
        keys = set(keys).union(*(set(k) for k in tracker.json_artifacts(parent, CELLS)))
        runs, episodes = grid_summary(tracker, suite, keys)
        finished = int((runs.status == "FINISHED").sum()) if len(runs) else 0
        if status == "FAILED" and finished:  # this shard's cells failed, another shard's finished
            status = "FINISHED"
        if len(runs):
            with tempfile.TemporaryDirectory() as d:  # the curves too: leaderboards read them from here, not run by run
                _, board, _ = build_frames(runs, episodes, suite, Path(d), command="python -m benchmark run (this grid)",
                                           curves=raw.curves_from_tracker(tracker, runs), design=design)
                for f in sorted(Path(d).iterdir()):
                    tracker.log_artifact(parent, f)
                _describe(tracker, parent, suite, (Path(d) / f"{suite}.md").read_text(), board)
    except Exception as e:  # a summary must never hide the runs' own results
        tracker.set_tags(parent, {"summary_error": f"{type(e).__name__}: {e}"[:5000]})
    finally:
        tracker.end(parent, status)
    return board, int((runs.status == "FINISHED").sum()) if len(runs) else 0


NOTE = "mlflow.note.content"  # the description MLflow's UI shows on a run's (and an experiment's) overview page
NOTE_MAX = 5000  # characters: within every MLflow store's tag-value limit


def _describe(tracker, parent: str, suite: str, table_md: str, board: pd.DataFrame) -> None:
    """The verdict table on the parent run's own overview page, and the latest grid's verdicts as the
    experiment's description, so the UI shows the comparison without opening an artifact."""
    cut = f"\n\n(cut here: the whole table is this run's `{suite}.md` artifact)"
    note = table_md if len(table_md) <= NOTE_MAX else table_md[: NOTE_MAX - len(cut)] + cut
    tracker.set_tags(parent, {NOTE: note})
    lines = verdict_lines(board)
    if lines:
        head = f"Latest grid: run {parent} (its overview page has the whole table).\n\n```\n"
        text = head + "\n".join(lines).strip("\n")[: NOTE_MAX - len(head) - 4] + "\n```"
        tracker.client.set_experiment_tag(tracker.experiment_id, NOTE, text)


def verdict_lines(board: pd.DataFrame) -> list[str]:
    """The verdict table in the console: per comparison, each algorithm's mean, its paired difference to the
    baseline with the interval, the verdict and the smallest difference these seeds detect (none below 3 seeds)."""
    lines: list[str] = []
    if board is None or board.empty:  # nothing finished, or no baseline run in this grid: no verdict to show
        return lines
    for key, g in board.groupby(GROUP, sort=False):
        d = dict(zip(GROUP, key))
        base = g[g.verdict == "baseline"].algorithm.tolist()
        rule = ("seeds until decided: each comparison judged at its looks by the repeated interval" if "looks" in g else
                "Holm-adjusted p < 0.05 makes a verdict; the 95% interval excludes 0 whenever it does")
        lines += ["", f"verdict: {_title(d)}, against {base[0] if base else '-'} (paired by seed; {rule})"]
        rows = []
        for _, r in g.iterrows():
            tested = r.n >= stats.MIN_SEEDS and not math.isnan(r["diff"])
            diff = (f"{r['diff']:+.2f} [{_fmt(r.diff_lo, '+.2f')}, {_fmt(r.diff_hi, '+.2f')}]" if tested else
                    "-" if math.isnan(r["diff"]) else f"{r['diff']:+.2f}")
            verdict = r.verdict if tested or r.verdict == "baseline" else f"not tested (n < {stats.MIN_SEEDS})"
            if "looks" in g and r.verdict != "baseline" and r.looks:  # a sequential grid: why the row stopped, and where
                verdict += f" ({r.stopped} at look {int(r.looks)}, {r.paired_seeds} seeds, p < {r.boundary:.2g} to reject)"
            rows.append([r.algorithm, str(r.n), _fmt(r["mean"]), diff, verdict, _fmt(r.detectable) if tested else "-"])
        ci = "diff [repeated CI]" if "looks" in g else "diff [95% CI]"
        lines += format_rows(["algorithm", "seeds", "mean %", ci, "verdict", "detectable"], rows)
    return lines


def export(tracker, suite: str, folder: str | Path, merge: bool = False) -> tuple[Path, Path, int]:
    """The store's raw results into ``folder``; ``merge``: keeping the runs already there that
    the store does not hold (the count is returned). A run still RUNNING is no result yet: it is
    left out (its next export, once it has ended, writes it), and so is a RUNNING row already in
    ``folder`` (exported from a store whose machine went before the run ended: it can never end)."""
    runs, episodes = raw.from_tracker(tracker, suite)
    runs = raw.ended(runs)
    if runs.empty and not (merge and raw.paths(folder, suite)[0].is_file()):  # (merged: the folder's table is kept)
        # nothing to write: an empty file would replace (or, merged later, break) a folder's raw results
        raise ValueError(f"no {suite}-suite runs in experiment {tracker.experiment!r} of {tracker.uri}: nothing exported "
                         "(name the runs' experiment with --experiment)")
    curves = raw.curves_from_tracker(tracker, runs)
    kept = 0
    if merge:
        runs, episodes, curves, kept = raw.merged(folder, suite, runs, episodes, curves)
    raw.write_curves(folder, suite, curves)
    return (*raw.write(folder, suite, runs, episodes), kept)

