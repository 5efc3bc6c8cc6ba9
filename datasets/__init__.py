"""Data only: loaders, splits, batched preprocessing. Never imports ``benchmark``,
``algorithms``, mlflow or optuna.

Note: this top-level package is called ``datasets``, like the Hugging Face distribution.
Do not install both in one environment; ``tests/test_layering.py`` checks that
``import datasets`` resolves to this package.
"""
from . import manifest
from .base import ImageSet, Preprocess, SupervisedData
from .episodic import ClassSplit, Episode, EpisodeBlock, EpisodeSampler, EpisodicData, FixedEpisodes, LabelLeakError, TestEpisode
from .errors import DataError, DataNotFoundError, IntegrityError, UnknownDatasetError
from .loader import BatchLoader
from .registry import available, describe, get, get_episodic

IS_META_BENCHMARK = True

__all__ = [
    "manifest",
    "BatchLoader",
    "ClassSplit",
    "Episode",
    "EpisodeBlock",
    "LabelLeakError",
    "TestEpisode",
    "EpisodeSampler",
    "EpisodicData",
    "FixedEpisodes",
    "DataError",
    "DataNotFoundError",
    "ImageSet",
    "IntegrityError",
    "Preprocess",
    "SupervisedData",
    "UnknownDatasetError",
    "available",
    "describe",
    "get",
    "get_episodic",
]
