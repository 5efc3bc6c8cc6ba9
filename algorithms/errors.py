"""The errors the algorithms package raises (a leaf module: everything may import it)."""
from __future__ import annotations


class UnknownAlgorithmError(KeyError):
    """Raised for a name that is not registered; the message lists the valid ones."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class BadHyperparameterError(ValueError):
    """Raised for an unknown or invalid hyperparameter of a known algorithm."""


class DivergenceError(RuntimeError):
    """Raised when training or scoring produces a non-finite loss or non-finite outputs (NaN, inf): the run
    diverged, and resuming it would diverge again. ``after_training``: raised by the scoring after the last training
    step (its validation, or the final test), so the trained weights are worth keeping; ``position``: the training
    loop's position then (steps and training seconds), for the run's cost."""

    after_training: bool = False
    position: object = None


class NonFiniteOutputsError(DivergenceError):
    """Scoring met non-finite logits (``DivergenceError``'s other cause than the training loop's loss)."""
