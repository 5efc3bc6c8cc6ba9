"""CUB-200-2011 (Wah et al. 2011): 200 bird species, 11,788 images, resized to 84x84.

Layout: ``root/CUB_200_2011/images/<NNN.Class_name>/*.jpg`` as the official
``CUB_200_2011.tgz`` extracts (``root/CUB_200_2011/CUB_200_2011/images/...`` when it was
extracted into a folder of that name, and ``root/images/...`` are accepted too).
``download=True`` fetches the official archive from CaltechDATA and checks its md5 (the URL
and md5 used by torchvision-style loaders, e.g. TDeVries/cub2011_dataset ``cub2011.py``
and ContinualAI/avalanche ``avalanche/benchmarks/datasets/cub200/cub200.py``; the md5 is the
same as that of the archive's former address, www.vision.caltech.edu/visipedia-data/CUB-200-2011/).

Split: Chen et al. 2019 ("A closer look at few-shot classification", ICLR), as
wyharveychen/CloserLookFewShot ``filelists/CUB/write_CUB_filelist.py`` writes it: the class
folders sorted by name, class ``i`` (0-based) is a training ("base") class if ``i % 2 == 0``,
a validation class if ``i % 4 == 1`` and a test ("novel") class if ``i % 4 == 3``:
100 / 50 / 50 classes. Images are squashed to ``size`` x ``size`` (no crop), decoded once
and cached (``datasets/cache.py``). ``info["split_hash"]`` records the class split
(``datasets.cifar_fs.split_hash``).
"""
from __future__ import annotations

import hashlib
import re
from pathlib import Path

import torch

from .base import Preprocess
from .cache import cached
from .cifar_fs import split_hash
from .decode import decode_all
from .download import download_and_extract
from .episodic import EpisodicData, build_split
from .errors import DataError, DataNotFoundError
from .transforms import channel_stats

URL = "https://data.caltech.edu/records/65de6-vp158/files/CUB_200_2011.tgz"
MD5 = "97eceeb196236b17998738112f37df78"
FILENAME = "CUB_200_2011.tgz"
NUM_CLASSES = 200
CLASS_FOLDER = re.compile(r"^(\d{3})\.(\S+)$")
PARTS = ("train", "val", "test")
LAYOUT = ("expected CUB_200_2011/images/<NNN.Class_name>/*.jpg with the 200 class folders 001.Black_footed_Albatross "
          "... 200.Common_Yellowthroat (the official CUB_200_2011.tgz extracted into --data-root)")


def find_images(root: Path) -> Path | None:
    for base in (root / "CUB_200_2011" / "CUB_200_2011", root / "CUB_200_2011", root):
        if (base / "images").is_dir():
            return base / "images"
    return None


def class_folders(images: Path) -> list[Path]:
    """The 200 class folders, sorted by name; a wrong layout is one ``DataError`` line."""
    folders = sorted((p for p in images.iterdir() if p.is_dir() and not p.name.startswith(".")), key=lambda p: p.name)
    bad = [p.name for p in folders if not CLASS_FOLDER.match(p.name)]
    numbers = sorted(int(CLASS_FOLDER.match(p.name).group(1)) for p in folders if CLASS_FOLDER.match(p.name))
    if bad or numbers != list(range(1, NUM_CLASSES + 1)):
        found = f"found {len(folders)} folders" + (f", e.g. {bad[0]!r}" if bad else "")
        raise DataError(f"CUB-200-2011 at {images} has the wrong layout ({found}): {LAYOUT}")
    return folders


def class_parts(n: int) -> dict[str, list[int]]:
    """CloserLook's split of ``n`` classes sorted by folder name."""
    return {"train": [i for i in range(n) if i % 2 == 0], "val": [i for i in range(n) if i % 4 == 1],
            "test": [i for i in range(n) if i % 4 == 3]}


def _read(images: Path, folders: list[Path], files: list[list[Path]], size: int) -> dict:
    paths = [f for fs in files for f in fs]
    labels = torch.tensor([c for c, fs in enumerate(files) for _ in fs], dtype=torch.long)
    data = decode_all((p.read_bytes() for p in paths), channels=3, size=size, names=(str(p) for p in paths))
    return {"images": data, "labels": labels, "classes": [f.name for f in folders]}


def load_cub(root: str | Path | None, download: bool = False, size: int = 84) -> EpisodicData:
    root = Path(root or "data").expanduser()
    images = find_images(root)
    if images is None and download:
        download_and_extract(URL, root, FILENAME, MD5)
        images = find_images(root)
    if images is None and (root / "CUB_200_2011").is_dir():
        raise DataError(f"CUB-200-2011 at {root / 'CUB_200_2011'} has the wrong layout (no images/ folder): {LAYOUT}")
    if images is None:
        raise DataNotFoundError(f"CUB-200-2011 not found in {root}: {LAYOUT}, or rerun with --download")
    folders = class_folders(images)
    files = [sorted((f for f in d.iterdir() if f.suffix.lower() == ".jpg" and not f.name.startswith(".")),
                    key=lambda f: f.name) for d in folders]
    empty = [d.name for d, fs in zip(folders, files) if not fs]
    if empty:
        raise DataError(f"CUB-200-2011 class folder {images / empty[0]} holds no .jpg images "
                        f"({len(empty)} such folders): {LAYOUT}")
    listing = hashlib.sha1("\n".join(f"{d.name}/{f.name}" for d, fs in zip(folders, files) for f in fs).encode()).hexdigest()[:16]
    d = cached(images, f"cub-{size}-{listing}", lambda: _read(images, folders, files, size))
    keep = class_parts(len(folders))
    splits = {p: build_split(d["images"], d["labels"], list(d["classes"]), keep[p]) for p in PARTS}
    mean, std = channel_stats(splits["train"].images)
    info = {"split": "closerlook", "split_hash": split_hash({p: s.classes for p, s in splits.items()}),
            "classes": "/".join(str(splits[p].num_classes) for p in PARTS), "image_size": size}
    return EpisodicData(
        name="cub", splits=splits, preprocess=Preprocess(normalize="dataset", mean=mean, std=std),
        source=f"{images.parent} (CloserLook split)", paper_dataset="cub", info=info,
    )
