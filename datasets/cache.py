"""Decoded-image cache: decoding 60,000 JPEGs takes a while, reloading a tensor does not.

Entries are keyed by the source's absolute path, size and mtime plus a reader tag, and
loaded with ``torch.load(weights_only=True)``. ``BENCHMARK_CACHE`` sets the folder
(default ``~/.cache/meta-benchmark``); ``BENCHMARK_CACHE=off`` disables caching.
"""
from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch


def cache_dir() -> Path | None:
    value = os.environ.get("BENCHMARK_CACHE", "~/.cache/meta-benchmark")
    if value.lower() in ("off", "0", "none", ""):
        return None
    return Path(value).expanduser()


def _key(source: Path, tag: str) -> str:
    st = source.stat()
    raw = f"{source.resolve()}|{st.st_size}|{st.st_mtime_ns}|{tag}"
    return hashlib.sha1(raw.encode()).hexdigest()[:20]


def cached(source: str | os.PathLike, tag: str, build: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Return ``build()``'s tensors, from the cache when ``source`` has not changed."""
    folder = cache_dir()
    source = Path(source)
    if folder is None:
        return build()
    path = folder / f"{source.name}-{_key(source, tag)}.pt"
    if path.is_file():
        try:
            return torch.load(path, weights_only=True)
        except Exception:  # a damaged cache entry is rebuilt, never trusted
            path.unlink(missing_ok=True)
    value = build()
    folder.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    torch.save(value, tmp)
    os.replace(tmp, path)
    return value
