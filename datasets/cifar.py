"""CIFAR-10 and CIFAR-100 in the torchvision on-disk format (python pickles).

``root/cifar-10-batches-py/{data_batch_1..5,test_batch,batches.meta}`` and
``root/cifar-100-python/{train,test,meta}``; ``download=True`` fetches the official
archive, checks its md5 and extracts it. Every file is checked against its md5.
"""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import torch

from .base import ImageSet, Preprocess, SupervisedData
from .download import download_and_extract, md5sum
from .errors import DataNotFoundError, IntegrityError
from .splits import carve_validation

CIFAR = {
    "cifar10": {
        "title": "CIFAR-10",
        "folder": "cifar-10-batches-py",
        "url": "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
        "filename": "cifar-10-python.tar.gz",
        "md5": "c58f30108f718f92721af3b95e74349a",
        "train": [
            ("data_batch_1", "c99cafc152244af753f735de768cd75f"),
            ("data_batch_2", "d4bba439e000b95fd0a9bffe97cbabec"),
            ("data_batch_3", "54ebc095f3ab1f0389bbae665268c751"),
            ("data_batch_4", "634d18415352ddfa80567beed471001a"),
            ("data_batch_5", "482c414d41f54cd18b22e5b47cb7c3cb"),
        ],
        "test": [("test_batch", "40351d587109b95175f43aff81a1287e")],
        "meta": ("batches.meta", "5ff9c542aee3614f3951f8cda6e48888", "label_names"),
        "label_key": "labels",
    },
    "cifar100": {
        "title": "CIFAR-100",
        "folder": "cifar-100-python",
        "url": "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
        "filename": "cifar-100-python.tar.gz",
        "md5": "eb9058c3a382ffc7106e4002c42a8d85",
        "train": [("train", "16019d7e3df5f24257cddd939b257f8d")],
        "test": [("test", "f0ef6b0ae62326f3e7ffdfab6717acfc")],
        "meta": ("meta", "7973b15100ade9c7d40fb424638fde48", "fine_label_names"),
        "label_key": "fine_labels",
    },
}

# The paper's CIFAR protocol (protocols.md): per-image standardisation, pad 4 + crop, flip.
CIFAR_PREPROCESS = Preprocess(normalize="per_image", pad=4, flip=True)


def _files(spec: dict) -> list[tuple[str, str]]:
    return spec["train"] + spec["test"] + [spec["meta"][:2]]


def _read(path: Path) -> dict:
    with open(path, "rb") as f:
        return pickle.load(f, encoding="latin1")


def _load_split(folder: Path, files: list[tuple[str, str]], label_key: str) -> ImageSet:
    data, labels = [], []
    for name, _ in files:
        entry = _read(folder / name)
        data.append(np.asarray(entry["data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
        labels.extend(entry[label_key])
    return ImageSet(torch.from_numpy(np.concatenate(data)), torch.tensor(labels, dtype=torch.long))


def load_cifar(name: str, root: str | Path, download: bool = False, val_fraction: float = 0.1, verify: bool = True) -> SupervisedData:
    spec = CIFAR[name]
    root = Path(root).expanduser()
    folder = root / spec["folder"]
    if download:
        ok = all((folder / f).is_file() and md5sum(folder / f) == m for f, m in _files(spec))
        if not ok:
            download_and_extract(spec["url"], root, spec["filename"], spec["md5"])
    missing = [f for f, _ in _files(spec) if not (folder / f).is_file()]
    if missing:
        raise DataNotFoundError(
            f"{spec['title']} not found: {folder} lacks {', '.join(missing)}; put the python-version "
            f"batches there (torchvision layout) or rerun with --download"
        )
    if verify:
        for f, m in _files(spec):
            if md5sum(folder / f) != m:
                raise IntegrityError(
                    f"{spec['title']} file {folder / f} is corrupted (md5 mismatch); delete it and rerun with --download"
                )
    train = _load_split(folder, spec["train"], spec["label_key"])
    test = _load_split(folder, spec["test"], spec["label_key"])
    classes = list(_read(folder / spec["meta"][0])[spec["meta"][2]])
    train, val = carve_validation(train, val_fraction)
    return SupervisedData(
        name=name, train=train, val=val, test=test, classes=classes,
        preprocess=CIFAR_PREPROCESS, source=str(folder), paper_dataset=name,
    )
