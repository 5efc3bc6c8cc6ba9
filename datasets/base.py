"""In-memory image data: uint8 tensors (N, C, H, W) plus int64 labels.

Every dataset is loaded once into tensors; batches are made by tensor indexing and
the preprocessing below runs on whole batches, so two CPU cores are not starved by
per-sample PIL transforms.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch


@dataclass
class ImageSet:
    images: torch.Tensor  # uint8 (N, C, H, W)
    labels: torch.Tensor  # int64 (N,)

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.dim() != 4:
            raise ValueError(f"images must be uint8 (N, C, H, W), got {self.images.dtype} {tuple(self.images.shape)}")
        if len(self.images) != len(self.labels):
            raise ValueError("images and labels differ in length")

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, index: torch.Tensor) -> ImageSet:
        return ImageSet(self.images[index], self.labels[index])


@dataclass
class Preprocess:
    """The paper's preprocessing and augmentation, as data (so it is logged with the run).

    ``normalize``: ``per_image`` (subtract each image's mean, divide by its std, as
    TF's per_image_standardization) or ``dataset`` (subtract ``mean``, divide by ``std``,
    per channel, on [0, 1] pixels). ``pad``/``flip``: training augmentation (pad then
    random crop back to size, random horizontal flip); evaluation uses the image only.
    """

    normalize: str = "per_image"
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    pad: int = 0
    flip: bool = False


@dataclass
class SupervisedData:
    """Train / validation / test splits of a classification dataset.

    ``val`` is carved from the training data (see ``splits.carve_validation``); the
    test split is only ever evaluated, never used to choose anything.
    """

    name: str
    train: ImageSet
    val: ImageSet
    test: ImageSet
    classes: list[str]
    preprocess: Preprocess
    source: str = ""  # where it came from (path, 'embedded', ...)
    paper_dataset: str | None = None  # the paper dataset these images are (for reference numbers)
    info: dict = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def in_channels(self) -> int:
        return int(self.train.images.shape[1])

    @property
    def image_size(self) -> int:
        return int(self.train.images.shape[-1])

    def with_preprocess(self, **changes) -> SupervisedData:
        return replace(self, preprocess=replace(self.preprocess, **changes))
