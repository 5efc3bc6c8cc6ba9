"""Every figure of the suite, console and leaderboards alike: training curves like the MLTP paper's, the console's
comparison figures and the leaderboards' accuracy, difference and validation-curve panels, in one style (named
curves and error bars, the baseline marked, chance drawn, distinguishable lines)."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def _save(fig, path: str | Path) -> Path:
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def run_curves(history: Sequence[Mapping[str, float]], title: str, path: str | Path) -> Path:
    """One run: training loss, and train / validation / test accuracy per epoch."""
    ep = [h["epoch"] for h in history]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.8))
    ax1.plot(ep, [h["train_loss"] for h in history], label="train loss")
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("cross-entropy")
    ax1.legend()
    for key, label in (("train_acc", "train"), ("val_acc", "validation"), ("test_acc", "test")):
        pts = [(h["epoch"], 100 * h[key]) for h in history if key in h]  # a profile may test every k epochs only
        if pts:
            ax2.plot(*zip(*pts), label=label, marker="." if len(pts) < len(history) else None)
    ax2.set_xlabel("epoch")
    ax2.set_ylabel("top-1 accuracy (%)")
    ax2.legend()
    fig.suptitle(title)
    return _save(fig, path)


def comparison_curves(curves: Mapping[str, Sequence[Sequence[float]]], title: str, path: str | Path,
                      ylabel: str = "test accuracy (%)", baseline: str | None = None, chance: float | None = None) -> Path:
    """Mean over seeds of a per-epoch accuracy (named by ``ylabel``: validation or test) for each algorithm, its
    min-max band over seeds, the baseline drawn thick and black, chance as a grey line; each algorithm its own
    colour, line style and marker so that overlapping lines stay apart."""
    from matplotlib.patches import Patch

    fig, ax = plt.subplots(figsize=(6.8, 4.2))
    styles = curve_styles(curves)
    markers = "os^vD<>ph*"
    seeds = set()
    for i, (algo, runs) in enumerate(sorted(curves.items())):
        n = min(len(r) for r in runs)
        if n == 0:
            continue
        cols = list(zip(*[r[:n] for r in runs]))
        x = list(range(1, n + 1))
        colour, line = ("black", "-") if algo == baseline else styles[algo]
        ax.plot(x, [100 * sum(c) / len(c) for c in cols], color=colour, linestyle=line, marker=markers[i % len(markers)],
                markevery=max(1, n // 8), markersize=4, linewidth=2.4 if algo == baseline else 1.4,
                label=f"{algo} (n={len(runs)})" + (" - baseline" if algo == baseline else ""))
        if len(runs) > 1:
            ax.fill_between(x, [100 * min(c) for c in cols], [100 * max(c) for c in cols], color=colour, alpha=0.12)
            seeds.add(len(runs))
    handles, labels = ax.get_legend_handles_labels()
    if seeds:
        handles.append(Patch(color="grey", alpha=0.25))
        labels.append("band: min-max over seeds")
    if chance:
        handles.append(ax.axhline(chance, color="grey", linestyle=":", linewidth=1))
        labels.append(f"chance ({chance:.0f}%)")
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.legend(handles, labels, fontsize=7)
    return _save(fig, path)


def episodic_curves(history: Sequence[Mapping[str, float]], title: str, path: str | Path) -> Path:
    """One few-shot run: meta-training loss and validation accuracy against meta-iterations."""
    it = [h["iteration"] for h in history]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.8))
    ax1.plot(it, [h["train_loss"] for h in history], label="meta-train loss")
    ax1.set_xlabel("meta-iteration")
    ax1.legend()
    if "val_acc" in history[0]:
        acc = [100 * h["val_acc"] for h in history]
        ci = [100 * h["val_ci95"] for h in history]
        ax2.errorbar(it, acc, yerr=ci, label="validation (95% CI)", capsize=3)
    if "train_acc" in history[0]:
        ax2.plot(it, [100 * h["train_acc"] for h in history], label="meta-train query")
    ax2.set_xlabel("meta-iteration")
    ax2.set_ylabel("accuracy (%)")
    ax2.legend()
    fig.suptitle(title)
    return _save(fig, path)


def comparison_bars(values: Mapping[str, Sequence[tuple[float, float]]], title: str, path: str | Path,
                    baseline: str | None = None, chance: float | None = None) -> Path:
    """Test accuracy of each algorithm, best first: the mean over seeds (bar), each seed (dot), and as error bars
    the mean of the seeds' 95% intervals over the test episodes (named in the legend); the baseline marked, chance
    drawn."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    names = sorted(values, key=lambda n: -sum(a for a, _ in values[n]) / len(values[n]))
    means = [100 * sum(a for a, _ in values[n]) / len(values[n]) for n in names]
    cis = [100 * sum(c for _, c in values[n]) / len(values[n]) for n in names]
    fig, ax = plt.subplots(figsize=(max(5.5, 0.9 * len(names)) + 3.2, 4.0))
    colours = ["tab:orange" if n == baseline else "tab:blue" for n in names]
    ax.bar(range(len(names)), means, yerr=cis, capsize=4, color=colours, alpha=0.8, error_kw={"elinewidth": 1})
    for i, n in enumerate(names):
        ax.plot([i] * len(values[n]), [100 * a for a, _ in values[n]], "k.", markersize=4)
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right")
    handles = [Patch(color="tab:blue", alpha=0.8), Line2D([], [], color="black", marker="|", linestyle="none"),
               Line2D([], [], color="black", marker=".", linestyle="none")]
    labels = ["mean over seeds", "error bar: 95% CI over the test episodes (mean of the seeds')", "one seed"]
    if baseline in values:
        handles.append(Patch(color="tab:orange", alpha=0.8))
        labels.append(f"baseline ({baseline})")
    if chance:
        handles.append(ax.axhline(chance, color="grey", linestyle=":", linewidth=1))
        labels.append(f"chance ({chance:.0f}%)")
    ax.set_ylim(0, 100)
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(title, fontsize=10)
    ax.legend(handles, labels, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return _save(fig, path)


def _accuracy_panel(ax, g, runs, baseline: str) -> None:
    """Mean over seeds (bars, best first), one dot per seed, std over seeds as error bars,
    the baseline marked, chance drawn, paper values beside; the axis starts at 0."""
    x = list(range(len(g)))
    colours = ["tab:orange" if a == baseline else "tab:blue" for a in g.algorithm]
    ax.bar(x, g["mean"], yerr=g["std"].fillna(0), capsize=3, color=colours, alpha=0.55)
    for i, algo in enumerate(g.algorithm):
        seeds = runs[runs.algorithm == algo].acc.to_numpy()
        offsets = [0.12 * (k - (len(seeds) - 1) / 2) / max(len(seeds), 1) for k in range(len(seeds))]
        ax.scatter([i + o for o in offsets], seeds, color="black", s=9, zorder=3, label="one seed" if i == 0 else None)
    if g.paper.notna().any():
        ax.scatter([i + 0.32 for i in x], g.paper, color="tab:red", marker="_", s=160, zorder=3, label="paper")
    chance = g.chance.dropna()
    if len(chance):
        ax.axhline(float(chance.iloc[0]), color="grey", ls=":", lw=1, label="chance")
    ax.set_xticks(x, [f"{a}\n(baseline)" if a == baseline else a for a in g.algorithm], rotation=25, ha="right", fontsize=7)
    ax.set_ylim(0, 100)
    ax.set_ylabel("test accuracy (%)")
    ax.legend(fontsize=6, loc="lower right")


def _difference_panel(ax, g, baseline: str, interval: str) -> None:
    """Each algorithm's difference to the baseline with its 95% interval, the zero line,
    the paper's claimed difference where known."""
    d = g[g.algorithm != baseline]
    y = list(range(len(d)))[::-1]
    err = [(d["diff"] - d.diff_lo).fillna(0), (d.diff_hi - d["diff"]).fillna(0)]
    ax.errorbar(d["diff"], y, xerr=err, fmt="o", color="tab:blue", capsize=3, label="ours (95% CI)")
    if d.paper_diff.notna().any():
        ax.scatter(d.paper_diff, y, marker="x", color="tab:red", zorder=3, label="paper's difference")
    ax.axvline(0, color="black", lw=0.8)
    ax.set_ylim(-0.7, len(d) - 0.3)
    ax.set_yticks(y, list(d.algorithm), fontsize=7)
    ax.set_xlabel(f"difference to {baseline} (percentage points)")
    ax.set_title(f"95% CI: {interval}", fontsize=8)
    ax.legend(fontsize=6)


def leaderboard(board, runs, path: str | Path, suite: str, baseline: str, paired_by: str) -> Path:
    """One row per table: accuracies (left) and differences to the baseline (right)."""
    groups = list(board.groupby(["dataset", "source", "model", "setting", "profile", "scale"], sort=False, dropna=False))
    fig, axes = plt.subplots(len(groups), 2, figsize=(11, 3.9 * len(groups)), squeeze=False,
                             gridspec_kw={"width_ratios": [3, 2]})
    interval = "two-level bootstrap (seeds, episodes)" if paired_by == "episodes" else "t over seed differences"
    for (key, g), (ax1, ax2) in zip(groups, axes):
        dataset, source, model, setting, profile, scale = key
        r = runs[(runs.dataset == dataset) & (runs.source == source) & (runs.model == model) & (runs.setting == setting)
                 & (runs.profile == profile) & (runs.scale == scale)]
        _accuracy_panel(ax1, g, r, baseline)
        _difference_panel(ax2, g, baseline, interval)
        tuned = "tuned" if g.scale_note.str.contains("tuned hyperparameters").any() else "papers' hyperparameters"
        what = " / ".join(x for x in (dataset + (f" ({source})" if source else ""), model, setting) if x)
        ax1.set_title(f"{suite}: {what} — profile {profile}, {scale} scale, {tuned}, {g.n.max()} seeds\n"
                      "bars: mean over seeds; error bars: std over seeds; dots: seeds", fontsize=8, loc="left")
    fig.tight_layout(h_pad=2)
    return _save(fig, path)


def curve_styles(algorithms) -> dict[str, tuple[str, str]]:
    """(colour, line style) per algorithm, all distinct: ten colours solid, then dashed, then dotted..."""
    styles = ["-", "--", ":", "-."]
    return {a: (f"C{i % 10}", styles[(i // 10) % len(styles)]) for i, a in enumerate(sorted(algorithms))}


def validation_curves(curves, runs, group: list[str], title, path: str | Path) -> Path:
    """One panel per table: each algorithm's validation curve, mean over seeds (thin: each seed).

    An algorithm keeps one colour and line style in every panel (ten colours, then dashed), and the
    legend lists the algorithms by their last mean validation accuracy, top first, as the curves end.
    """
    merged = curves.merge(runs[["run_id", "algorithm", "seed", *group]], on="run_id")
    groups = list(merged.groupby(group, sort=False, dropna=False))
    style = curve_styles(merged.algorithm.unique())
    fig, axes = plt.subplots(1, max(1, len(groups)), figsize=(8 * max(1, len(groups)), 4.2), squeeze=False)
    for ax, (key, g) in zip(axes[0], groups):
        parts = dict(tuple(g.groupby("algorithm")))
        means = {algo: a.groupby("step").val_acc.mean() for algo, a in parts.items()}
        for algo in sorted(means, key=lambda a: -means[a].iloc[-1]):
            color, ls = style[algo]
            for _, s in parts[algo].groupby("seed"):
                ax.plot(s.step, s.val_acc, lw=0.6, alpha=0.35, color=color, ls=ls)
            ax.plot(means[algo].index, means[algo].values, lw=1.8, label=algo, color=color, ls=ls)
        ax.set_title(title(dict(zip(group, key if isinstance(key, tuple) else (key,))) | {"paper_dataset": ""}), fontsize=9)
        ax.set_xlabel("training step (epoch / meta-iteration)")
        ax.set_ylabel("validation accuracy (%)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return _save(fig, path)
