"""miniImageNet (Vinyals et al.; Ravi & Larochelle splits): 100 classes x 600 images, 84x84.

Two on-disk formats under ``root/mini-imagenet`` (or ``root`` itself):
* image folders with split CSVs: ``images/*.jpg`` and ``train.csv``, ``val.csv``,
  ``test.csv`` (``filename,label``), as released by Ravi & Larochelle;
* the widely used pickles ``mini-imagenet-cache-{train,val,test}.pkl`` (dicts with
  ``image_data`` [N, 84, 84, 3] uint8 and ``class_dict`` {wnid: [indices]}).

Splits: ``ravi`` (64 train / 16 validation / 20 test classes) or ``mtl`` (the
Meta-Transfer Learning paper's 64 train / 36 test: validation and test classes merged;
it has no class-disjoint validation split). There is no official download.
"""
from __future__ import annotations

import csv
import pickle
from pathlib import Path

import numpy as np
import torch

from .base import Preprocess
from .cache import cached
from .decode import decode_all
from .episodic import ClassSplit, EpisodicData
from .errors import DataError, DataNotFoundError
from .transforms import channel_stats

SPLITS = ("ravi", "mtl")
PARTS = ("train", "val", "test")


def _base(root: Path) -> Path:
    return root / "mini-imagenet" if (root / "mini-imagenet").is_dir() else root


def _read_csv_part(base: Path, part: str, size: int) -> dict:
    rows = list(csv.DictReader(open(base / f"{part}.csv", newline="")))
    classes = sorted({r["label"] for r in rows})
    index = {c: i for i, c in enumerate(classes)}
    rows.sort(key=lambda r: (index[r["label"]], r["filename"]))
    missing = [r["filename"] for r in rows if not (base / "images" / r["filename"]).is_file()]
    if missing:
        raise DataNotFoundError(f"miniImageNet: {len(missing)} images of {part}.csv missing from {base / 'images'} (e.g. {missing[0]})")
    images = decode_all(((base / "images" / r["filename"]).read_bytes() for r in rows), channels=3, size=size)
    return {"images": images, "labels": torch.tensor([index[r["label"]] for r in rows]), "classes": classes}


def _read_pickle_part(base: Path, part: str, size: int) -> dict:
    with open(base / f"mini-imagenet-cache-{part}.pkl", "rb") as f:
        d = pickle.load(f)
    data = np.asarray(d["image_data"], dtype=np.uint8)
    classes = sorted(d["class_dict"])
    idx, labels = [], []
    for i, c in enumerate(classes):
        idx += list(d["class_dict"][c])
        labels += [i] * len(d["class_dict"][c])
    images = torch.from_numpy(data[np.asarray(idx)]).permute(0, 3, 1, 2).contiguous()
    if images.shape[-1] != size:
        images = torch.nn.functional.interpolate(images.float(), size=(size, size), mode="bilinear", antialias=True).round().clamp(0, 255).to(torch.uint8)
    return {"images": images, "labels": torch.tensor(labels), "classes": classes}


def detect_format(base: Path) -> str | None:
    if all((base / f"{p}.csv").is_file() for p in PARTS) and (base / "images").is_dir():
        return "csv"
    if all((base / f"mini-imagenet-cache-{p}.pkl").is_file() for p in PARTS):
        return "pickle"
    return None


def load_mini_imagenet(root: str | Path | None, split: str = "ravi", size: int = 84) -> EpisodicData:
    if split not in SPLITS:
        raise DataError(f"unknown miniImageNet split {split!r}; valid: {', '.join(SPLITS)}")
    base = _base(Path(root or "data").expanduser())
    fmt = detect_format(base)
    if fmt is None:
        raise DataNotFoundError(
            f"miniImageNet not found in {base}: put images/ with train.csv, val.csv, test.csv there, "
            "or mini-imagenet-cache-{train,val,test}.pkl (there is no automatic download)"
        )
    reader = _read_csv_part if fmt == "csv" else _read_pickle_part
    anchor = base / ("test.csv" if fmt == "csv" else "mini-imagenet-cache-test.pkl")
    parts = {p: cached(anchor, f"mini-imagenet-{fmt}-{p}-{size}", lambda p=p: reader(base, p, size)) for p in PARTS}
    splits = {p: ClassSplit(parts[p]["images"], parts[p]["labels"], list(parts[p]["classes"])) for p in PARTS}
    if split == "mtl":
        v, t = splits.pop("val"), splits["test"]
        splits["test"] = ClassSplit(
            torch.cat([v.images, t.images]), torch.cat([v.labels, t.labels + v.num_classes]), v.classes + t.classes
        )
    mean, std = channel_stats(splits["train"].images)
    return EpisodicData(
        name="mini-imagenet", splits=splits, preprocess=Preprocess(normalize="dataset", mean=mean, std=std),
        source=f"{base} ({fmt})", paper_dataset="mini-imagenet" if split == "ravi" else "mini-imagenet-64-36",
        info={"split": split, "format": fmt},
    )
