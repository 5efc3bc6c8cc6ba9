"""Decode encoded images (JPEG/PNG bytes) into one uint8 (N, C, H, W) tensor."""
from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torchvision.io import ImageReadMode, decode_image


def decode_all(blobs: Iterable[bytes], channels: int = 3, size: int | None = None) -> torch.Tensor:
    """Decode every blob to ``channels`` channels; resize to ``size`` (default: the first image's)."""
    mode = ImageReadMode.RGB if channels == 3 else ImageReadMode.GRAY
    out = []
    for blob in blobs:
        img = decode_image(torch.frombuffer(bytearray(blob), dtype=torch.uint8), mode=mode)
        if size is None:
            size = img.shape[-1]
        if img.shape[-2:] != (size, size):
            img = F.interpolate(img[None].float(), size=(size, size), mode="bilinear", antialias=True, align_corners=False)
            img = img[0].round().clamp(0, 255).to(torch.uint8)
        out.append(img)
    if not out:
        return torch.empty(0, channels, size or 0, size or 0, dtype=torch.uint8)
    return torch.stack(out)
