"""Small few-shot datasets in the real on-disk formats: CIFAR-100 pickles (all 100 fine classes,
20 superclasses, a few images each), tieredImageNet caches (MetaOptNet/rfs npz, Ren et al.'s npz
and PNG pickles) and a CUB-200-2011 folder (200 class folders of tiny JPEGs)."""
from __future__ import annotations

import io
import pickle
import tarfile
from pathlib import Path

import numpy as np
from PIL import Image

# CIFAR-100's superclasses and their classes, as published with the dataset
# (https://www.cs.toronto.edu/~kriz/cifar.html); the meta file lists both in alphabetical order.
CIFAR100_SUPERCLASSES = {
    "aquatic_mammals": ("beaver", "dolphin", "otter", "seal", "whale"),
    "fish": ("aquarium_fish", "flatfish", "ray", "shark", "trout"),
    "flowers": ("orchid", "poppy", "rose", "sunflower", "tulip"),
    "food_containers": ("bottle", "bowl", "can", "cup", "plate"),
    "fruit_and_vegetables": ("apple", "mushroom", "orange", "pear", "sweet_pepper"),
    "household_electrical_devices": ("clock", "keyboard", "lamp", "telephone", "television"),
    "household_furniture": ("bed", "chair", "couch", "table", "wardrobe"),
    "insects": ("bee", "beetle", "butterfly", "caterpillar", "cockroach"),
    "large_carnivores": ("bear", "leopard", "lion", "tiger", "wolf"),
    "large_man-made_outdoor_things": ("bridge", "castle", "house", "road", "skyscraper"),
    "large_natural_outdoor_scenes": ("cloud", "forest", "mountain", "plain", "sea"),
    "large_omnivores_and_herbivores": ("camel", "cattle", "chimpanzee", "elephant", "kangaroo"),
    "medium_mammals": ("fox", "porcupine", "possum", "raccoon", "skunk"),
    "non-insect_invertebrates": ("crab", "lobster", "snail", "spider", "worm"),
    "people": ("baby", "boy", "girl", "man", "woman"),
    "reptiles": ("crocodile", "dinosaur", "lizard", "snake", "turtle"),
    "small_mammals": ("hamster", "mouse", "rabbit", "shrew", "squirrel"),
    "trees": ("maple_tree", "oak_tree", "palm_tree", "pine_tree", "willow_tree"),
    "vehicles_1": ("bicycle", "bus", "motorcycle", "pickup_truck", "train"),
    "vehicles_2": ("lawn_mower", "rocket", "streetcar", "tank", "tractor"),
}
FINE_TO_COARSE = {f: c for c, fs in CIFAR100_SUPERCLASSES.items() for f in fs}


def _noise(rng, n: int, size: int, label: int) -> np.ndarray:
    """``n`` RGB images (n, size, size, 3) whose colour depends on ``label``."""
    base = np.array([(37 * label) % 200 + 20, (91 * label) % 200 + 20, (53 * label) % 200 + 20], dtype=np.float64)
    return np.clip(rng.normal(base, 12, (n, size, size, 3)), 0, 255).astype(np.uint8)


def make_cifar100(root: Path, train_per_class: int = 4, test_per_class: int = 2) -> dict:
    """``root/cifar-100-python/{train,test,meta}`` with every fine and coarse class (images shuffled)."""
    rng = np.random.default_rng(10)
    fine, coarse = sorted(FINE_TO_COARSE), sorted(CIFAR100_SUPERCLASSES)
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    for name, n in (("train", train_per_class), ("test", test_per_class)):
        labels = np.repeat(np.arange(100), n)
        rng.shuffle(labels)
        data = np.concatenate([_noise(rng, 1, 32, int(c)) for c in labels]).transpose(0, 3, 1, 2).reshape(len(labels), -1)
        entry = {"data": data, "fine_labels": labels.tolist(),
                 "coarse_labels": [coarse.index(FINE_TO_COARSE[fine[c]]) for c in labels],
                 "filenames": [f"img_{i}.png" for i in range(len(labels))], "batch_label": f"{name} batch"}
        with open(folder / name, "wb") as f:
            pickle.dump(entry, f)
    with open(folder / "meta", "wb") as f:
        pickle.dump({"fine_label_names": fine, "coarse_label_names": coarse}, f)
    return {"folder": folder, "files": ["train", "test", "meta"], "fine": fine, "coarse": coarse}


def tar_folder(folder: Path, archive: Path, arcname: str) -> Path:
    with tarfile.open(archive, "w:gz") as tf:
        tf.add(folder, arcname=arcname)
    return archive


def _png(arr: np.ndarray) -> np.ndarray:
    """PNG bytes as OpenCV's ``imencode`` returns them (a uint8 column), as in Ren et al.'s pickles."""
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return np.frombuffer(buf.getvalue(), dtype=np.uint8).reshape(-1, 1).copy()


def tiered_part(part: str, classes: int, per_class: int, offset: int, size: int = 84) -> dict:
    """One split's images (RGB, shuffled) with 0-based labels, class names and superclasses."""
    rng = np.random.default_rng({"train": 20, "val": 21, "test": 22}[part])
    labels = np.repeat(np.arange(classes), per_class)
    rng.shuffle(labels)
    images = np.concatenate([_noise(rng, 1, size, offset + int(c)) for c in labels])
    names = [f"n{offset + c:08d} {part} class {c}" for c in range(classes)]
    general = labels % 2
    return {"images": images, "labels": labels, "names": names, "general": general,
            "general_names": [f"{part} category {g}" for g in range(2)]}


def make_tiered(root: Path, fmt: str = "metaoptnet", classes=(5, 3, 6), per_class: int = 4,
                folder: str | None = "tiered-imagenet", size: int = 84) -> Path:
    """A tieredImageNet cache: ``fmt`` is ``metaoptnet`` ({split}_images.npz, RGB, ``labels`` global ints),
    ``ren`` (npz in OpenCV's BGR order, ``label_specific``...) or ``png`` (Ren et al.'s {split}_images_png.pkl)."""
    base = root / folder if folder else root
    base.mkdir(parents=True, exist_ok=True)
    offset = 0
    for part, n in zip(("train", "val", "test"), classes):
        d = tiered_part(part, n, per_class, offset, size)
        if fmt == "metaoptnet":
            np.savez(base / f"{part}_images.npz", images=d["images"])
            labels = {"labels": (d["labels"] + offset).tolist()}
        else:
            if fmt == "ren":
                np.savez(base / f"{part}_images.npz", images=d["images"][..., ::-1])
            else:
                with open(base / f"{part}_images_png.pkl", "wb") as f:
                    pickle.dump([_png(a) for a in d["images"]], f, protocol=pickle.HIGHEST_PROTOCOL)
            labels = {"label_specific": d["labels"].astype(np.int32), "label_general": d["general"].astype(np.int32),
                      "label_specific_str": d["names"], "label_general_str": d["general_names"]}
        with open(base / f"{part}_labels.pkl", "wb") as f:
            pickle.dump(labels, f, protocol=pickle.HIGHEST_PROTOCOL)
        offset += n
    return base


def cub_class_names(n: int = 200) -> list[str]:
    return [f"{i:03d}.Bird_species_{i}" for i in range(1, n + 1)]


def _jpeg(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def make_cub(root: Path, classes: int = 200, nested: bool = False) -> Path:
    """``root/CUB_200_2011/images/NNN.Name/*.jpg`` (``nested``: under ``CUB_200_2011/CUB_200_2011``),
    2 or 3 JPEGs per class, 84x84 except the first class's (small and non-square, to be resized:
    resizing every image costs seconds on two busy cores); returns the images folder."""
    rng = np.random.default_rng(30)
    base = root / "CUB_200_2011" / ("CUB_200_2011" if nested else "")
    images = base / "images"
    for c, name in enumerate(cub_class_names(classes)):
        d = images / name
        d.mkdir(parents=True)
        for i in range(2 + c % 2):
            arr = _noise(rng, 1, 12, c)[0][:, :10] if c == 0 else _noise(rng, 1, 84, c)[0]
            (d / f"{name.split('.', 1)[1]}_{i:04d}_{c}{i}.jpg").write_bytes(_jpeg(arr))
    (base / "classes.txt").write_text("".join(f"{i + 1} {n}\n" for i, n in enumerate(cub_class_names(classes))))
    return images
