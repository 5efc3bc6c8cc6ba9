"""Tiny-ImageNet-200 in its official folder layout.

``root/tiny-imagenet-200/{wnids.txt, train/<wnid>/images/*.JPEG, val/images/*.JPEG,
val/val_annotations.txt}``. As in the MLTP paper, the 10,000 official validation
images are the *test* split; our validation split is carved from the training images.
"""
from __future__ import annotations

from pathlib import Path

import torch

from .base import ImageSet, Preprocess, SupervisedData
from .cache import cached
from .decode import decode_all
from .download import download_and_extract
from .errors import DataError, DataNotFoundError
from .splits import carve_validation
from .transforms import channel_stats

URL = "http://cs231n.stanford.edu/tiny-imagenet-200.zip"
FILENAME = "tiny-imagenet-200.zip"
MD5 = "90528d7ca1a48142e341f4ef8d21d0de"
FOLDER = "tiny-imagenet-200"


def read_tiny_imagenet(folder: Path) -> dict:
    wnids = [w.strip() for w in (folder / "wnids.txt").read_text().split() if w.strip()]
    index = {w: i for i, w in enumerate(wnids)}
    train_files, train_labels = [], []
    for w in wnids:
        files = sorted((folder / "train" / w / "images").glob("*.JPEG"))
        if not files:
            raise DataError(f"Tiny-ImageNet class {w} has no images in {folder / 'train' / w / 'images'}")
        train_files += files
        train_labels += [index[w]] * len(files)
    val_files, val_labels = [], []
    for line in (folder / "val" / "val_annotations.txt").read_text().splitlines():
        parts = line.split("\t")
        if len(parts) >= 2:
            val_files.append(folder / "val" / "images" / parts[0])
            val_labels.append(index[parts[1]])
    return {
        "classes": wnids,
        "train_images": decode_all((f.read_bytes() for f in train_files), size=64),
        "train_labels": torch.tensor(train_labels, dtype=torch.long),
        "test_images": decode_all((f.read_bytes() for f in val_files), size=64),
        "test_labels": torch.tensor(val_labels, dtype=torch.long),
    }


def load_tiny_imagenet(root: str | Path, download: bool = False, val_fraction: float = 0.1) -> SupervisedData:
    root = Path(root).expanduser()
    folder = root / FOLDER
    if download and not (folder / "wnids.txt").is_file():
        download_and_extract(URL, root, FILENAME, MD5)
    needed = [folder / "wnids.txt", folder / "val" / "val_annotations.txt", folder / "train"]
    if not all(p.exists() for p in needed):
        raise DataNotFoundError(
            f"Tiny-ImageNet not found in {folder}; unzip tiny-imagenet-200.zip into {root} or rerun with --download"
        )
    raw = cached(folder / "val" / "val_annotations.txt", "tiny-imagenet-v1", lambda: read_tiny_imagenet(folder))
    train = ImageSet(raw["train_images"], raw["train_labels"])
    test = ImageSet(raw["test_images"], raw["test_labels"])
    train, val = carve_validation(train, val_fraction)
    mean, std = channel_stats(train.images)  # the training set's statistics (protocols.md)
    return SupervisedData(
        name="tiny-imagenet", train=train, val=val, test=test, classes=list(raw["classes"]),
        preprocess=Preprocess(normalize="dataset", mean=mean, std=std, pad=8, flip=True),
        source=str(folder), paper_dataset="tiny-imagenet",
    )
