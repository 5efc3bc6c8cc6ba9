"""Per-run checkpoints: one file that carries its own SHA-256 digest, written atomically
(a temporary file in the same folder, fsync, ``os.replace``; the temporary file is
removed on any failure, a full disk included), loaded with ``torch.load(weights_only=True)``.

A checkpoint holds the algorithm's state (model, optimiser, alpha/heads), the RNG states
(torch's global generator and the run's data generator), the loop's position, the
history so far and the MLflow run id to continue. It is named by the store, the
experiment and the run's configuration key, so the same command on the same store finds
it again and two stores never resume from each other's checkpoints.
"""
from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path
from typing import Any

import torch

MAGIC = b"meta-benchmark checkpoint v2\n"


class CorruptCheckpointError(RuntimeError):
    pass


def path_for(folder: str | Path, key: str, store: str = "") -> Path:
    """``<key>-<hash of store and experiment>.pt`` in ``folder``."""
    tag = hashlib.sha256(store.encode()).hexdigest()[:8] if store else "local"
    return Path(folder) / f"{key}-{tag}.pt"


def _digest(data: bytes) -> bytes:
    return hashlib.sha256(data).hexdigest().encode()


def save(path: str | Path, state: dict[str, Any]) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    torch.save(state, buf)
    data = buf.getvalue()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(MAGIC + _digest(data) + b"\n" + data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)  # the old checkpoint stays whole until this instant
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def load(path: str | Path) -> dict[str, Any]:
    """The checkpoint's state; ``CorruptCheckpointError`` if it does not match its digest
    or does not load (never a silently half-loaded state)."""
    path = Path(path)
    blob = path.read_bytes()
    head, digest, data = blob[: len(MAGIC)], blob[len(MAGIC): len(MAGIC) + 64], blob[len(MAGIC) + 65:]
    if head != MAGIC or _digest(data) != digest:
        raise CorruptCheckpointError(f"checkpoint {path} is corrupted (its content does not match its SHA-256); "
                                     "delete it or rerun with --force")
    try:
        return torch.load(io.BytesIO(data), weights_only=True)
    except Exception as e:
        raise CorruptCheckpointError(f"checkpoint {path} does not load ({e}); delete it or rerun with --force") from None


def remove(path: str | Path) -> None:
    Path(path).unlink(missing_ok=True)
