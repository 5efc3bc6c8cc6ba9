"""Batched preprocessing and augmentation on tensors (no per-sample Python work)."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .base import Preprocess


def per_image_standardize(x: torch.Tensor) -> torch.Tensor:
    """(x - mean) / max(std, 1/sqrt(numel)) per image, as TF's per_image_standardization."""
    flat = x.flatten(1)
    mean = flat.mean(1)
    std = flat.std(1, unbiased=False).clamp_min(1.0 / flat.shape[1] ** 0.5)
    shape = (-1,) + (1,) * (x.dim() - 1)
    return (x - mean.view(shape)) / std.view(shape)


def channel_stats(images: torch.Tensor, chunk: int = 4096) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of uint8 images on the [0, 1] scale (the training set's)."""
    c = images.shape[1]
    s = torch.zeros(c, dtype=torch.float64)
    s2 = torch.zeros(c, dtype=torch.float64)
    n = 0
    for i in range(0, len(images), chunk):
        b = images[i : i + chunk].to(torch.float64) / 255.0
        s += b.sum((0, 2, 3))
        s2 += (b * b).sum((0, 2, 3))
        n += b.numel() // c
    mean = s / n
    std = (s2 / n - mean * mean).clamp_min(1e-12).sqrt()
    return tuple(mean.tolist()), tuple(std.tolist())


def normalize(images_u8: torch.Tensor, pre: Preprocess) -> torch.Tensor:
    x = images_u8.float().div_(255.0)
    if pre.normalize == "per_image":
        return per_image_standardize(x)
    if pre.normalize == "dataset":
        if pre.mean is None or pre.std is None:
            raise ValueError("dataset normalisation needs mean and std")
        mean = torch.tensor(pre.mean, device=x.device).view(1, -1, 1, 1)
        std = torch.tensor(pre.std, device=x.device).view(1, -1, 1, 1)
        return (x - mean) / std
    if pre.normalize == "none":
        return x
    raise ValueError(f"unknown normalisation {pre.normalize!r}")


def random_crop_flip(x: torch.Tensor, pad: int, flip: bool, generator: torch.Generator | None = None) -> torch.Tensor:
    """Zero-pad by ``pad``, crop back to size at a random offset per image, flip half of them."""
    n, c, h, w = x.shape
    dev = x.device
    if pad > 0:
        xp = F.pad(x, (pad, pad, pad, pad))
        oy = torch.randint(0, 2 * pad + 1, (n,), generator=generator).to(dev)
        ox = torch.randint(0, 2 * pad + 1, (n,), generator=generator).to(dev)
        rows = (oy[:, None] + torch.arange(h, device=dev)[None, :])[:, None, :, None]
        cols = (ox[:, None] + torch.arange(w, device=dev)[None, :])[:, None, None, :]
        x = xp[torch.arange(n, device=dev)[:, None, None, None], torch.arange(c, device=dev)[None, :, None, None], rows, cols]
    if flip:
        mask = (torch.rand(n, generator=generator) < 0.5).to(dev)
        x = torch.where(mask[:, None, None, None], x.flip(3), x)
    return x
