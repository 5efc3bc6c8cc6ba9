"""Omniglot (Lake et al.): 1,623 characters from 50 alphabets, 20 drawers each, at 28x28.

Sources, read in place (zips are never extracted):
* torchvision layout ``root/omniglot-py/images_{background,evaluation}/<alphabet>/<character>/*.png``
  (folders or the official ``.zip`` files there); ``download=True`` fetches the official zips
  (md5-checked);
* any folder of Omniglot zips with the official inner layout, such as
  ``../shared/data/omniglot`` (``images_background_small1.zip``, ``..._small2.zip``), or one zip.
Characters present in several sources (Greek and Latin in small1 and small2) are read once.

Splits:
* ``characters`` (Vinyals et al.): classes shuffled with a fixed seed; 1,200 of 1,623 for
  meta-training (1,100 train + 100 validation), 423 for test; the same proportions on a
  subset; every split's classes get x4 rotations (90/180/270 degrees) as new classes
  (MAML's and ProtoNet's protocol).
* ``alphabets``: whole alphabets are held out (1/8 validation, 1/4 test, at least one
  each), so test characters come from scripts never seen in training.
"""
from __future__ import annotations

import zipfile
from collections.abc import Iterator
from pathlib import Path

import torch

from .base import Preprocess
from .cache import cached
from .decode import decode_all
from .download import download_url
from .episodic import EpisodicData, build_split, split_classes
from .errors import DataError, DataNotFoundError, reading

URL_PREFIX = "https://raw.githubusercontent.com/brendenlake/omniglot/master/python"
ZIPS_MD5 = {"images_background": "68d2efa1b9178cc56df9314c21c6e718", "images_evaluation": "6b91aef0f799c5bb55b94e3f2daec811"}
FOLDER = "omniglot-py"
SPLIT_SEED = 1623
SPLITS = ("characters", "alphabets")


def _members(source: Path) -> Iterator[tuple[str, str, str, bytes]]:
    """(alphabet, character, file name, png bytes) for every image of a zip or folder."""
    if source.is_dir():
        for p in sorted(source.rglob("*.png")):
            yield p.parent.parent.name, p.parent.name, p.name, p.read_bytes()
        return
    with zipfile.ZipFile(source) as zf:
        for name in sorted(zf.namelist()):
            parts = name.split("/")
            if len(parts) >= 3 and parts[-1].endswith(".png"):
                yield parts[-3], parts[-2], parts[-1], zf.read(name)


def find_sources(root: Path) -> list[Path]:
    """Every Omniglot source under ``root`` (see the module docstring)."""
    if root.is_file():
        return [root]
    base = root / FOLDER if (root / FOLDER).is_dir() else root
    out: list[Path] = []
    for stem in sorted({p.name.removesuffix(".zip") for p in base.glob("images_*")}):
        folder, zipped = base / stem, base / f"{stem}.zip"
        out.append(folder if folder.is_dir() else zipped)
    return out


def read_omniglot(sources: list[Path], size: int = 28) -> dict:
    keys: list[str] = []
    blobs: list[bytes] = []
    labels: list[int] = []
    index: dict[str, int] = {}
    seen_source: dict[str, Path] = {}
    names = []
    for src in sources:
        with reading(src):
            members = list(_members(src))
        for alphabet, character, fname, data in members:
            key = f"{alphabet}/{character}"
            if seen_source.setdefault(key, src) != src:
                continue  # the same character from another source (small1/small2 overlap)
            if key not in index:
                index[key] = len(keys)
                keys.append(key)
            blobs.append(data)
            names.append(f"{src}:{key}/{fname}")
            labels.append(index[key])
    if not blobs:
        raise DataError(f"no Omniglot images found in {', '.join(map(str, sources))}")
    images = decode_all(blobs, channels=1, size=size, names=names)
    return {"images": images, "labels": torch.tensor(labels, dtype=torch.long), "classes": keys}


def load_omniglot(
    root: str | Path | None, download: bool = False, split: str = "characters", rotations: bool = True, size: int = 28
) -> EpisodicData:
    if split not in SPLITS:
        raise DataError(f"unknown Omniglot split {split!r}; valid: {', '.join(SPLITS)}")
    root = Path(root or "data").expanduser()
    if download:
        for stem, md5 in ZIPS_MD5.items():
            download_url(f"{URL_PREFIX}/{stem}.zip", root / FOLDER, f"{stem}.zip", md5)
    sources = find_sources(root) if root.exists() else []
    if not sources:
        raise DataNotFoundError(
            f"Omniglot not found in {root}: put images_background.zip and images_evaluation.zip in "
            f"{root / FOLDER} (torchvision layout), point --data-root at a folder of Omniglot zips, or rerun with --download"
        )
    key_file = sources[0] if sources[0].is_file() else sources[0]
    raw = cached(key_file, f"omniglot-v1-{size}-" + "|".join(str(s.resolve()) for s in sources), lambda: read_omniglot(sources, size))
    images, labels, classes = raw["images"], raw["labels"], list(raw["classes"])
    if split == "characters":
        # 1,200 of 1,623 characters for meta-training (100 of them for validation), 423 for test
        train, val, test = split_classes(classes, (100 / 1623, 423 / 1623), SPLIT_SEED)
    else:
        alphabets = sorted({c.split("/")[0] for c in classes})
        a_train, a_val, a_test = split_classes(alphabets, (1 / 8, 1 / 4), SPLIT_SEED)
        of = {a: i for i, a in enumerate(alphabets)}
        pick = lambda chosen: [i for i, c in enumerate(classes) if of[c.split("/")[0]] in chosen]  # noqa: E731
        train, val, test = pick(set(a_train)), pick(set(a_val)), pick(set(a_test))
    # The characters split rotates every split's classes, as MAML and ProtoNet do (1,200 x 4
    # meta-training, 423 x 4 test classes: Finn et al. App. A.1, Snell et al. Sec. 3.1); the
    # alphabets split (this suite's held-out-scripts protocol) rotates meta-training classes only.
    held_out_rotations = rotations and split == "characters"
    splits = {
        "train": build_split(images, labels, classes, train, rotations=rotations),
        "val": build_split(images, labels, classes, val, rotations=held_out_rotations),
        "test": build_split(images, labels, classes, test, rotations=held_out_rotations),
    }
    info = {"split": split, "rotations": rotations, "held_out_rotations": held_out_rotations}
    if split == "alphabets":
        for k, v in splits.items():
            info[f"{k}_alphabets"] = sorted({c.split("/")[0] for c in v.classes})
    return EpisodicData(
        name="omniglot", splits=splits, preprocess=Preprocess(normalize="none"),
        source=", ".join(str(s) for s in sources), paper_dataset="omniglot", info=info,
    )
