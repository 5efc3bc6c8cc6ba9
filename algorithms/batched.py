"""Scoring a block of test episodes as batched work (``EpisodicAlgorithm.query_logits_block``).

An ``EpisodeBlock`` (``datasets``) holds E episodes of one shape: the images they use, once, and
each episode's support and query rows of them. What batching buys depends on the batch-norm rule:

* **per-sample** features (no layer mixes the images of a batch: batch norm with running statistics
  in evaluation mode, ``--bn-eval inductive``): every test image is embedded ONCE per evaluation
  (features of the fixed weights are kept in the block's ``features`` scratch space, shared by the
  blocks of one pass), in chunks of ``CHUNK`` images, and an episode costs only gathers. That is
  the limit: one forward pass over the episodes' images.
* **per-episode** statistics (batch norm of the batch, ``transductive``): each episode's support set
  and its queries are still two batches of their own. On CUDA the episodes go through one ``vmap``
  of the embedding (batch norm computed per episode), except under autocast (``--precision``), which
  ``vmap`` does not see; on a CPU the per-episode loop is kept: measured
  on a 2-core EPYC, ``vmap`` over 50 episodes of 80 28x28 images ran 11x slower than the loop
  (batch norm's batching rule on one large tensor is memory-bound; 4,000 images as one plain batch
  were 2.4x slower than 50 batches of 80: the activations leave the cache).

What follows the embedding (prototypes, attention, a fitted head) is then one batched computation
over the E episodes in every mode.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.func import vmap

CHUNK = 128  # images per forward pass when features are per-sample (small batches stay in the CPU's cache)
WORKING_SET = 2 ** 22  # elements (16 MB of float32) per batched computation over episodes (measured best of 2^18-2^24)
VMAP_DEVICES = ("cuda",)  # per-episode statistics: one vmap over the episodes on these devices, a loop elsewhere


def per_sample(model: nn.Module) -> bool:
    """True when the model's output for an image does not depend on the other images of its batch."""
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and (m.training or not m.track_running_stats):
            return False
    return True


def _cached_features(model: nn.Module, block) -> torch.Tensor:
    """``model.embed`` of every image of the block, ``[U, D]``, computing only images no earlier block of
    this pass has embedded (the weights are fixed during a pass)."""
    cache = block.features
    ids = block.image_ids.to(block.images.device)
    have = cache.get("ids")
    new = ids if have is None else ids[~torch.isin(ids, have)]
    if len(new):
        rows = torch.searchsorted(ids, new)
        feats = torch.cat([model.embed(block.images[rows[i: i + CHUNK]]) for i in range(0, len(rows), CHUNK)])
        all_ids = new if have is None else torch.cat([have, new])
        all_feats = feats if have is None else torch.cat([cache["feats"], feats])
        order = torch.argsort(all_ids)
        cache["ids"], cache["feats"] = all_ids[order], all_feats[order]
    return cache["feats"][torch.searchsorted(cache["ids"], ids)]


def embed_block(model: nn.Module, block, joint: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Support and query features ``[E, N*K, D]``, ``[E, N*Q, D]`` under the suite's test-time rule
    (support one batch, queries another; ``joint``: one batch of both, as ``EpisodicAlgorithm.embed_task``)."""
    if per_sample(model):
        feats = _cached_features(model, block)
        return feats[block.support], feats[block.query]
    k = block.support.shape[1]
    if joint:
        both = _per_episode(model.embed, block.images, torch.cat([block.support, block.query], dim=1))
        return both[:, :k], both[:, k:]
    return _per_episode(model.embed, block.images, block.support), _per_episode(model.embed, block.images, block.query)


def _per_episode(fn, images: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """``fn(images[rows[e]])`` for each episode e (batch statistics per episode): one ``vmap`` on CUDA, a loop
    on a CPU (each episode's images gathered only when it is its turn) and under autocast, which ``vmap`` does not
    see (``tests/test_batched_eval.py::test_under_autocast_every_device_scores_episodes_as_the_loop``)."""
    if images.device.type in VMAP_DEVICES and not torch.is_autocast_enabled(images.device.type):
        return vmap(fn)(images[rows])
    return torch.stack([fn(images[r]) for r in rows])


def by_episodes(fn, per_episode: int, *tensors: torch.Tensor) -> torch.Tensor:
    """``fn(*tensors)`` on consecutive groups of episodes (dim 0) whose working set, ``per_episode`` elements each,
    stays within ``WORKING_SET``, concatenated. Every episode's result is its own, so the grouping changes nothing but
    speed: on a 2-core EPYC, 20-way 15-shot heads (300 x 256 support features each) fitted for 59 episodes at once ran
    up to 2.5x slower than in groups of about 16 MB (memory-bound), and groups of 1 MB lost the batching's gain."""
    size = max(1, WORKING_SET // max(per_episode, 1))
    n = tensors[0].shape[0]
    return torch.cat([fn(*(t[i: i + size] for t in tensors)) for i in range(0, n, size)])


def one_hot(labels: torch.Tensor, ways: int, dtype: torch.dtype) -> torch.Tensor:
    """``[..., n] -> [..., n, ways]``."""
    return nn.functional.one_hot(labels, ways).to(dtype)


def episode_cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The SUM over episodes of each episode's mean cross-entropy (``logits [E, n, N]``, ``labels [E, n]``):
    its gradient w.r.t. one episode's parameters is that episode's own mean-loss gradient."""
    e, n, ways = logits.shape
    return nn.functional.cross_entropy(logits.reshape(e * n, ways), labels.reshape(e * n), reduction="sum") / n
