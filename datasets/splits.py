"""Validation split carved from the training data, stratified and seeded independently
of the run seed, so every algorithm and seed is selected on the same images."""
from __future__ import annotations

import torch

from .base import ImageSet

SPLIT_SEED = 20200101


def carve_validation(train: ImageSet, fraction: float, seed: int = SPLIT_SEED) -> tuple[ImageSet, ImageSet]:
    """Split ``train`` into (train, val) with ``round(fraction * n_c)`` images of each class in val."""
    keep, val = validation_indices(train.labels, fraction, seed)
    return train.subset(keep), train.subset(val)


def validation_indices(labels: torch.Tensor, fraction: float, seed: int = SPLIT_SEED) -> tuple[torch.Tensor, torch.Tensor]:
    """(kept, validation) positions of ``carve_validation``'s split, sorted."""
    if not 0 <= fraction < 1:
        raise ValueError(f"validation fraction must be in [0, 1), got {fraction}")
    g = torch.Generator().manual_seed(seed)
    val_idx = []
    for c in torch.unique(labels):
        idx = torch.nonzero(labels == c).flatten()
        idx = idx[torch.randperm(len(idx), generator=g)]
        k = int(round(fraction * len(idx)))
        if fraction > 0 and len(idx) > 1:
            k = max(k, 1)
        val_idx.append(idx[:k])
    val = torch.cat(val_idx) if val_idx else torch.empty(0, dtype=torch.long)
    mask = torch.ones(len(labels), dtype=torch.bool)
    mask[val] = False
    return torch.nonzero(mask).flatten(), val.sort().values


def stratified_subset(data: ImageSet, per_class: int, seed: int = SPLIT_SEED) -> ImageSet:
    """At most ``per_class`` images of each class (for labelled reduced-scale runs)."""
    g = torch.Generator().manual_seed(seed)
    keep = []
    for c in torch.unique(data.labels):
        idx = torch.nonzero(data.labels == c).flatten()
        keep.append(idx[torch.randperm(len(idx), generator=g)[:per_class]])
    return data.subset(torch.cat(keep).sort().values)
