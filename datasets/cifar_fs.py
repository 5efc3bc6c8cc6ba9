"""CIFAR-FS and FC100: few-shot splits of CIFAR-100's 100 classes, 600 images each, 32x32.

Both read the torchvision CIFAR-100 pickles ``root/cifar-100-python/{train,test,meta}``
(the files, md5 checks and ``download=True`` of ``datasets/cifar.py``'s ``cifar100``), and
pool the official train and test images, so every class has all of its 600 images.

* ``cifar-fs`` (Bertinetto et al. 2019, "Meta-learning with differentiable closed-form
  solvers", ICLR): 64 train / 16 validation / 20 test classes, chosen by fine class name.
* ``fc100`` (Oreshkin et al. 2018, "TADAM: Task dependent adaptive metric for improved
  few-shot learning", NeurIPS): split by CIFAR-100 superclass (the pickles' ``coarse_labels``),
  12 / 4 / 4 superclasses = 60 / 20 / 20 classes, so no test class shares a superclass with
  a training class.

Sources of the class lists (facts, no code copied):
* CIFAR-FS: the ``[superclass, class]`` lists of tristandeleu/pytorch-meta (Torchmeta)
  ``torchmeta/datasets/assets/cifar100/cifar-fs/{train,val,test}.json``, Torchmeta's copy of
  Bertinetto et al.'s ``splits/bertinetto/{train,val,test}.txt`` (bertinetto/r2d2).
* FC100: TADAM's superclass indices ``train {1, 2, 3, 4, 5, 6, 9, 10, 15, 17, 18, 19}``,
  ``val {8, 11, 13, 16}``, ``test {0, 7, 12, 14}`` (the ``class_split`` of ElementAI/TADAM's
  CIFAR-100 dataset script), which name the same superclasses as Torchmeta's
  ``torchmeta/datasets/assets/cifar100/fc100/{train,test}.json`` and
  ``torchmeta/datasets/assets/cifar100/val.json``.

``info["split_hash"]`` (see ``split_hash``) records which class split a run used.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch

from .base import Preprocess
from .cifar import CIFAR, _files, _read
from .download import download_and_extract, md5sum
from .episodic import EpisodicData, build_split
from .errors import CorruptDataError, DataError, DataNotFoundError, IntegrityError
from .transforms import channel_stats

PARTS = ("train", "val", "test")
VARIANTS = ("cifar-fs", "fc100")

# CIFAR-FS (Bertinetto et al. 2019), by CIFAR-100 fine class name.
CIFAR_FS_CLASSES: dict[str, tuple[str, ...]] = {
    "train": (
        "apple", "aquarium_fish", "bear", "bee", "bottle", "bowl", "boy", "bridge", "bus", "can", "castle",
        "caterpillar", "chair", "clock", "cloud", "cockroach", "couch", "cup", "dinosaur", "dolphin", "elephant",
        "forest", "girl", "hamster", "house", "kangaroo", "keyboard", "lawn_mower", "lion", "lizard", "lobster",
        "mountain", "mouse", "mushroom", "oak_tree", "orange", "orchid", "palm_tree", "pear", "pine_tree", "plate",
        "porcupine", "possum", "rabbit", "raccoon", "ray", "road", "seal", "shrew", "skunk", "skyscraper", "snake",
        "spider", "squirrel", "streetcar", "sunflower", "tank", "tiger", "train", "trout", "tulip", "turtle",
        "willow_tree", "wolf",
    ),
    "val": (
        "beaver", "beetle", "butterfly", "camel", "cattle", "crab", "crocodile", "flatfish", "lamp", "maple_tree",
        "motorcycle", "otter", "sea", "shark", "television", "tractor",
    ),
    "test": (
        "baby", "bed", "bicycle", "chimpanzee", "fox", "leopard", "man", "pickup_truck", "plain", "poppy", "rocket",
        "rose", "snail", "sweet_pepper", "table", "telephone", "wardrobe", "whale", "woman", "worm",
    ),
}

# FC100 (Oreshkin et al. 2018): CIFAR-100 superclass (coarse label) indices, with their names
# in the meta file's ``coarse_label_names`` order, checked against the meta file when it has them.
FC100_SUPERCLASSES: dict[str, dict[int, str]] = {
    "train": {
        1: "fish", 2: "flowers", 3: "food_containers", 4: "fruit_and_vegetables", 5: "household_electrical_devices",
        6: "household_furniture", 9: "large_man-made_outdoor_things", 10: "large_natural_outdoor_scenes",
        15: "reptiles", 17: "trees", 18: "vehicles_1", 19: "vehicles_2",
    },
    "val": {8: "large_carnivores", 11: "large_omnivores_and_herbivores", 13: "non-insect_invertebrates", 16: "small_mammals"},
    "test": {0: "aquatic_mammals", 7: "insects", 12: "medium_mammals", 14: "people"},
}


def split_hash(splits: dict[str, list[str]]) -> str:
    """sha256 (first 16 hex digits) of each split's sorted class names, one line per split in
    train, val, test order: ``"train:" + ",".join(sorted(names))``, lines joined by newlines."""
    lines = [f"{p}:" + ",".join(sorted(splits[p])) for p in PARTS if p in splits]
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]


def _cifar100_folder(root: Path, download: bool, verify: bool, title: str) -> Path:
    """The checked ``cifar-100-python`` folder (downloading it first with ``download``)."""
    spec = CIFAR["cifar100"]
    folder = root / spec["folder"]
    files = _files(spec)
    if download and not all((folder / f).is_file() and md5sum(folder / f) == m for f, m in files):
        download_and_extract(spec["url"], root, spec["filename"], spec["md5"])
    missing = [f for f, _ in files if not (folder / f).is_file()]
    if missing:
        raise DataNotFoundError(
            f"{title} needs CIFAR-100: {folder} lacks {', '.join(missing)}; put the python-version pickles "
            f"(train, test, meta: torchvision layout) there or rerun with --download"
        )
    if verify:
        for f, m in files:
            if md5sum(folder / f) != m:
                raise IntegrityError(f"CIFAR-100 file {folder / f} is corrupted (md5 mismatch); "
                                     "delete it and rerun with --download")
    return folder


def _read_pooled(folder: Path) -> dict:
    """All 60,000 images (train then test pickle) with their fine and coarse labels, and the meta names."""
    images, fine, coarse = [], [], []
    for name in ("train", "test"):
        entry = _read(folder / name)
        if "coarse_labels" not in entry or "fine_labels" not in entry:
            raise CorruptDataError(f"{folder / name} has no fine_labels/coarse_labels: not a CIFAR-100 pickle; "
                                   "delete it and rerun with --download")
        images.append(np.asarray(entry["data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
        fine.extend(entry["fine_labels"])
        coarse.extend(entry["coarse_labels"])
    meta = _read(folder / "meta")
    return {
        "images": torch.from_numpy(np.concatenate(images)), "fine": torch.tensor(fine, dtype=torch.long),
        "coarse": torch.tensor(coarse, dtype=torch.long), "fine_names": list(meta["fine_label_names"]),
        "coarse_names": list(meta.get("coarse_label_names", [])),
    }


def _cifar_fs_keep(d: dict, folder: Path) -> dict[str, list[int]]:
    index = {n: i for i, n in enumerate(d["fine_names"])}
    missing = [c for p in PARTS for c in CIFAR_FS_CLASSES[p] if c not in index]
    if missing:
        raise DataError(f"{folder / 'meta'} lacks CIFAR-FS classes ({', '.join(missing[:3])}, ...): not the CIFAR-100 "
                        "meta file; delete cifar-100-python and rerun with --download")
    return {p: sorted(index[c] for c in CIFAR_FS_CLASSES[p]) for p in PARTS}


def _fc100_keep(d: dict, folder: Path) -> dict[str, list[int]]:
    names = d["coarse_names"]
    for p in PARTS:
        for i, expected in FC100_SUPERCLASSES[p].items():
            if names and (i >= len(names) or names[i] != expected):
                raise DataError(f"{folder / 'meta'}: superclass {i} is not {expected!r}: not the CIFAR-100 meta file; "
                                "delete cifar-100-python and rerun with --download")
    pairs = torch.unique(torch.stack([d["fine"], d["coarse"]], 1), dim=0).tolist()
    if len({f for f, _ in pairs}) != len(pairs):
        raise CorruptDataError(f"{folder}: a fine class has images under two superclasses: not the CIFAR-100 pickles; "
                               "delete cifar-100-python and rerun with --download")
    return {p: sorted(f for f, c in pairs if c in FC100_SUPERCLASSES[p]) for p in PARTS}


def load_cifar_fs(root: str | Path, download: bool = False, split: str = "cifar-fs", verify: bool = True) -> EpisodicData:
    """CIFAR-FS (``split="cifar-fs"``) or FC100 (``split="fc100"``) from the CIFAR-100 pickles in ``root``."""
    if split not in VARIANTS:
        raise DataError(f"unknown CIFAR-100 few-shot split {split!r}; valid: {', '.join(VARIANTS)}")
    title = "CIFAR-FS" if split == "cifar-fs" else "FC100"
    folder = _cifar100_folder(Path(root).expanduser(), download, verify, title)
    d = _read_pooled(folder)
    keep = (_cifar_fs_keep if split == "cifar-fs" else _fc100_keep)(d, folder)
    splits = {p: build_split(d["images"], d["fine"], d["fine_names"], keep[p]) for p in PARTS}
    mean, std = channel_stats(splits["train"].images)
    info = {"split": split, "split_hash": split_hash({p: s.classes for p, s in splits.items()}),
            "classes": "/".join(str(splits[p].num_classes) for p in PARTS)}
    if split == "fc100":
        info["superclasses"] = "; ".join(f"{p}: " + ",".join(FC100_SUPERCLASSES[p].values()) for p in PARTS)
    return EpisodicData(
        name=split, splits=splits, preprocess=Preprocess(normalize="dataset", mean=mean, std=std),
        source=f"{folder} ({title}: CIFAR-100 train+test pooled)", paper_dataset=split, info=info,
    )
