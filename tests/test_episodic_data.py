"""Episodic datasets and the N-way K-shot Q-query sampler."""
import pytest
import torch

import datasets
from datasets import EpisodeSampler
from datasets import omniglot as omni_mod
from datasets.download import md5sum
from datasets.episodic import ClassSplit, build_split
from datasets.glyphs import build_glyphs

from .conftest import shared_data
from .fixtures import make_mini_imagenet_csv, make_mini_imagenet_pickles, make_zip, omniglot_members


def toy_split(classes=10, per_class=(8,)):
    counts = [per_class[c % len(per_class)] for c in range(classes)]
    labels = torch.cat([torch.full((n,), c) for c, n in enumerate(counts)])
    images = (torch.arange(len(labels)) % 256).to(torch.uint8).view(-1, 1, 1, 1).expand(-1, 1, 2, 2).contiguous()
    return ClassSplit(images, labels, [f"c{c}" for c in range(classes)])


def test_sampler_exact_counts_and_labels():
    split = toy_split(10, (8, 12))
    s = EpisodeSampler(split, ways=5, shots=2, queries=3)
    ep = s.sample(torch.Generator().manual_seed(0))
    assert ep.support_x.shape == (10, 1, 2, 2) and ep.query_x.shape == (15, 1, 2, 2)
    assert ep.support_y.tolist() == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
    assert torch.bincount(ep.query_y).tolist() == [3] * 5
    classes, idx = s.sample_indices(torch.Generator().manual_seed(1))
    assert len(set(classes.tolist())) == 5
    for c, row in zip(classes, idx):
        assert len(set(row.tolist())) == 5  # no image twice within a class
        assert (split.labels[row] == c).all()  # every image is of its class
    assert torch.equal(ep.support_g, ep.support_g.unique_consecutive().repeat_interleave(2))


def test_sampler_is_deterministic_and_fixed_episodes_are_shared():
    split = toy_split(12)
    a = EpisodeSampler(split, 5, 1, 2).fixed(20, "toy", "test", 0)
    b = EpisodeSampler(split, 5, 1, 2).fixed(20, "toy", "test", 0)
    assert a.fingerprint() == b.fingerprint()
    assert EpisodeSampler(split, 5, 1, 2).fixed(20, "toy", "val", 0).fingerprint() != a.fingerprint()
    assert EpisodeSampler(split, 5, 1, 2).fixed(20, "toy", "test", 1).fingerprint() != a.fingerprint()
    ea, eb = next(iter(a)), next(iter(b))
    assert torch.equal(ea.query_x, eb.query_x)
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    assert torch.equal(EpisodeSampler(split, 5, 1, 2).sample(g1).support_x, EpisodeSampler(split, 5, 1, 2).sample(g2).support_x)


def test_sampler_rejects_impossible_settings():
    with pytest.raises(ValueError, match="need 6 classes"):
        EpisodeSampler(toy_split(5), 6, 1, 1)
    with pytest.raises(ValueError, match="images per class"):
        EpisodeSampler(toy_split(5, (4,)), 3, 2, 3)


def test_rotations_make_new_classes():
    images = torch.zeros(4, 1, 3, 3, dtype=torch.uint8)
    images[:, 0, 0, 1] = 255
    s = build_split(images, torch.tensor([0, 0, 1, 1]), ["a", "b"], [0, 1], rotations=True)
    assert s.num_classes == 8 and len(s) == 16
    assert s.classes[2] == "a@rot90"
    assert torch.equal(s.images[s.labels == 2][0], torch.rot90(images[0], 1, dims=(1, 2)))


def _splits_disjoint(d):
    base = {k: {c.split("@")[0] for c in v.classes} for k, v in d.splits.items()}
    keys = list(base)
    for i in range(len(keys)):
        for j in range(i + 1, len(keys)):
            assert not base[keys[i]] & base[keys[j]], (keys[i], keys[j])


def test_omniglot_torchvision_layout_zips_and_download(tmp_path, monkeypatch):
    members = omniglot_members(alphabets=[f"A{i}" for i in range(8)], chars=2, drawers=20)
    src = tmp_path / "src"
    src.mkdir()
    z = make_zip(src / "images_background.zip", members)
    monkeypatch.setattr(omni_mod, "URL_PREFIX", src.as_uri())
    monkeypatch.setattr(omni_mod, "ZIPS_MD5", {"images_background": md5sum(z)})
    d = datasets.get_episodic("omniglot", root=tmp_path / "data", download=True)
    assert (tmp_path / "data" / "omniglot-py" / "images_background.zip").is_file()
    assert d.image_size == 28 and d.in_channels == 1
    total = 16
    n = {k: v.num_classes // 4 for k, v in d.splits.items()}
    assert n["train"] + n["val"] + n["test"] == total
    assert all(v.num_classes % 4 == 0 for v in d.splits.values())  # x4 rotations, test classes too (MAML, ProtoNet)
    _splits_disjoint(d)
    a = datasets.get_episodic("omniglot-alphabets", root=tmp_path / "data")
    alph = {k: {c.split("/")[0] for c in v.classes} for k, v in a.splits.items()}
    assert not alph["train"] & alph["test"] and not alph["val"] & alph["test"]
    assert len(alph["test"]) == 2 and len(alph["val"]) == 1 and len(alph["train"]) == 5
    assert a.splits["train"].num_classes % 4 == 0 and a.info["held_out_rotations"] is False  # held-out scripts: unrotated


def test_omniglot_missing_is_one_clear_line(tmp_path):
    with pytest.raises(datasets.DataNotFoundError) as e:
        datasets.get_episodic("omniglot", root=tmp_path)
    assert "--download" in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("maker", [make_mini_imagenet_csv, make_mini_imagenet_pickles])
def test_mini_imagenet_formats_and_splits(tmp_path, maker):
    maker(tmp_path)
    d = datasets.get_episodic("mini-imagenet", root=tmp_path)
    assert [d.splits[k].num_classes for k in ("train", "val", "test")] == [4, 2, 3]
    assert d.image_size == 84 and d.preprocess.normalize == "dataset"
    _splits_disjoint(d)
    m = datasets.get_episodic("mini-imagenet-64-36", root=tmp_path)
    assert set(m.splits) == {"train", "test"} and m.splits["test"].num_classes == 5
    assert m.paper_dataset == "mini-imagenet-64-36"


def test_mini_imagenet_csv_and_pickle_agree(tmp_path):
    a = datasets.get_episodic("mini-imagenet", root=make_mini_imagenet_csv(tmp_path / "a").parent)
    b = datasets.get_episodic("mini-imagenet", root=make_mini_imagenet_pickles(tmp_path / "b").parent)
    assert a.splits["train"].classes == b.splits["train"].classes
    assert torch.equal(a.splits["test"].labels, b.splits["test"].labels)


def test_embedded_glyphs_are_deterministic_and_class_disjoint():
    small = build_glyphs(limit=12)
    again = build_glyphs(limit=12)
    assert torch.equal(small["images"], again["images"]) and small["classes"] == again["classes"]
    assert small["images"].shape == (12 * 20, 1, 28, 28)
    d = datasets.get_episodic("glyphs")
    total = sum(v.num_classes for v in d.splits.values())
    assert total >= 300  # hundreds of classes
    _splits_disjoint(d)
    assert all(int(v.counts.min()) == 20 for v in d.splits.values())


def test_real_omniglot_alphabets():
    root = shared_data("omniglot")
    d = datasets.get_episodic("omniglot-alphabets", root=root)
    total_chars = d.splits["train"].num_classes // 4 + d.splits["val"].num_classes + d.splits["test"].num_classes
    assert total_chars == 242  # 8 distinct alphabets; Greek and Latin read once
    alph = {k: set(v) for k, v in d.info.items() if k.endswith("_alphabets")}
    assert len(alph["train_alphabets"] | alph["val_alphabets"] | alph["test_alphabets"]) == 8
    assert not alph["train_alphabets"] & alph["test_alphabets"]
