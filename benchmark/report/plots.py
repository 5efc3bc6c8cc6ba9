"""Training-curve figures like the MLTP paper's (accuracy and loss against epochs)."""
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
        if key in history[0]:
            ax2.plot(ep, [100 * h[key] for h in history], label=label)
    ax2.set_xlabel("epoch")
    ax2.set_ylabel("top-1 accuracy (%)")
    ax2.legend()
    fig.suptitle(title)
    return _save(fig, path)


def comparison_curves(curves: Mapping[str, Sequence[Sequence[float]]], title: str, path: str | Path, ylabel: str = "test accuracy (%)") -> Path:
    """Mean (and min-max band over seeds) of a per-epoch accuracy for each algorithm."""
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for algo, runs in curves.items():
        n = min(len(r) for r in runs)
        if n == 0:
            continue
        cols = list(zip(*[r[:n] for r in runs]))
        mean = [100 * sum(c) / len(c) for c in cols]
        lo = [100 * min(c) for c in cols]
        hi = [100 * max(c) for c in cols]
        x = list(range(1, n + 1))
        ax.plot(x, mean, label=f"{algo} (n={len(runs)})")
        if len(runs) > 1:
            ax.fill_between(x, lo, hi, alpha=0.15)
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=8)
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


def comparison_bars(values: Mapping[str, Sequence[tuple[float, float]]], title: str, path: str | Path) -> Path:
    """Test accuracy of each algorithm (mean over seeds) with the mean 95% CI as error bars."""
    names = list(values)
    means = [100 * sum(a for a, _ in values[n]) / len(values[n]) for n in names]
    cis = [100 * sum(c for _, c in values[n]) / len(values[n]) for n in names]
    fig, ax = plt.subplots(figsize=(max(5, 0.9 * len(names)), 3.8))
    ax.bar(range(len(names)), means, yerr=cis, capsize=4, color="tab:blue", alpha=0.8)
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(title)
    return _save(fig, path)
