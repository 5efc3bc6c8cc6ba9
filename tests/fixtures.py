"""Generate small datasets in the real on-disk formats."""
from __future__ import annotations

import io
import pickle
import tarfile
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image


def _img(rng, size, label, channels=3):
    """An image whose mean brightness encodes its label, so a classifier can learn it."""
    base = 40 + 20 * label
    arr = np.clip(rng.normal(base, 10, (size, size, channels)), 0, 255).astype(np.uint8)
    return arr


def make_cifar(root: Path, name: str = "cifar10", per_class: int = 6, classes: int = 10) -> dict:
    """Write cifar-10-batches-py (5 train batches + test) or cifar-100-python pickles."""
    rng = np.random.default_rng(0)
    if name == "cifar10":
        folder = root / "cifar-10-batches-py"
        train_files = [f"data_batch_{i}" for i in range(1, 6)]
        test_files, meta, meta_key, label_key = ["test_batch"], "batches.meta", "label_names", "labels"
    else:
        folder = root / "cifar-100-python"
        train_files, test_files, meta, meta_key, label_key = ["train"], ["test"], "meta", "fine_label_names", "fine_labels"
    folder.mkdir(parents=True)
    labels = {"train": [], "test": []}

    def batch(n_per_class):
        data, labs = [], []
        for c in range(classes):
            for _ in range(n_per_class):
                data.append(_img(rng, 32, c).transpose(2, 0, 1).reshape(-1))
                labs.append(c)
        return np.stack(data), labs

    for f in train_files:
        d, lab = batch(per_class)
        labels["train"] += lab
        with open(folder / f, "wb") as fh:
            pickle.dump({"data": d, label_key: lab, "batch_label": f}, fh)
    for f in test_files:
        d, lab = batch(max(per_class // 2, 1))
        labels["test"] += lab
        with open(folder / f, "wb") as fh:
            pickle.dump({"data": d, label_key: lab}, fh)
    with open(folder / meta, "wb") as fh:
        pickle.dump({meta_key: [f"class{c}" for c in range(classes)]}, fh)
    return {"folder": folder, "files": train_files + test_files + [meta], "labels": labels}


def _jpeg(arr) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="JPEG", quality=95)
    return buf.getvalue()


def make_tiny_imagenet(root: Path, classes: int = 3, train_per_class: int = 4, val_per_class: int = 2) -> Path:
    rng = np.random.default_rng(1)
    folder = root / "tiny-imagenet-200"
    wnids = [f"n{1000 + c:08d}" for c in range(classes)]
    (folder / "val" / "images").mkdir(parents=True)
    (folder / "wnids.txt").write_text("\n".join(wnids) + "\n")
    lines = []
    for c, w in enumerate(wnids):
        d = folder / "train" / w / "images"
        d.mkdir(parents=True)
        (folder / "train" / w / f"{w}_boxes.txt").write_text("")
        for i in range(train_per_class):
            (d / f"{w}_{i}.JPEG").write_bytes(_jpeg(_img(rng, 64, c)))
        for i in range(val_per_class):
            name = f"val_{c * val_per_class + i}.JPEG"
            gray = i == 0  # Tiny-ImageNet has some grayscale JPEGs: they must decode to RGB
            arr = _img(rng, 64, c, 1)[..., 0] if gray else _img(rng, 64, c)
            (folder / "val" / "images" / name).write_bytes(_jpeg(arr))
            lines.append(f"{name}\t{w}\t0\t0\t63\t63")
    (folder / "val" / "val_annotations.txt").write_text("\n".join(lines) + "\n")
    return folder


def imagefolder_members(classes=("cat", "dog", "frog"), train=12, test=4, size=16, top="toy-jpeg"):
    rng = np.random.default_rng(2)
    out = {}
    for split, n in (("train", train), ("test", test)):
        for c, cls in enumerate(classes):
            for i in range(n):
                out[f"{top}/{split}/{cls}/{i:04d}.jpg"] = _jpeg(_img(rng, size, c))
    return out


def make_imagefolder_targz(path: Path, **kw) -> Path:
    with tarfile.open(path, "w:gz") as tf:
        for name, data in imagefolder_members(**kw).items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path


def make_imagefolder_dir(root: Path, **kw) -> Path:
    for name, data in imagefolder_members(**kw).items():
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    return root / kw.get("top", "toy-jpeg")


def make_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for k, v in members.items():
            zf.writestr(k, v)
    return path
