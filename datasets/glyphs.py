"""Offline embedded episodic dataset: glyphs rendered from the fonts bundled with matplotlib.

Each class is one character (Latin with its extensions, Greek, Cyrillic, Armenian, digits,
arrows and mathematical operators);
each of its 20 "drawers" is a different bundled font with its own random affine
distortion (rotation, scale, shear, shift) and stroke weight, so the set plays
Omniglot's role (many classes, few examples each) without any download. Characters
whose glyphs look alike (Latin A, Greek Alpha, Cyrillic A, ...) are merged by a
pixel-distance test so that no two classes share a shape. Built deterministically and
cached; classes are split 60/15/25% into class-disjoint train/val/test.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .base import Preprocess
from .cache import cached
from .episodic import EpisodicData, build_split, split_classes

FONTS = [
    "DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSans-Oblique.ttf", "DejaVuSans-BoldOblique.ttf",
    "DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf", "DejaVuSerif-Italic.ttf", "DejaVuSerif-BoldItalic.ttf",
    "DejaVuSansMono.ttf", "DejaVuSansMono-Bold.ttf", "DejaVuSansMono-Oblique.ttf", "DejaVuSansMono-BoldOblique.ttf",
    "STIXGeneral.ttf", "STIXGeneralBol.ttf", "STIXGeneralItalic.ttf", "STIXGeneralBolIta.ttf",
]
RANGES = [
    (0x30, 0x39), (0x41, 0x5A), (0x61, 0x7A), (0xC0, 0xFF), (0x100, 0x17F), (0x180, 0x24F), (0x391, 0x3A9), (0x3B1, 0x3C9),
    (0x400, 0x45F), (0x531, 0x556), (0x2190, 0x21FF), (0x2200, 0x22FF),
]
DRAWERS = 20
CANVAS = 64
SEED = 2017
VERSION = "glyphs-v2"  # v2: the same images, with each image's font ("fonts")
LOOKALIKE = 0.1  # normalised pixel distance below which two characters count as one shape


def _font_paths() -> list[Path]:
    import matplotlib

    base = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    return [base / f for f in FONTS if (base / f).is_file()]


def _render(font, ch: str) -> np.ndarray | None:
    """The glyph of ``ch`` centred on a CANVAS x CANVAS float canvas (ink = 1)."""
    from matplotlib.ft2font import LoadFlags

    font.clear()
    font.set_size(34, 72)
    font.set_text(ch, 0.0, flags=LoadFlags.NO_HINTING)
    font.draw_glyphs_to_bitmap(antialiased=True)
    img = np.asarray(font.get_image(), dtype=np.float32) / 255.0
    if img.size == 0 or img.sum() < 4:
        return None
    h, w = img.shape
    if h > CANVAS or w > CANVAS:
        return None
    out = np.zeros((CANVAS, CANVAS), np.float32)
    ys, xs = np.nonzero(img > 0.05)
    cy, cx = (ys.min() + ys.max()) / 2, (xs.min() + xs.max()) / 2
    top, left = int(round(CANVAS / 2 - cy)), int(round(CANVAS / 2 - cx))
    top, left = min(max(top, 0), CANVAS - h), min(max(left, 0), CANVAS - w)
    out[top : top + h, left : left + w] = img
    return out


def _downsample(x: torch.Tensor, size: int) -> torch.Tensor:
    return F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)


def _distort(x: torch.Tensor, g: torch.Generator, size: int) -> torch.Tensor:
    """Per-drawer random affine distortion and stroke weight, applied as one batch, then downsampled to ``size``."""
    n = len(x)
    ang = (torch.rand(n, generator=g) - 0.5) * 2 * 0.21  # +-12 degrees
    scale = 0.85 + 0.3 * torch.rand(n, generator=g)
    shear = (torch.rand(n, generator=g) - 0.5) * 0.3
    shift = (torch.rand(n, 2, generator=g) - 0.5) * 0.12
    cos, sin = torch.cos(ang), torch.sin(ang)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0], theta[:, 0, 1] = cos / scale, (-sin + shear) / scale
    theta[:, 1, 0], theta[:, 1, 1] = sin / scale, cos / scale
    theta[:, :, 2] = shift
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, align_corners=False, padding_mode="zeros")
    bold = torch.rand(n, generator=g) < 0.3
    x = torch.where(bold[:, None, None, None], F.max_pool2d(x, 3, 1, 1), x)
    x = _downsample(x, size).clamp(0, 1)
    return x


def build_glyphs(size: int = 28, limit: int | None = None) -> dict:
    """Render the dataset; ``limit`` keeps only the first classes (for tests)."""
    from matplotlib.ft2font import FT2Font

    fonts = [FT2Font(str(p)) for p in _font_paths()]
    charmaps = [set(f.get_charmap()) for f in fonts]
    candidates = [chr(c) for lo, hi in RANGES for c in range(lo, hi + 1)]
    # Keep characters that most fonts draw; drop look-alikes of an already kept class.
    kept: list[str] = []
    refs: list[torch.Tensor] = []
    for ch in candidates:
        if limit is not None and len(kept) >= limit:
            break
        supported = [i for i, cm in enumerate(charmaps) if ord(ch) in cm]
        if len(supported) < len(fonts) // 2:
            continue
        ref = _render(fonts[supported[0]], ch)
        if ref is None:
            continue
        small = _downsample(torch.from_numpy(ref)[None, None], 16)[0, 0]
        if refs:
            r = torch.stack(refs)
            dist = (r - small).abs().sum((1, 2)) / (r + small).sum((1, 2))  # 0: same shape, 1: disjoint ink
            if dist.min() < LOOKALIKE:
                continue
        kept.append(ch)
        refs.append(small)
    g = torch.Generator().manual_seed(SEED)
    canvases, labels, font_ids = [], [], []
    for ci, ch in enumerate(kept):
        supported = [i for i, cm in enumerate(charmaps) if ord(ch) in cm]
        order = torch.randperm(len(supported), generator=g).tolist()
        for d in range(DRAWERS):
            font = supported[order[d % len(order)]]  # more drawers than fonts: drawer d reuses drawer d - len's font
            img = _render(fonts[font], ch)
            if img is None:
                font = supported[0]
                img = _render(fonts[font], ch)
            canvases.append(torch.from_numpy(img))
            labels.append(ci)
            font_ids.append(font)
    x = torch.stack(canvases)[:, None]
    x = _distort(x, g, size)
    images = (x * 255).round().to(torch.uint8)
    names = [f"U+{ord(c):04X}" for c in kept]
    return {"images": images, "labels": torch.tensor(labels, dtype=torch.long), "classes": names,
            "fonts": torch.tensor(font_ids, dtype=torch.long)}


def load_raw(size: int = 28) -> dict:
    """Every class's 20 drawers in order (``labels`` sorted), built once and cached."""
    anchor = _font_paths()[0]
    return cached(anchor, f"{VERSION}-{size}-{len(_font_paths())}", lambda: build_glyphs(size))


def load_glyphs(size: int = 28) -> EpisodicData:
    anchor = _font_paths()[0]
    raw = load_raw(size)
    classes = list(raw["classes"])
    train, val, test = split_classes(classes, (0.15, 0.25), SEED)
    splits = {k: build_split(raw["images"], raw["labels"], classes, v) for k, v in (("train", train), ("val", val), ("test", test))}
    return EpisodicData(
        name="glyphs", splits=splits, preprocess=Preprocess(normalize="none"),
        source=f"embedded: {len(_font_paths())} fonts bundled with matplotlib ({os.path.dirname(anchor)})",
        paper_dataset=None, info={"drawers": DRAWERS},
    )
