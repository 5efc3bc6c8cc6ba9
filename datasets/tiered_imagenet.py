"""tieredImageNet (Ren et al. 2018, "Meta-learning for semi-supervised few-shot classification"):
608 ImageNet classes in 34 superclasses, 351 train / 97 validation / 160 test classes
(20 / 6 / 8 superclasses), 84x84.

Read from the widely distributed caches under ``root/tiered-imagenet``, ``root/tieredImageNet``
or ``root`` itself, one pair of files per split (``train``, ``val``, ``test``):
* ``{split}_images.npz`` (array ``images``, [N, 84, 84, 3] uint8) with ``{split}_labels.pkl``:
  - MetaOptNet / rfs format (kjunelee/MetaOptNet ``data/tiered_imagenet.py``, WangYueFt/rfs
    ``dataset/tiered_imagenet.py``): a dict with ``labels`` (one int per image; no class names);
  - Ren et al.'s format (renmengye/few-shot-ssl-public ``fewshot/data/tiered_imagenet.py``): a dict
    with ``label_specific`` (class per image), ``label_specific_str`` (class names),
    ``label_general`` / ``label_general_str`` (superclasses). Ren et al.'s npz files are written
    by OpenCV (``cv2.imread``, or ``decompress`` in ``fewshot/data/compress_tiered_imagenet.py``),
    so their channels are BGR: they are flipped to RGB here;
* ``{split}_images_png.pkl`` (Ren et al.'s release: a pickled list of PNG-encoded images) with
  ``{split}_labels.pkl``; decoded once, then cached (``datasets/cache.py``).

A split with both an npz and a PNG pickle is read from the npz. The npz is streamed (never
held twice in memory). There is no automatic download: get the cache from the links in the
MetaOptNet or rfs README, or Ren et al.'s ``tiered-imagenet.tar`` (few-shot-ssl-public README).
``info["split_hash"]`` records the class split (``datasets.cifar_fs.split_hash``).
"""
from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import numpy as np
import torch

from .base import Preprocess
from .cache import cached
from .cifar_fs import split_hash
from .decode import decode_all
from .episodic import ClassSplit, EpisodicData
from .errors import CorruptDataError, DataError, DataNotFoundError
from .transforms import channel_stats

PARTS = ("train", "val", "test")
FOLDERS = ("tiered-imagenet", "tieredImageNet")
FETCH = ("fetch the tieredImageNet cache again (MetaOptNet/rfs {train,val,test}_images.npz + _labels.pkl, "
         "or Ren et al.'s tiered-imagenet.tar)")
CHUNK = 2048  # images per read while streaming an npz


def _base(root: Path) -> Path:
    for name in FOLDERS:
        if (root / name).is_dir():
            return root / name
    return root


def _corrupt(path: Path, e: BaseException | str) -> CorruptDataError:
    why = e if isinstance(e, str) else f"{type(e).__name__}: {(str(e).splitlines() or [''])[0]}"
    return CorruptDataError(f"tieredImageNet file {path} is corrupt or unreadable ({why}); delete it and {FETCH}")


def _text(x) -> str:
    return x.decode("utf-8", "replace") if isinstance(x, bytes) else str(x)


def _load_pickle(path: Path):
    try:
        with open(path, "rb") as f:
            return pickle.load(f, encoding="latin1")
    except Exception as e:  # noqa: BLE001 - any unpickling failure of a damaged file is one line
        raise _corrupt(path, e) from None


def read_labels(path: Path) -> dict:
    """``labels`` (int64 per image), ``names`` (class names by label, or None), ``general`` (superclass per image, or None)."""
    d = _load_pickle(path)
    if not isinstance(d, dict):
        raise _corrupt(path, f"a {type(d).__name__}, not a dict")
    d = {_text(k): v for k, v in d.items()}
    if "label_specific" in d:
        labels, names = d["label_specific"], [_text(n) for n in d.get("label_specific_str", [])] or None
        general, kind = d.get("label_general"), "ren"
    elif "labels" in d:
        labels, names, general, kind = d["labels"], None, None, "metaoptnet"
    else:
        raise _corrupt(path, "neither 'labels' (MetaOptNet/rfs) nor 'label_specific' (Ren et al.) in it")
    try:
        labels = np.asarray(labels, dtype=np.int64).reshape(-1)
        general = None if general is None else np.asarray(general, dtype=np.int64).reshape(-1)
    except (TypeError, ValueError) as e:
        raise _corrupt(path, e) from None
    return {"labels": labels, "names": names, "general": general, "kind": kind}


def _npz_header(f, path: Path) -> tuple[tuple[int, ...], bool, np.dtype]:
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(f)
    if version == (2, 0):
        return np.lib.format.read_array_header_2_0(f)
    raise _corrupt(path, f"npy format version {version}")


def read_npz_images(path: Path, size: int, bgr: bool) -> torch.Tensor:
    """The npz's ``images`` array as uint8 (N, 3, size, size), read in chunks (BGR flipped to RGB with ``bgr``)."""
    try:
        with zipfile.ZipFile(path) as zf:
            if "images.npy" not in zf.namelist():
                raise _corrupt(path, f"no array 'images' in it, only {', '.join(zf.namelist()) or 'nothing'}")
            with zf.open("images.npy") as f:
                shape, fortran, dtype = _npz_header(f, path)
                if dtype != np.uint8 or len(shape) != 4 or shape[3] != 3 or fortran:
                    raise _corrupt(path, f"'images' is {dtype} {shape}, not an (N, H, W, 3) uint8 array")
                n, h, w, _ = shape
                out = torch.empty(n, 3, size, size, dtype=torch.uint8)
                for start in range(0, n, CHUNK):
                    rows = min(CHUNK, n - start)
                    buf = f.read(rows * h * w * 3)
                    if len(buf) != rows * h * w * 3:
                        raise _corrupt(path, f"truncated: {start + len(buf) // (h * w * 3)} of {n} images")
                    arr = np.frombuffer(buf, dtype=np.uint8).reshape(rows, h, w, 3)
                    out[start:start + rows] = _resize(torch.from_numpy(np.ascontiguousarray(
                        (arr[..., ::-1] if bgr else arr).transpose(0, 3, 1, 2))), size)
                return out
    except DataError:
        raise
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError) as e:
        raise _corrupt(path, e) from None


def _resize(images: torch.Tensor, size: int) -> torch.Tensor:
    if images.shape[-1] == size and images.shape[-2] == size:
        return images
    x = torch.nn.functional.interpolate(images.float(), size=(size, size), mode="bilinear", antialias=True)
    return x.round().clamp(0, 255).to(torch.uint8)


def read_png_pickle(path: Path, size: int) -> torch.Tensor:
    blobs = _load_pickle(path)
    if not isinstance(blobs, (list, tuple)):
        raise _corrupt(path, f"a {type(blobs).__name__}, not a list of PNG images")
    data = (b.tobytes() if isinstance(b, np.ndarray) else bytes(b) for b in blobs)
    return decode_all(data, channels=3, size=size, names=(f"{path} image #{i + 1}" for i in range(len(blobs))))


def _files(base: Path, part: str) -> tuple[Path | None, Path]:
    npz, png = base / f"{part}_images.npz", base / f"{part}_images_png.pkl"
    return (npz if npz.is_file() else png if png.is_file() else None), base / f"{part}_labels.pkl"


def read_part(base: Path, part: str, size: int) -> dict:
    images_path, labels_path = _files(base, part)
    lab = read_labels(labels_path)
    if images_path.suffix == ".npz":
        images = read_npz_images(images_path, size, bgr=lab["kind"] == "ren")
    else:
        images = read_png_pickle(images_path, size)
    if len(images) != len(lab["labels"]):
        raise CorruptDataError(f"tieredImageNet cache {images_path} holds {len(images)} images but {labels_path} has "
                               f"{len(lab['labels'])} labels: one of them is truncated or from another copy; {FETCH}")
    raw = sorted(set(lab["labels"].tolist()))
    names = lab["names"]
    classes = [names[c] if names and 0 <= c < len(names) else f"{part}:{c}" for c in raw]
    remap = {c: i for i, c in enumerate(raw)}
    labels = torch.tensor([remap[c] for c in lab["labels"].tolist()], dtype=torch.long)
    general = -1 if lab["general"] is None else len(set(lab["general"].tolist()))
    return {"images": images, "labels": labels, "classes": classes, "superclasses": general}


def load_tiered_imagenet(root: str | Path | None, size: int = 84) -> EpisodicData:
    base = _base(Path(root or "data").expanduser())
    files = {p: _files(base, p) for p in PARTS}
    missing = [f"{p}_images.npz" for p, (img, _) in files.items() if img is None]
    missing += [lab.name for img, lab in files.values() if not lab.is_file()]
    if missing:
        raise DataNotFoundError(
            f"tieredImageNet not found in {base} (missing {', '.join(missing)}): put {{train,val,test}}_images.npz with "
            "{train,val,test}_labels.pkl there (the MetaOptNet/rfs cache) or Ren et al.'s {train,val,test}_images_png.pkl "
            "with _labels.pkl (tiered-imagenet.tar, github.com/renmengye/few-shot-ssl-public); there is no automatic download"
        )
    parts = {}
    for p, (img, _) in files.items():
        if img.suffix == ".npz":
            parts[p] = read_part(base, p, size)
        else:  # decoding hundreds of thousands of PNGs is slow: cache the tensors
            parts[p] = cached(img, f"tiered-imagenet-png-{p}-{size}", lambda p=p: read_part(base, p, size))
    splits = {p: ClassSplit(parts[p]["images"], parts[p]["labels"], list(parts[p]["classes"])) for p in PARTS}
    mean, std = channel_stats(splits["train"].images)
    fmt = "/".join(sorted({"npz" if img.suffix == ".npz" else "png-pickle" for img, _ in files.values()}))
    info = {"format": fmt, "split_hash": split_hash({p: s.classes for p, s in splits.items()}),
            "classes": "/".join(str(splits[p].num_classes) for p in PARTS)}
    if all(int(parts[p]["superclasses"]) >= 0 for p in PARTS):
        info["superclasses"] = "/".join(str(int(parts[p]["superclasses"])) for p in PARTS)
    return EpisodicData(
        name="tiered-imagenet", splits=splits, preprocess=Preprocess(normalize="dataset", mean=mean, std=std),
        source=f"{base} ({fmt})", paper_dataset="tiered-imagenet", info=info,
    )
