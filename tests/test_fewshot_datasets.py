"""CIFAR-FS, FC100, tieredImageNet and CUB-200-2011 (issue 33): each loads from a small fixture in
its real format with the published class split, samples a 5-way 1-shot test episode, records
its split hash, and a missing, corrupt or misplaced input is one line that says what to do."""
import pickle
import re

import numpy as np
import pytest
import torch

import datasets
from datasets import EpisodeSampler
from datasets import cifar as cifar_mod
from datasets import cub as cub_mod
from datasets.cifar_fs import CIFAR_FS_CLASSES, FC100_SUPERCLASSES, split_hash
from datasets.download import md5sum

from .fewshot_fixtures import (
    CIFAR100_SUPERCLASSES,
    FINE_TO_COARSE,
    cub_class_names,
    make_cifar100,
    make_cub,
    make_tiered,
    tar_folder,
)

PARTS = ("train", "val", "test")


def _counts(d):
    return [d.splits[p].num_classes for p in PARTS]


def _disjoint(d):
    sets = [set(d.splits[p].classes) for p in PARTS]
    assert not (sets[0] & sets[1]) and not (sets[0] & sets[2]) and not (sets[1] & sets[2])


def _episode(d, ways=5, shots=1, queries=1):
    ep = EpisodeSampler(d.splits["test"], ways, shots, queries, d.preprocess).sample(torch.Generator().manual_seed(0))
    assert ep.support_x.shape[0] == ways * shots and ep.query_x.shape[0] == ways * queries
    assert ep.support_x.shape[1:] == (3, d.image_size, d.image_size) and ep.support_x.dtype == torch.float32
    assert ep.support_y.tolist() == list(range(ways))
    return ep


def _hash_recorded(d):
    h = d.info["split_hash"]
    assert re.fullmatch(r"[0-9a-f]{16}", h)
    assert h == split_hash({p: d.splits[p].classes for p in PARTS})
    return h


def _one_line(err):
    msg = str(err.value)
    assert msg and "\n" not in msg
    return msg


def test_published_class_lists_partition_cifar100():
    fs = [c for p in PARTS for c in CIFAR_FS_CLASSES[p]]
    assert [len(CIFAR_FS_CLASSES[p]) for p in PARTS] == [64, 16, 20] and sorted(fs) == sorted(FINE_TO_COARSE)
    sup = [i for p in PARTS for i in FC100_SUPERCLASSES[p]]
    assert [len(FC100_SUPERCLASSES[p]) for p in PARTS] == [12, 4, 4] and sorted(sup) == list(range(20))
    names = sorted(CIFAR100_SUPERCLASSES)
    assert all(names[i] == n for p in PARTS for i, n in FC100_SUPERCLASSES[p].items())


def test_cifar_fs_loads_with_bertinetto_split(tmp_path, cifar100):
    d = datasets.get_episodic("cifar-fs", root=tmp_path)
    assert _counts(d) == [64, 16, 20] and d.name == "cifar-fs" and d.paper_dataset == "cifar-fs"
    assert d.image_size == 32 and d.in_channels == 3 and d.preprocess.normalize == "dataset"
    assert len(d.preprocess.mean) == 3 and all(s > 0 for s in d.preprocess.std)
    _disjoint(d)
    assert {p: sorted(d.splits[p].classes) for p in PARTS} == {p: sorted(CIFAR_FS_CLASSES[p]) for p in PARTS}
    assert all(int(d.splits[p].counts.min()) == int(d.splits[p].counts.max()) == 6 for p in PARTS)  # train+test pooled
    assert "baby" in d.splits["test"].classes and "otter" in d.splits["val"].classes
    assert d.info["classes"] == "64/16/20"
    _hash_recorded(d)
    _episode(d, 5, 1, 5)


def test_fc100_is_split_by_superclass(tmp_path, cifar100):
    d = datasets.get_episodic("fc100", root=tmp_path)
    assert _counts(d) == [60, 20, 20] and d.paper_dataset == "fc100" and d.image_size == 32
    _disjoint(d)
    sup = {p: {FINE_TO_COARSE[c] for c in d.splits[p].classes} for p in PARTS}
    assert sup["test"] == {"aquatic_mammals", "insects", "medium_mammals", "people"}
    assert sup["val"] == {"large_carnivores", "large_omnivores_and_herbivores", "non-insect_invertebrates", "small_mammals"}
    assert len(sup["train"]) == 12 and not (sup["train"] & sup["val"]) and not (sup["train"] & sup["test"])
    for p in PARTS:  # each split holds every class of its superclasses, and nothing else
        assert sorted(d.splits[p].classes) == sorted(c for s in sup[p] for c in CIFAR100_SUPERCLASSES[s])
    h = _hash_recorded(d)
    assert h != datasets.get_episodic("cifar-fs", root=tmp_path).info["split_hash"]
    assert "people" in d.info["superclasses"]
    _episode(d)


def test_cifar_fs_images_keep_their_labels(tmp_path, cifar100):
    """The pooled images land in the right class: compare with the pickles directly."""
    d = datasets.get_episodic("cifar-fs", root=tmp_path)
    with open(cifar100["folder"] / "test", "rb") as f:
        entry = pickle.load(f)
    fine = cifar100["fine"]
    i = entry["fine_labels"].index(fine.index("rocket"))
    img = torch.from_numpy(np.asarray(entry["data"][i]).reshape(3, 32, 32))
    s = d.splits["test"]
    rocket = s.images[s.labels == s.classes.index("rocket")]
    assert any(torch.equal(img, x) for x in rocket)


def test_cifar_fs_download_and_checks(tmp_path, monkeypatch):
    src = make_cifar100(tmp_path / "src")
    archive = tar_folder(src["folder"], tmp_path / "cifar-100-python.tar.gz", "cifar-100-python")
    md5 = {f: md5sum(src["folder"] / f) for f in src["files"]}
    spec = dict(cifar_mod.CIFAR["cifar100"], url=archive.as_uri(), md5=md5sum(archive),
                train=[("train", md5["train"])], test=[("test", md5["test"])], meta=("meta", md5["meta"], "fine_label_names"))
    monkeypatch.setitem(cifar_mod.CIFAR, "cifar100", spec)
    with pytest.raises(datasets.DataNotFoundError) as e:
        datasets.get_episodic("fc100", root=tmp_path / "data")
    msg = _one_line(e)
    assert "cifar-100-python" in msg and "--download" in msg and "FC100" in msg
    d = datasets.get_episodic("fc100", root=tmp_path / "data", download=True)
    assert _counts(d) == [60, 20, 20] and (tmp_path / "data" / "cifar-100-python.tar.gz").is_file()
    with open(tmp_path / "data" / "cifar-100-python" / "meta", "ab") as f:
        f.write(b"x")
    with pytest.raises(datasets.IntegrityError) as e:
        datasets.get_episodic("cifar-fs", root=tmp_path / "data")
    assert "md5" in _one_line(e) and "meta" in str(e.value)


def test_cifar_fs_rejects_a_foreign_meta_file(tmp_path, cifar100):
    with open(cifar100["folder"] / "meta", "wb") as f:
        pickle.dump({"fine_label_names": [f"class{i}" for i in range(100)]}, f)
    from datasets.cifar_fs import load_cifar_fs

    with pytest.raises(datasets.DataError) as e:
        load_cifar_fs(tmp_path, verify=False)
    assert "not the CIFAR-100 meta" in _one_line(e)


@pytest.mark.parametrize("fmt", ["metaoptnet", "ren", "png"])
def test_tiered_imagenet_formats(tmp_path, fmt):
    make_tiered(tmp_path, fmt)
    d = datasets.get_episodic("tiered-imagenet", root=tmp_path)
    assert _counts(d) == [5, 3, 6] and d.image_size == 84 and d.in_channels == 3
    assert d.paper_dataset == "tiered-imagenet" and d.preprocess.normalize == "dataset"
    assert all(int(d.splits[p].counts.min()) == 4 for p in PARTS)
    _disjoint(d)
    _hash_recorded(d)
    assert d.info["classes"] == "5/3/6"
    if fmt != "metaoptnet":
        assert d.splits["test"].classes[0] == "n00000008 test class 0" and d.info["superclasses"] == "2/2/2"
    _episode(d, 5, 1, 3)


def test_tiered_imagenet_formats_agree(tmp_path):
    """The same images whatever the cache: Ren et al.'s BGR npz is flipped to RGB, PNGs decode to RGB."""
    loaded = {}
    for fmt in ("metaoptnet", "ren", "png"):
        make_tiered(tmp_path / fmt, fmt)
        loaded[fmt] = datasets.get_episodic("tiered-imagenet", root=tmp_path / fmt)
    for p in PARTS:
        a, b, c = (loaded[f].splits[p] for f in ("metaoptnet", "ren", "png"))
        assert torch.equal(a.images, b.images) and torch.equal(a.images, c.images)
        assert torch.equal(a.labels, b.labels) and torch.equal(b.labels, c.labels)
    assert loaded["ren"].info["split_hash"] == loaded["png"].info["split_hash"]


@pytest.mark.parametrize("folder", ["tieredImageNet", None])
def test_tiered_imagenet_other_places(tmp_path, folder):
    make_tiered(tmp_path, "metaoptnet", classes=(5, 2, 5), per_class=2, folder=folder)
    assert _counts(datasets.get_episodic("tiered-imagenet", root=tmp_path)) == [5, 2, 5]


def test_tiered_imagenet_missing_says_where(tmp_path):
    with pytest.raises(datasets.DataNotFoundError) as e:
        datasets.get_episodic("tiered-imagenet", root=tmp_path)
    msg = _one_line(e)
    assert "train_images.npz" in msg and "_labels.pkl" in msg and "no automatic download" in msg


def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _garbage(path):
    path.write_bytes(b"this is not a pickle at all")


def _fewer_labels(path):
    with open(path, "rb") as f:
        d = pickle.load(f)
    with open(path, "wb") as f:
        pickle.dump({"labels": d["labels"][:-3]}, f)


def _wrong_keys(path):
    with open(path, "wb") as f:
        pickle.dump({"targets": [0, 1]}, f)


def _wrong_array(path):
    np.savez(path, features=np.zeros((2, 84, 84, 3), dtype=np.uint8))


@pytest.mark.parametrize("name,damage,says", [
    ("test_images.npz", _truncate, "corrupt or unreadable"),
    ("val_images.npz", _wrong_array, "no array 'images'"),
    ("test_labels.pkl", _garbage, "corrupt or unreadable"),
    ("train_labels.pkl", _wrong_keys, "neither 'labels'"),
    ("val_labels.pkl", _fewer_labels, "labels"),
])
def test_tiered_imagenet_corrupt_cache_is_one_line(tmp_path, name, damage, says):
    base = make_tiered(tmp_path, "metaoptnet", classes=(5, 2, 5), per_class=2)
    damage(base / name)
    with pytest.raises(datasets.DataError) as e:
        datasets.get_episodic("tiered-imagenet", root=tmp_path)
    msg = _one_line(e)
    assert name in msg and says in msg and ("delete it" in msg or "fetch" in msg)


def test_tiered_imagenet_count_mismatch_names_both_files(tmp_path):
    base = make_tiered(tmp_path, "metaoptnet", classes=(5, 2, 5), per_class=2)
    _fewer_labels(base / "val_labels.pkl")
    with pytest.raises(datasets.DataError) as e:
        datasets.get_episodic("tiered-imagenet", root=tmp_path)
    msg = _one_line(e)
    assert "val_images.npz holds 4 images" in msg and "val_labels.pkl has 1 labels" in msg


@pytest.mark.parametrize("nested", [False, True])
def test_cub_closer_look_split(tmp_path, nested):
    make_cub(tmp_path, nested=nested)
    d = datasets.get_episodic("cub", root=tmp_path)
    assert _counts(d) == [100, 50, 50] and d.image_size == 84 and d.in_channels == 3
    assert d.paper_dataset == "cub" and d.preprocess.normalize == "dataset"
    _disjoint(d)
    names = cub_class_names()
    assert d.splits["train"].classes == names[0::2]
    assert d.splits["val"].classes == names[1::4] and d.splits["val"].classes[0].startswith("002.")
    assert d.splits["test"].classes == names[3::4] and d.splits["test"].classes[:2] == [names[3], names[7]]
    assert len(d.splits["train"]) == 200 and len(d.splits["test"]) == 150  # 2 images per even class, 3 per odd
    _hash_recorded(d)
    _episode(d)


def test_cub_download_checks_md5(tmp_path, monkeypatch):
    src = tmp_path / "src"
    make_cub(src)
    archive = tar_folder(src / "CUB_200_2011", tmp_path / "CUB_200_2011.tgz", "CUB_200_2011")
    monkeypatch.setattr(cub_mod, "URL", archive.as_uri())
    monkeypatch.setattr(cub_mod, "MD5", "0" * 32)
    with pytest.raises(datasets.IntegrityError) as e:
        datasets.get_episodic("cub", root=tmp_path / "data", download=True)
    assert "md5" in _one_line(e)
    monkeypatch.setattr(cub_mod, "MD5", md5sum(archive))
    d = datasets.get_episodic("cub", root=tmp_path / "data", download=True)
    assert _counts(d) == [100, 50, 50] and (tmp_path / "data" / "CUB_200_2011.tgz").is_file()


def test_cub_missing_says_layout_and_download(tmp_path):
    with pytest.raises(datasets.DataNotFoundError) as e:
        datasets.get_episodic("cub", root=tmp_path)
    msg = _one_line(e)
    assert "CUB_200_2011/images/<NNN.Class_name>/*.jpg" in msg and "--download" in msg


def _flat(images):  # class folders straight under CUB_200_2011/, no images/
    images.rename(images.parent / "photos")


def _renamed(images):
    (images / "001.Bird_species_1").rename(images / "Bird_species_1")


def _too_few(images):
    for f in (images / "200.Bird_species_200").iterdir():
        f.unlink()
    (images / "200.Bird_species_200").rmdir()


def _empty_class(images):
    for f in (images / "017.Bird_species_17").iterdir():
        f.unlink()


@pytest.mark.parametrize("damage,says", [
    (_flat, "no images/ folder"), (_renamed, "'Bird_species_1'"), (_too_few, "found 199 folders"),
    (_empty_class, "017.Bird_species_17"),
])
def test_cub_wrong_layout_is_one_line(tmp_path, damage, says):
    damage(make_cub(tmp_path))
    with pytest.raises(datasets.DataError) as e:
        datasets.get_episodic("cub", root=tmp_path)
    msg = _one_line(e)
    assert says in msg and "NNN.Class_name" in msg


def test_registered_with_descriptions():
    names = ("cifar-fs", "fc100", "tiered-imagenet", "cub")
    assert set(names) <= set(datasets.available("episodic"))
    desc = datasets.describe()
    assert all(desc[n] and "\n" not in desc[n] for n in names)
