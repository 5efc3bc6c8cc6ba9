"""``imagefolder``: ``train/<class>/*`` and ``test/<class>/*`` image files, from a folder or
from a .tar/.tar.gz/.zip archive read in place (no extraction).

The ``train``/``test`` folders may sit under one top folder (``cifar10-jpeg/train/...``).
Decoded tensors are cached (``datasets.cache``).
"""
from __future__ import annotations

import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import torch

from .base import ImageSet, Preprocess, SupervisedData
from .cache import cached
from .decode import decode_all
from .errors import DataError, DataNotFoundError, reading
from .splits import carve_validation

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp"}
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".zip")


def _entries(source: Path) -> Iterator[tuple[str, str, str, bytes]]:
    """Yield ``(split, class, member name, bytes)`` for every image under */train|test/<class>/."""

    def parse(name: str):
        parts = name.replace("\\", "/").split("/")
        if len(parts) < 3 or Path(parts[-1]).suffix.lower() not in IMAGE_SUFFIXES:
            return None
        split, cls = parts[-3], parts[-2]
        return (split, cls) if split in ("train", "test") else None

    if source.is_dir():
        for path in sorted(source.rglob("*")):
            if path.is_file() and (p := parse(str(path.relative_to(source)))):
                yield p[0], p[1], str(path), path.read_bytes()
    elif source.name.endswith(".zip"):
        with zipfile.ZipFile(source) as zf:
            for name in zf.namelist():
                if p := parse(name):
                    yield p[0], p[1], name, zf.read(name)
    else:
        with tarfile.open(source, "r:*") as tf:
            for member in tf:
                if member.isfile() and (p := parse(member.name)):
                    yield p[0], p[1], member.name, tf.extractfile(member).read()


def read_imagefolder(source: Path, channels: int = 3, size: int | None = None) -> dict:
    blobs: dict[str, list[tuple[str, str, bytes]]] = {"train": [], "test": []}
    with reading(source):
        for split, cls, name, data in _entries(source):
            blobs[split].append((cls, name, data))
    if not blobs["train"] or not blobs["test"]:
        raise DataError(f"{source} holds no train/<class>/<image> and test/<class>/<image> files")
    classes = sorted({c for c, _, _ in blobs["train"]})
    index = {c: i for i, c in enumerate(classes)}
    unknown = sorted({c for c, _, _ in blobs["test"]} - set(index))
    if unknown:
        raise DataError(f"{source}: test classes {unknown} do not occur in train")
    out: dict = {"classes": classes}
    for split, items in blobs.items():
        items.sort(key=lambda t: (t[0], t[1]))
        images = decode_all((b for _, _, b in items), channels=channels, size=size, names=(n if source.is_dir() else f"{source}:{n}" for _, n, _ in items))
        size = images.shape[-1]
        out[f"{split}_images"] = images
        out[f"{split}_labels"] = torch.tensor([index[c] for c, _, _ in items], dtype=torch.long)
    return out


def guess_paper_dataset(source: Path) -> str | None:
    """Name the paper dataset an image folder holds, from its file name (cifar10-jpeg -> cifar10)."""
    stem = source.name.lower().replace("-", "").replace("_", "")
    for key in ("cifar100", "cifar10", "tinyimagenet"):
        if stem.startswith(key):
            return {"tinyimagenet": "tiny-imagenet"}.get(key, key)
    return None


def load_imagefolder(root: str | Path | None, val_fraction: float = 0.1, channels: int = 3) -> SupervisedData:
    if root is None:
        raise DataNotFoundError("imagefolder needs --data-root: a folder or .tar.gz with train/<class>/* and test/<class>/*")
    source = Path(root).expanduser()
    if not source.exists():
        raise DataNotFoundError(f"imagefolder source {source} does not exist; pass --data-root a folder or archive with train/<class>/* and test/<class>/*")
    if source.is_file() and not source.name.endswith(ARCHIVE_SUFFIXES):
        raise DataError(f"{source} is not a folder or a .tar/.tar.gz/.zip archive")
    if source.is_dir():
        raw = read_imagefolder(source, channels)
    else:
        raw = cached(source, f"imagefolder-v1-c{channels}", lambda: read_imagefolder(source, channels))
    train = ImageSet(raw["train_images"], raw["train_labels"])
    test = ImageSet(raw["test_images"], raw["test_labels"])
    train, val = carve_validation(train, val_fraction)
    size = int(train.images.shape[-1])
    return SupervisedData(
        name="imagefolder", train=train, val=val, test=test, classes=list(raw["classes"]),
        preprocess=Preprocess(normalize="per_image", pad=max(size // 8, 1), flip=True),
        source=str(source), paper_dataset=guess_paper_dataset(source),
    )
