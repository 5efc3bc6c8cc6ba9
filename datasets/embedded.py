"""Offline embedded dataset for the quick profile: scikit-learn's handwritten digits.

1,797 real 8x8 grayscale digits (UCI optdigits) ship inside scikit-learn, so the suite
runs on a fresh machine with no download. A fixed, stratified quarter is the test
split; validation is carved from the rest. Pixel values 0..16 are scaled to 0..255.
"""
from __future__ import annotations

import torch

from .base import ImageSet, Preprocess, SupervisedData
from .splits import carve_validation, validation_indices

TEST_FRACTION = 0.25
SPLIT_SEED = 1797


def load_digits(val_fraction: float = 0.1) -> SupervisedData:
    from sklearn.datasets import load_digits as sk_digits

    d = sk_digits()
    images = torch.from_numpy(d.images).mul(255.0 / 16.0).round().clamp(0, 255).to(torch.uint8)[:, None]
    labels = torch.from_numpy(d.target).long()
    everything = ImageSet(images, labels)
    rest, test = carve_validation(everything, TEST_FRACTION, seed=SPLIT_SEED)
    train, val = carve_validation(rest, val_fraction)
    return SupervisedData(
        name="digits", train=train, val=val, test=test, classes=[str(i) for i in range(10)],
        # 8x8 images: pad 1 (the CIFAR recipe's pad 4 scaled to the size); digits are not flip-invariant.
        preprocess=Preprocess(normalize="per_image", pad=1, flip=False),
        source="embedded: sklearn.datasets.load_digits", paper_dataset=None,
    )


GLYPH_CLASSES = 100  # the first characters of the embedded glyphs (a fixed, deterministic choice)
GLYPH_TRAIN_DRAWERS = 14  # of 20 drawers (font + distortion) per character; the other 6 are the test split
GLYPH_SIZE = 16


def load_glyph_fonts(val_fraction: float = 0.1) -> SupervisedData:
    """The embedded glyphs as a classification task: 100 characters, 16x16; training
    on 14 drawers (a font with its own distortion) per character, testing on the other 6,
    so the test asks for a known character drawn in an unseen way. Offline; harder than
    the digits (which every algorithm classifies at 98-99%)."""
    import torch.nn.functional as F

    from .glyphs import load_raw

    raw = load_raw()
    keep = raw["labels"] < GLYPH_CLASSES
    images, labels = raw["images"][keep], raw["labels"][keep]
    small = F.interpolate(images.float(), size=GLYPH_SIZE, mode="area").round().clamp(0, 255).to(torch.uint8)
    drawer = torch.arange(len(labels)) - torch.searchsorted(labels, labels)  # 0..19 within each class
    is_train = drawer < GLYPH_TRAIN_DRAWERS
    train, val = carve_validation(ImageSet(small[is_train], labels[is_train]), val_fraction)
    return SupervisedData(
        name="glyph-fonts", train=train, val=val, test=ImageSet(small[~is_train], labels[~is_train]),
        classes=list(raw["classes"][:GLYPH_CLASSES]),
        # small images: pad 1 like the digits; characters are not flip-invariant
        preprocess=Preprocess(normalize="per_image", pad=1, flip=False),
        source="embedded: glyphs rendered from matplotlib's fonts (datasets.glyphs)", paper_dataset=None,
    )


def glyph_fonts_seen(val_fraction: float = 0.1) -> dict[str, float]:
    """Why glyph-fonts' validation accuracy sits below its test accuracy: the share of validation and of test
    images drawn in a font that the training images of the same character already use. The bundled fonts are
    fewer than the 20 drawers, so the test drawers 16-19 reuse the fonts of drawers 0-3 (seen in training, with
    another distortion), while a validation image is a training drawer held out, whose font no other training
    image of its character has (README, "The embedded datasets")."""
    from .glyphs import load_raw

    raw = load_raw()
    keep = raw["labels"] < GLYPH_CLASSES
    labels, fonts = raw["labels"][keep], raw["fonts"][keep]
    drawer = torch.arange(len(labels)) - torch.searchsorted(labels, labels)
    is_train = drawer < GLYPH_TRAIN_DRAWERS
    train_idx = torch.nonzero(is_train).flatten()
    kept, val = (train_idx[i] for i in validation_indices(labels[is_train], val_fraction))  # the data's own split
    seen = {(int(labels[i]), int(fonts[i])) for i in kept}

    def share(idx) -> float:
        return sum((int(labels[i]), int(fonts[i])) in seen for i in idx) / max(len(idx), 1)

    return {"val": share(val), "test": share(torch.nonzero(~is_train).flatten())}
