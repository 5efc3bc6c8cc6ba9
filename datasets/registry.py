"""Dataset registry: ``get(name, root=..., download=...)`` and ``available()``."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from .base import SupervisedData
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


def _digits(root, download, val_fraction):
    from .embedded import load_digits

    return load_digits(val_fraction)


SUPERVISED: dict[str, tuple[Callable[..., SupervisedData], str]] = {
    "digits": (_digits, "embedded (scikit-learn digits, 10 classes, 8x8): no download"),
    "cifar10": (_cifar("cifar10"), "CIFAR-10, torchvision pickles in --data-root (or --download)"),
    "cifar100": (_cifar("cifar100"), "CIFAR-100, torchvision pickles in --data-root (or --download)"),
    "tiny-imagenet": (_tiny, "Tiny-ImageNet-200, official layout in --data-root (or --download)"),
    "imagefolder": (_imagefolder, "train/<class>/*, test/<class>/* folder or .tar.gz (--data-root)"),
}


def available() -> list[str]:
    return list(SUPERVISED)


def describe() -> dict[str, str]:
    return {k: v[1] for k, v in SUPERVISED.items()}


def get(name: str, root: str | Path | None = None, download: bool = False, val_fraction: float = 0.1) -> SupervisedData:
    """Load supervised dataset ``name`` with its train / validation / test splits."""
    try:
        loader = SUPERVISED[name][0]
    except KeyError:
        raise UnknownDatasetError(f"unknown dataset {name!r}; valid: {', '.join(available())}") from None
    return loader(root, download, val_fraction)
