"""MTL against its parent, curve by curve (issue 26): validation accuracy and the supervised
branch's loss per evaluation point of every run in an MLflow store, as raw CSV and a figure.

    python scripts/mtl_curves.py --tracking-uri sqlite:///stores/mtl/mlflow.db --out leaderboards/mtl-curves
    python scripts/mtl_curves.py --from leaderboards/mtl-curves/curves.csv --out leaderboards/mtl-curves  # figure only
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

METRICS = ("val_acc", "supervised_loss", "train_loss", "test_acc")
SHOWN = ("lr", "disc_optimizer", "disc_lr", "beta")  # the hyperparameters that tell the variants apart


def export(uri: str, experiment: str) -> pd.DataFrame:
    from mlflow.tracking import MlflowClient

    c = MlflowClient(tracking_uri=uri)
    exp = c.get_experiment_by_name(experiment)
    rows = []
    for r in c.search_runs([exp.experiment_id]):
        t, p = r.data.tags, r.data.params
        if t.get("grid_parent") == "1" or r.info.status != "FINISHED":
            continue
        hp = {k[3:]: v for k, v in p.items() if k.startswith("hp.") and k[3:] in SHOWN}
        label = t["algorithm"] + (" (" + ", ".join(f"{k} {v}" for k, v in sorted(hp.items())) + ")" if hp else "")
        for m in METRICS:
            for h in c.get_metric_history(r.info.run_id, m):
                rows.append({"run_id": r.info.run_id, "algorithm": t["algorithm"], "label": label, "seed": int(t["seed"]),
                             "setting": t.get("setting", ""), "commit": t.get("git_commit", ""), "metric": m,
                             "iteration": h.step, "value": h.value, "hparams": json.dumps(hp, sort_keys=True)})
    return pd.DataFrame(rows).sort_values(["label", "metric", "iteration"])


def figure(curves: pd.DataFrame, path: Path) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.5))
    for ax, metric, title in ((axes[0], "val_acc", "validation accuracy (fixed episodes)"),
                              (axes[1], "supervised_loss", "MTL's supervised loss (608-way head)")):
        for label, g in curves[curves.metric == metric].groupby("label"):
            scale = 100 if metric == "val_acc" else 1
            ax.plot(g.iteration, scale * g.value, marker="o", ms=3, label=label)
        ax.set_xlabel("meta-iteration")
        ax.set_ylabel("%" if metric == "val_acc" else "cross-entropy")
        ax.set_title(title)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7, loc="lower right")
    axes[1].legend(fontsize=7, loc="upper right")
    fig.suptitle(f"{', '.join(sorted(set(curves.setting)))}, seed {' '.join(map(str, sorted(set(curves.seed))))}: "
                 "MTL (protocol v2: the parent's full meta step, supervised Adam) vs its parent")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--tracking-uri", nargs="+", help="one or more stores (their runs together)")
    src.add_argument("--from", dest="csv")
    ap.add_argument("--experiment", default="fewshot")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    curves = (pd.concat([export(u, a.experiment) for u in a.tracking_uri]) if a.tracking_uri else pd.read_csv(a.csv))
    if a.tracking_uri:
        curves.to_csv(out / "curves.csv", index=False)
    figure(curves, out / "curves.png")
    print(f"{curves.run_id.nunique()} runs -> {out / 'curves.csv'}, {out / 'curves.png'}")


if __name__ == "__main__":
    main()
