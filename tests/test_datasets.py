"""Loaders on generated fixtures in the real on-disk formats; splits; batched transforms."""
import tarfile

import pytest
import torch

import datasets
from datasets import BatchLoader, ImageSet, Preprocess
from datasets import cifar as cifar_mod
from datasets import tiny_imagenet as tiny_mod
from datasets.download import download_url, md5sum
from datasets.splits import carve_validation
from datasets.transforms import per_image_standardize, random_crop_flip

from .conftest import shared_data
from .fixtures import make_cifar, make_imagefolder_dir, make_imagefolder_targz, make_tiny_imagenet


def _patch_md5(monkeypatch, name, folder):
    spec = dict(cifar_mod.CIFAR[name])
    spec["train"] = [(f, md5sum(folder / f)) for f, _ in spec["train"]]
    spec["test"] = [(f, md5sum(folder / f)) for f, _ in spec["test"]]
    m = spec["meta"]
    spec["meta"] = (m[0], md5sum(folder / m[0]), m[2])
    monkeypatch.setitem(cifar_mod.CIFAR, name, spec)


@pytest.mark.parametrize("name,classes", [("cifar10", 10), ("cifar100", 100)])
def test_cifar_pickles(tmp_path, monkeypatch, name, classes):
    fx = make_cifar(tmp_path, name, per_class=4 if name == "cifar10" else 10, classes=classes)
    _patch_md5(monkeypatch, name, fx["folder"])
    d = datasets.get(name, root=tmp_path, val_fraction=0.2)
    n_train = len(fx["labels"]["train"])
    assert len(d.train) + len(d.val) == n_train
    assert len(d.test) == len(fx["labels"]["test"])
    assert d.num_classes == classes and d.in_channels == 3 and d.image_size == 32
    assert d.test.labels.tolist() == fx["labels"]["test"]
    assert d.preprocess == Preprocess(normalize="per_image", pad=4, flip=True)
    assert d.paper_dataset == name


def test_cifar_checksum_mismatch_is_reported(tmp_path, monkeypatch):
    fx = make_cifar(tmp_path, "cifar10", per_class=2)
    _patch_md5(monkeypatch, "cifar10", fx["folder"])
    with open(fx["folder"] / "data_batch_3", "ab") as f:
        f.write(b"garbage")
    with pytest.raises(datasets.IntegrityError, match="corrupted.*--download"):
        datasets.get("cifar10", root=tmp_path)


def test_cifar_missing_says_what_to_do(tmp_path):
    with pytest.raises(datasets.DataNotFoundError) as e:
        datasets.get("cifar10", root=tmp_path)
    msg = str(e.value)
    assert "\n" not in msg and "--download" in msg and str(tmp_path) in msg


def test_cifar_download_from_url_with_integrity_check(tmp_path, monkeypatch):
    """The real download path, served from a local file:// URL."""
    src = tmp_path / "src"
    fx = make_cifar(src, "cifar10", per_class=2)
    archive = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        tf.add(fx["folder"], arcname="cifar-10-batches-py")
    _patch_md5(monkeypatch, "cifar10", fx["folder"])
    spec = dict(cifar_mod.CIFAR["cifar10"], url=archive.as_uri(), md5=md5sum(archive))
    monkeypatch.setitem(cifar_mod.CIFAR, "cifar10", spec)
    dest = tmp_path / "data"
    d = datasets.get("cifar10", root=dest, download=True)
    assert (dest / "cifar-10-python.tar.gz").is_file()
    assert len(d.train) + len(d.val) == 100
    # a wrong checksum is refused and leaves no file behind
    with pytest.raises(datasets.IntegrityError):
        download_url(archive.as_uri(), tmp_path / "other", "x.tar.gz", md5="0" * 32)
    assert not (tmp_path / "other" / "x.tar.gz").exists()


def test_tiny_imagenet_official_layout(tmp_path):
    make_tiny_imagenet(tmp_path, classes=3, train_per_class=10, val_per_class=2)
    d = datasets.get("tiny-imagenet", root=tmp_path, val_fraction=0.2)
    assert d.num_classes == 3 and d.image_size == 64 and d.in_channels == 3
    assert len(d.train) == 24 and len(d.val) == 6 and len(d.test) == 6
    assert sorted(d.test.labels.tolist()) == [0, 0, 1, 1, 2, 2]
    assert d.preprocess.normalize == "dataset" and d.preprocess.pad == 8 and d.preprocess.flip
    # mean/std come from the training split
    x = d.train.images.double() / 255
    torch.testing.assert_close(torch.tensor(d.preprocess.mean), x.mean((0, 2, 3)).float(), rtol=1e-4, atol=1e-4)


def test_tiny_imagenet_download_path(tmp_path, monkeypatch):
    import shutil

    src = tmp_path / "src"
    make_tiny_imagenet(src)
    archive = shutil.make_archive(str(tmp_path / "tiny"), "zip", src)
    monkeypatch.setattr(tiny_mod, "URL", "file://" + archive)
    monkeypatch.setattr(tiny_mod, "MD5", md5sum(archive))
    d = datasets.get("tiny-imagenet", root=tmp_path / "data", download=True)
    assert d.num_classes == 3


def test_imagefolder_targz_read_in_place(tmp_path):
    path = make_imagefolder_targz(tmp_path / "toy-jpeg.tar.gz")
    d = datasets.get("imagefolder", root=path, val_fraction=0.25)
    assert d.classes == ["cat", "dog", "frog"]
    assert len(d.train) == 27 and len(d.val) == 9 and len(d.test) == 12
    assert d.image_size == 16 and d.preprocess.pad == 2
    assert not (tmp_path / "toy-jpeg").exists()  # nothing extracted
    again = datasets.get("imagefolder", root=path, val_fraction=0.25)  # from the cache
    assert torch.equal(again.train.images, d.train.images)


def test_imagefolder_directory_matches_archive(tmp_path):
    folder = make_imagefolder_dir(tmp_path / "dir")
    archive = make_imagefolder_targz(tmp_path / "toy.tar.gz")
    a = datasets.get("imagefolder", root=folder)
    b = datasets.get("imagefolder", root=archive)
    assert torch.equal(a.test.images, b.test.images) and torch.equal(a.test.labels, b.test.labels)


def test_imagefolder_errors(tmp_path):
    with pytest.raises(datasets.DataNotFoundError, match="--data-root"):
        datasets.get("imagefolder", root=None)
    with pytest.raises(datasets.DataNotFoundError, match="does not exist"):
        datasets.get("imagefolder", root=tmp_path / "nope.tar.gz")
    (tmp_path / "empty").mkdir()
    with pytest.raises(datasets.DataError, match="no train"):
        datasets.get("imagefolder", root=tmp_path / "empty")


def test_unknown_dataset_lists_valid():
    with pytest.raises(datasets.UnknownDatasetError, match="valid: .*cifar10"):
        datasets.get("mnist2")


def test_embedded_digits_offline_default():
    d = datasets.get("digits")
    assert d.num_classes == 10 and d.image_size == 8 and d.in_channels == 1
    assert len(d.train) + len(d.val) + len(d.test) == 1797
    assert len(d.test) == 450
    assert d.train.images.dtype == torch.uint8 and d.train.images.max() == 255


def test_validation_split_is_disjoint_stratified_and_fixed():
    labels = torch.arange(10).repeat_interleave(20)
    images = torch.arange(200, dtype=torch.uint8).view(200, 1, 1, 1).expand(200, 1, 2, 2).contiguous()
    data = ImageSet(images, labels)
    tr, va = carve_validation(data, 0.1)
    assert len(va) == 20 and torch.bincount(va.labels).tolist() == [2] * 10
    ids_tr = set(tr.images[:, 0, 0, 0].tolist())
    ids_va = set(va.images[:, 0, 0, 0].tolist())
    assert not ids_tr & ids_va and len(ids_tr | ids_va) == 200
    tr2, va2 = carve_validation(data, 0.1)
    assert torch.equal(va.images, va2.images)


def test_per_image_standardization():
    x = torch.rand(5, 3, 8, 8) * 7 + 3
    z = per_image_standardize(x)
    torch.testing.assert_close(z.flatten(1).mean(1), torch.zeros(5), atol=1e-5, rtol=0)
    torch.testing.assert_close(z.flatten(1).std(1, unbiased=False), torch.ones(5), atol=1e-5, rtol=0)


def test_random_crop_flip_matches_per_image_reference():
    x = torch.randn(16, 3, 8, 8)
    g1 = torch.Generator().manual_seed(3)
    out = random_crop_flip(x, 2, True, g1)
    g2 = torch.Generator().manual_seed(3)
    oy = torch.randint(0, 5, (16,), generator=g2)
    ox = torch.randint(0, 5, (16,), generator=g2)
    flip = torch.rand(16, generator=g2) < 0.5
    xp = torch.nn.functional.pad(x, (2, 2, 2, 2))
    for i in range(16):
        ref = xp[i, :, oy[i] : oy[i] + 8, ox[i] : ox[i] + 8]
        if flip[i]:
            ref = ref.flip(2)
        torch.testing.assert_close(out[i], ref)


def test_batch_loader_train_and_eval():
    data = ImageSet(torch.randint(0, 256, (50, 1, 4, 4), dtype=torch.uint8), torch.arange(50) % 5)
    pre = Preprocess(normalize="per_image", pad=1, flip=True)
    tr = BatchLoader(data, 16, pre, train=True, generator=torch.Generator().manual_seed(0))
    batches = list(tr)
    assert len(batches) == 3 and all(len(y) == 16 for _, y in batches)
    ev = list(BatchLoader(data, 16, pre, train=False))
    assert [len(y) for _, y in ev] == [16, 16, 16, 2]
    assert torch.equal(torch.cat([y for _, y in ev]), data.labels)


def test_real_cifar10_jpeg_archive():
    path = shared_data("cifar10-jpeg.tar.gz")
    d = datasets.get("imagefolder", root=path)
    assert len(d.train) + len(d.val) == 50_000 and len(d.test) == 10_000
    assert d.num_classes == 10 and d.image_size == 32 and d.paper_dataset == "cifar10"
    assert torch.bincount(d.test.labels).tolist() == [1000] * 10


def test_glyph_fonts_is_an_offline_classification_task_with_unseen_drawers_at_test():
    import datasets

    d = datasets.get("glyph-fonts")
    assert d.num_classes == 100 and d.train.images.shape[1:] == (1, 16, 16)
    assert len(d.train) + len(d.val) == 100 * 14 and len(d.test) == 100 * 6
    assert torch.bincount(d.test.labels, minlength=100).eq(6).all()
    # no test image is a training image: the test drawers are other fonts / distortions
    train = {bytes(x.numpy()) for x in torch.cat([d.train.images, d.val.images])}
    assert not any(bytes(x.numpy()) in train for x in d.test.images)


def test_glyph_fonts_validation_is_unseen_fonts_and_test_mostly_seen_ones():
    """README's explanation of the quick standard profile's validation-below-test gap, as measured data facts."""
    from datasets.embedded import glyph_fonts_seen, load_glyph_fonts

    shares = glyph_fonts_seen()
    assert shares["val"] < 0.05 and shares["test"] > 0.5, shares
    data = load_glyph_fonts()
    assert len(data.val) == 100 and len(data.test) == 600  # the split glyph_fonts_seen reproduces
