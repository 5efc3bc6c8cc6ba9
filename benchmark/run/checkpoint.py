"""Per-run checkpoints: written atomically (temp file + rename), verified by a SHA-256
sidecar, loaded with ``torch.load(weights_only=True)``.

A checkpoint holds the algorithm's state (model, optimiser, alpha/heads), the RNG states
(torch's global generator and the run's data generator), the position (epoch or
meta-iteration), the history so far and the MLflow run id to continue. It is named by
the run's configuration key, so the same command finds it again.
"""
from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path
from typing import Any

import torch


class CorruptCheckpointError(RuntimeError):
    pass


def path_for(folder: str | Path, key: str) -> Path:
    return Path(folder) / f"{key}.pt"


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def save(path: str | Path, state: dict[str, Any]) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    torch.save(state, buf)
    data = buf.getvalue()
    for target, content in ((path, data), (path.with_suffix(".sha256"), _digest(data).encode())):
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as f:
            f.write(content)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)


def load(path: str | Path) -> dict[str, Any]:
    """The checkpoint's state; ``CorruptCheckpointError`` if it does not match its digest
    or does not load (never a silently half-loaded state)."""
    path = Path(path)
    data = path.read_bytes()
    side = path.with_suffix(".sha256")
    expected = side.read_text().strip() if side.is_file() else None
    if expected is None or _digest(data) != expected:
        raise CorruptCheckpointError(
            f"checkpoint {path} is corrupted (its SHA-256 does not match {side.name}); delete it or rerun with --force"
        )
    try:
        return torch.load(io.BytesIO(data), weights_only=True)
    except Exception as e:
        raise CorruptCheckpointError(f"checkpoint {path} does not load ({e}); delete it or rerun with --force") from None


def remove(path: str | Path) -> None:
    path = Path(path)
    for p in (path, path.with_suffix(".sha256")):
        p.unlink(missing_ok=True)
