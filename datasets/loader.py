"""Batches from an in-memory ``ImageSet``: shuffled indices, one gather, batched transforms."""
from __future__ import annotations

from collections.abc import Iterator

import torch

from .base import ImageSet, Preprocess
from .transforms import normalize, random_crop_flip


class BatchLoader:
    """Iterate ``(x, y)`` batches. ``train=True`` shuffles, drops the last partial batch
    and augments; otherwise the images are only normalised, in order.

    The shuffle order and augmentation come from ``generator`` (seeded by the runner),
    so a run is reproducible and its position can be checkpointed.
    """

    def __init__(
        self,
        data: ImageSet,
        batch_size: int,
        preprocess: Preprocess,
        *,
        train: bool,
        generator: torch.Generator | None = None,
        device: torch.device | str = "cpu",
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch size must be >= 1, got {batch_size}")
        self.data = data
        self.batch_size = batch_size
        self.pre = preprocess
        self.train = train
        self.generator = generator
        self.device = torch.device(device)
        self._images = data.images.to(self.device)
        self._labels = data.labels.to(self.device)

    def __len__(self) -> int:
        n = len(self.data)
        if self.train:
            return n // self.batch_size if n >= self.batch_size else int(n > 0)
        return (n + self.batch_size - 1) // self.batch_size

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n = len(self.data)
        if self.train:
            order = torch.randperm(n, generator=self.generator).to(self.device)
        else:
            order = torch.arange(n, device=self.device)
        for b in range(len(self)):
            idx = order[b * self.batch_size : (b + 1) * self.batch_size]
            x = normalize(self._images[idx], self.pre)
            if self.train and (self.pre.pad or self.pre.flip):
                x = random_crop_flip(x, self.pre.pad, self.pre.flip, self.generator)
            yield x, self._labels[idx]
