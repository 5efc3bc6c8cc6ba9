"""Trained models as assets: a FINISHED run keeps its final and best-validation weights as
MLflow artifacts (``weights/final.pt``, ``weights/best.pt``: ``torch.save`` of the model's
state dict and the algorithm's own tensors, loaded with ``weights_only=True``) and
``weights/model.json`` with what rebuilds the model (suite, model, algorithm,
hyperparameters, classifier size, input shape, normalisation)."""
from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import torch

from ..suites import get_suite

KEEP = ("none", "best", "final", "both")


def save(tracker, run_id: str, spec, algorithm, best: dict, keep: str, data) -> dict[str, float]:
    """Log the weights ``keep`` asks for; return their sizes in MB (logged as metrics)."""
    if keep == "none":
        return {}
    from .loop import weights

    sizes: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as d:
        folder = Path(d) / "weights"
        folder.mkdir()
        chosen = {"final": weights(algorithm)} if keep in ("final", "both") else {}
        if keep in ("best", "both") and "weights" in best:
            chosen["best"] = best["weights"]
        for name, state in chosen.items():
            path = folder / f"{name}.pt"
            torch.save(state, path)
            sizes[f"weights_{name}_mb"] = path.stat().st_size / 2**20
        meta = {"suite": spec.suite, "model": spec.model, "algorithm": spec.algorithm, "hparams": spec.hparams_dict(),
                "outputs": int(get_suite(spec.suite).outputs(spec, data)),
                "train_classes": algorithm.train_classes, "in_channels": int(data.in_channels), "image_size": int(data.image_size),
                "preprocess": str(data.preprocess), "dataset": spec.dataset, "setting": spec.setting,
                "best_round": best.get("round"), "best_val_acc": best.get("val_acc"), "kept": sorted(chosen)}
        (folder / "model.json").write_text(json.dumps(meta, indent=2, sort_keys=True, default=str))
        tracker.client.log_artifacts(run_id, str(folder), "weights")
    return sizes


def check(tracker, run_id: str, which: str) -> None:
    """ValueError (one line) unless the run kept ``which`` weights: checked for every source
    before any evaluation starts."""
    with tempfile.TemporaryDirectory() as d:
        try:
            meta = json.loads(Path(tracker.client.download_artifacts(run_id, "weights/model.json", d)).read_text())
        except Exception:
            raise ValueError(f"run {run_id} kept no weights (it predates kept weights, or ran with --keep-weights none); "
                             "rerun it with --force to train it again") from None
    if which not in meta.get("kept", []):
        raise ValueError(f"run {run_id} kept {', '.join(meta.get('kept', [])) or 'no'} weights, not {which!r}")


def load(tracker, run_id: str, which: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(model.json, state) of a run; ValueError (one line) when the run kept no such weights."""
    with tempfile.TemporaryDirectory() as d:
        try:
            meta_path = tracker.client.download_artifacts(run_id, "weights/model.json", d)
        except Exception:
            raise ValueError(f"run {run_id} kept no weights (it predates kept weights, or ran with --keep-weights none); "
                             "rerun it with --force to train it again") from None
        meta = json.loads(Path(meta_path).read_text())
        if which not in meta.get("kept", []):
            raise ValueError(f"run {run_id} kept {', '.join(meta.get('kept', [])) or 'no'} weights, not {which!r}; "
                             f"use --weights {' or '.join(meta.get('kept', [])) or 'final'}")
        try:
            path = tracker.client.download_artifacts(run_id, f"weights/{which}.pt", d)
        except Exception:
            raise ValueError(f"run {run_id}: its weights/{which}.pt is missing from the artifact store (deleted?); "
                             "rerun it with --force to train it again") from None
        try:
            state = torch.load(path, weights_only=True)
        except Exception as e:
            cause = (str(e).splitlines() or [type(e).__name__])[0].split(". ")[0][:120]
            raise ValueError(f"run {run_id}: its weights/{which}.pt cannot be read ({cause}); "
                             "the file is truncated or corrupt: rerun the run with --force to train it again") from None
    return meta, state
