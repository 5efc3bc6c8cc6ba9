"""Label smoothing: a researcher's own alternative to standard training, outside the package.

Standard training minimises the cross-entropy to one-hot labels; this variant minimises it to labels smoothed
towards the uniform distribution (Szegedy et al., 2016, "Rethinking the Inception Architecture", section 7):
the target is (1 - eps) on the true class plus eps / K on every class. A `consumes = "batches"` algorithm, so it
runs in the standard suite beside `standard` and `mltp`.

    python -m benchmark check-algorithm label_smoothing --plugin examples/label_smoothing/label_smoothing.py
    python -m benchmark run --suite standard --plugin examples/label_smoothing/label_smoothing.py \
        --algorithm label_smoothing standard mltp --seeds 0 1 2
"""
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F

import algorithms
from algorithms.errors import BadHyperparameterError
from algorithms.standard import Standard, StandardHparams


@dataclass
class LabelSmoothingHparams(StandardHparams):
    smoothing: float = 0.1  # eps: the share of each target spread evenly over all classes
    SEARCH_SPACE: ClassVar[dict[str, tuple]] = {"lr": ("log", 1e-4, 1e-2), "smoothing": ("float", 0.0, 0.3)}

    def validate(self) -> None:
        super().validate()
        if not 0.0 <= self.smoothing < 1.0:
            raise BadHyperparameterError(f"smoothing must be in [0, 1), got {self.smoothing}")


@algorithms.register("label_smoothing")
class LabelSmoothing(Standard):
    """Standard training's loop (batches, optimiser, weight decay); only the loss differs."""

    Hparams = LabelSmoothingHparams

    def loss(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits, y, label_smoothing=self.hparams.smoothing)
