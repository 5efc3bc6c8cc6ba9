"""Decode encoded images (JPEG/PNG bytes) into one uint8 (N, C, H, W) tensor."""
from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torchvision.io import ImageReadMode, decode_image

from .errors import CorruptDataError


def decode_all(blobs: Iterable[bytes], channels: int = 3, size: int | None = None,
               names: Iterable[str] | None = None) -> torch.Tensor:
    """Decode every blob to ``channels`` channels; resize to ``size`` (default: the first
    image's). A blob that does not decode is a ``CorruptDataError`` naming its file."""
    mode = ImageReadMode.RGB if channels == 3 else ImageReadMode.GRAY
    out = []
    names = iter(names) if names is not None else None
    for i, blob in enumerate(blobs):
        name = next(names) if names is not None else f"image #{i + 1}"
        try:
            img = decode_image(torch.frombuffer(bytearray(blob), dtype=torch.uint8), mode=mode)
        except (RuntimeError, ValueError) as e:
            raise CorruptDataError(f"{name} is not a readable image (unsupported, empty or truncated file: "
                                   f"{type(e).__name__}); delete or replace it") from None
        if size is None:
            size = img.shape[-1]
        if img.shape[-2:] != (size, size):
            img = F.interpolate(img[None].float(), size=(size, size), mode="bilinear", antialias=True, align_corners=False)
            img = img[0].round().clamp(0, 255).to(torch.uint8)
        out.append(img)
    if not out:
        return torch.empty(0, channels, size or 0, size or 0, dtype=torch.uint8)
    return torch.stack(out)
