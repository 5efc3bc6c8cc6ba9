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


def _png(arr) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def omniglot_members(alphabets=("Alpha", "Beta", "Gamma", "Delta"), chars=3, drawers=20, top="images_background"):
    """Omniglot's official inner layout: <top>/<alphabet>/<characterNN>/<id>_<drawer>.png (105x105 1-bit)."""
    rng = np.random.default_rng(3)
    out = {}
    for a in alphabets:
        for c in range(1, chars + 1):
            base = rng.random((105, 105)) > 0.5
            for d in range(1, drawers + 1):
                noisy = base ^ (rng.random((105, 105)) > 0.95)
                out[f"{top}/{a}/character{c:02d}/{c:04d}_{d:02d}.png"] = _png((noisy * 255).astype(np.uint8))
    return out


def make_mini_imagenet_csv(root: Path, classes=(4, 2, 3), per_class=6, size=84) -> Path:
    rng = np.random.default_rng(4)
    base = root / "mini-imagenet"
    (base / "images").mkdir(parents=True)
    k = 0
    for part, n in zip(("train", "val", "test"), classes):
        rows = ["filename,label"]
        for c in range(n):
            wnid = f"n{part[:2]}{c:06d}"
            for i in range(per_class):
                name = f"{wnid}{i:08d}.jpg"
                (base / "images" / name).write_bytes(_jpeg(_img(rng, size, k)))
                rows.append(f"{name},{wnid}")
            k += 1
        (base / f"{part}.csv").write_text("\n".join(rows) + "\n")
    return base


def make_mini_imagenet_pickles(root: Path, classes=(4, 2, 3), per_class=6, size=84) -> Path:
    rng = np.random.default_rng(5)
    base = root / "mini-imagenet"
    base.mkdir(parents=True)
    k = 0
    for part, n in zip(("train", "val", "test"), classes):
        data, class_dict = [], {}
        for c in range(n):
            class_dict[f"n{part[:2]}{c:06d}"] = list(range(len(data), len(data) + per_class))
            data += [_img(rng, size, k) for _ in range(per_class)]
            k += 1
        with open(base / f"mini-imagenet-cache-{part}.pkl", "wb") as f:
            pickle.dump({"image_data": np.stack(data), "class_dict": class_dict}, f)
    return base
