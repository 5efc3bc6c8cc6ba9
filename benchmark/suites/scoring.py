"""Scoring fixed episodes: the per-episode loop (``--eval-batch 1``, the reference) or blocks of
episodes as batched work (the default), with the same predictions.

The algorithm sees a test episode without its query labels (``datasets.TestEpisode``, or an
``EpisodeBlock``); the accuracies are computed here, from the labels the evaluator keeps.
"""
from __future__ import annotations

import contextlib
import math
import statistics

import torch
from tqdm.auto import tqdm

import algorithms
from datasets import FixedEpisodes

MAX_BLOCK = 100  # episodes per block at most (--eval-batch 0)
BLOCK_BYTES = 256 * 2 ** 20  # a block's images, features and batched head fitting within about this many bytes
FEATURE_BYTES = 4 * 2048  # per image: features up to 2,048 floats
ACTIVATION_FACTOR = 16  # vmap (CUDA) holds every episode's activations at once: a Conv-4's first is ~16x its input


def auto_block(episodes: FixedEpisodes) -> int:
    """Episodes per block for ``--eval-batch 0``: as many as fit ``BLOCK_BYTES`` (each episode's images as floats,
    their activations where one vmap holds them all, and their features), at most ``MAX_BLOCK``."""
    s = episodes.sampler
    image = s.split.images[0].numel() * 4 * (ACTIVATION_FACTOR if s.device.type == "cuda" else 1)
    per_episode = s.ways * (s.shots + s.queries) * (image + FEATURE_BYTES)
    return max(1, min(MAX_BLOCK, BLOCK_BYTES // max(per_episode, 1)))


def _accuracies(logits: torch.Tensor, labels: torch.Tensor, done: int, total: int) -> list[float]:
    """Each episode's query accuracy; non-finite logits (argmax would count NaN rows as class 0, so chance
    accuracy) stop the scoring with a ``DivergenceError`` (``NonFiniteOutputsError``): a diverged model has no accuracy to report."""
    bad = ~torch.isfinite(logits).flatten(1).all(1)
    if bool(bad.any()):
        first = done + int(bad.nonzero()[0])
        raise algorithms.NonFiniteOutputsError(
            f"query logits became non-finite (NaN or inf) in episode {first + 1} of {total} scored: the model or its "
            "test-time adaptation diverged")
    return (logits.argmax(-1) == labels).float().mean(-1).tolist()


@contextlib.contextmanager
def scoring(what: str):
    """Names what was being scored in a ``NonFiniteOutputsError`` raised inside (``validation after meta-iteration
    500``, ``the final test``): a run that diverged at test trained to the end, one that diverged at validation
    did not, and the FAILED run's reason should say which."""
    try:
        yield
    except algorithms.NonFiniteOutputsError as e:
        raise algorithms.NonFiniteOutputsError(f"{e}, at {what}") from e


def episode_accuracies(algo: algorithms.Algorithm, episodes: FixedEpisodes, eval_batch: int = 0,
                       progress: bool = False) -> list[float]:
    """Each episode's query accuracy: ``eval_batch`` 1 scores them one by one (``query_logits``), N > 1
    N at a time (``query_logits_block``), 0 in blocks sized by ``auto_block``."""
    if eval_batch < 0:
        raise ValueError(f"--eval-batch must be >= 0 (0: blocks sized by memory, 1: one episode at a time), got {eval_batch}")
    bar = tqdm(total=len(episodes), desc="scoring", unit="ep", leave=False, disable=not progress)
    accs: list[float] = []
    algo.model.eval()  # before the choice below: the inductive mode shows in evaluation mode
    s = episodes.sampler
    if eval_batch == 0 and getattr(algo, "loop_is_faster", lambda n: False)(s.ways * s.shots):
        eval_batch = 1  # where blocks were measured slower (transfer, linear probe: large transductive supports)
    try:
        if eval_batch == 1:
            for task, labels in episodes.labelled():
                accs += _accuracies(algo.query_logits(task)[None], labels[None], len(accs), len(episodes))
                bar.update(1)
        else:
            for block, labels in episodes.blocks(eval_batch or auto_block(episodes)):
                accs += _accuracies(algo.query_logits_block(block), labels, len(accs), len(episodes))
                bar.update(len(block))
    finally:
        algo.model.train()
        bar.close()
    return accs


def evaluate_episodes(algo: algorithms.Algorithm, episodes: FixedEpisodes, eval_batch: int = 0,
                      progress: bool = False) -> dict:
    """Mean query accuracy over fixed episodes with its 95% confidence interval (1.96 * std / sqrt(episodes))."""
    accs = episode_accuracies(algo, episodes, eval_batch, progress)
    n = len(accs)
    std = statistics.pstdev(accs) if n > 1 else 0.0
    return {"acc": statistics.fmean(accs), "std": std, "ci95": 1.96 * std / math.sqrt(n), "episodes": n, "per_episode": accs}
