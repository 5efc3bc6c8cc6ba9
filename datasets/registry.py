"""Dataset registry: ``get(name, root=..., download=...)`` and ``available()``."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from .base import SupervisedData
from .episodic import EpisodicData
from .errors import UnknownDatasetError

DEFAULT_ROOT = Path("data")


def _cifar(name: str) -> Callable[..., SupervisedData]:
    def load(root, download, val_fraction):
        from .cifar import load_cifar

        return load_cifar(name, root or DEFAULT_ROOT, download, val_fraction)

    return load


def _tiny(root, download, val_fraction):
    from .tiny_imagenet import load_tiny_imagenet

    return load_tiny_imagenet(root or DEFAULT_ROOT, download, val_fraction)


def _imagefolder(root, download, val_fraction):
    from .imagefolder import load_imagefolder

    return load_imagefolder(root, val_fraction)


def _glyph_fonts(root, download, val_fraction):
    from .embedded import load_glyph_fonts

    return load_glyph_fonts(val_fraction)


def _digits(root, download, val_fraction):
    from .embedded import load_digits

    return load_digits(val_fraction)


SUPERVISED: dict[str, tuple[Callable[..., SupervisedData], str]] = {
    "digits": (_digits, "embedded (scikit-learn digits, 10 classes, 8x8): no download"),
    "glyph-fonts": (_glyph_fonts, "embedded glyphs as classification (100 characters, 16x16, unseen drawers at test): no download"),
    "cifar10": (_cifar("cifar10"), "CIFAR-10, torchvision pickles in --data-root (or --download)"),
    "cifar100": (_cifar("cifar100"), "CIFAR-100, torchvision pickles in --data-root (or --download)"),
    "tiny-imagenet": (_tiny, "Tiny-ImageNet-200, official layout in --data-root (or --download)"),
    "imagefolder": (_imagefolder, "train/<class>/*, test/<class>/* folder or .tar.gz (--data-root)"),
}


def _glyphs(root, download):
    from .glyphs import load_glyphs

    return load_glyphs()


def _omniglot(split):
    def load(root, download):
        from .omniglot import load_omniglot

        return load_omniglot(root or DEFAULT_ROOT, download, split=split)

    return load


def _mini(split):
    def load(root, download):
        from .mini_imagenet import load_mini_imagenet

        return load_mini_imagenet(root or DEFAULT_ROOT, split=split)

    return load


def _cifar_fs(split):
    def load(root, download):
        from .cifar_fs import load_cifar_fs

        return load_cifar_fs(root or DEFAULT_ROOT, download, split=split)

    return load


def _tiered(root, download):
    from .tiered_imagenet import load_tiered_imagenet

    return load_tiered_imagenet(root or DEFAULT_ROOT)


def _cub(root, download):
    from .cub import load_cub

    return load_cub(root or DEFAULT_ROOT, download)


EPISODIC: dict[str, tuple[Callable[..., EpisodicData], str]] = {
    "glyphs": (_glyphs, "embedded (glyphs of matplotlib's fonts, 636 classes x 20, 28x28): no download"),
    "omniglot": (_omniglot("characters"), "Omniglot, 1,200/423 character split with x4 rotations (--data-root, --download)"),
    "omniglot-alphabets": (_omniglot("alphabets"), "Omniglot split by whole alphabets (held-out scripts)"),
    "mini-imagenet": (_mini("ravi"), "miniImageNet, Ravi & Larochelle 64/16/20 (CSV+images or pickles in --data-root)"),
    "mini-imagenet-64-36": (_mini("mtl"), "miniImageNet, the MTL paper's 64/36 split (no validation classes)"),
    "cifar-fs": (_cifar_fs("cifar-fs"), "CIFAR-FS, Bertinetto et al.'s 64/16/20 of CIFAR-100's classes (pickles, --download)"),
    "fc100": (_cifar_fs("fc100"), "FC100, TADAM's 60/20/20 CIFAR-100 classes split by superclass (its pickles, --download)"),
    "tiered-imagenet": (_tiered, "tieredImageNet 351/97/160, 84x84 (MetaOptNet/rfs npz or Ren et al.'s PNGs in --data-root)"),
    "cub": (_cub, "CUB-200-2011, CloserLook's 100/50/50 split, 84x84 (official layout in --data-root, or --download)"),
}


def available(kind: str | None = None) -> list[str]:
    """Dataset names; ``kind`` 'supervised' or 'episodic' filters."""
    if kind == "supervised":
        return list(SUPERVISED)
    if kind == "episodic":
        return list(EPISODIC)
    return list(SUPERVISED) + list(EPISODIC)


def describe() -> dict[str, str]:
    return {k: v[1] for k, v in {**SUPERVISED, **EPISODIC}.items()}


def get_episodic(name: str, root: str | Path | None = None, download: bool = False) -> EpisodicData:
    """Load episodic dataset ``name`` with its class-disjoint splits."""
    try:
        loader = EPISODIC[name][0]
    except KeyError:
        raise UnknownDatasetError(f"unknown episodic dataset {name!r}; valid: {', '.join(EPISODIC)}") from None
    return loader(root, download)


def get(name: str, root: str | Path | None = None, download: bool = False, val_fraction: float = 0.1) -> SupervisedData:
    """Load supervised dataset ``name`` with its train / validation / test splits."""
    try:
        loader = SUPERVISED[name][0]
    except KeyError:
        raise UnknownDatasetError(f"unknown dataset {name!r}; valid: {', '.join(available('supervised'))}") from None
    return loader(root, download, val_fraction)
