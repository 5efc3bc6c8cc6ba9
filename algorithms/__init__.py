"""Training procedures behind one interface (see ``algorithms.base.Algorithm``).

>>> import algorithms
>>> algorithms.available()[:2]
['mltp', 'mltp_conv']

This package never imports ``benchmark``, ``datasets``, mlflow or optuna.
"""
from .base import Algorithm
from .errors import BadHyperparameterError, DivergenceError, NonFiniteOutputsError, UnknownAlgorithmError
from .registry import (
    available,
    build,
    create,
    get_class,
    make_hparams,
    register,
)

__all__ = [
    "Algorithm",
    "BadHyperparameterError",
    "DivergenceError",
    "NonFiniteOutputsError",
    "UnknownAlgorithmError",
    "available",
    "build",
    "create",
    "get_class",
    "make_hparams",
    "register",
]
