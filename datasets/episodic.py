"""Episodic (few-shot) data: class-disjoint splits and the N-way K-shot Q-query sampler.

A split holds every image of its classes as one uint8 tensor; an episode is built by
tensor indexing on a padded ``[classes, images]`` index matrix, so sampling costs a few
vectorised ops, not per-sample Python work.

Evaluation episodes are fixed per (dataset, split, N, K, Q, eval seed): the seed of
their generator is a hash of that tuple, so every algorithm (and every training seed)
is scored on exactly the same episodes.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field

import torch

from .base import Preprocess
from .transforms import normalize


@dataclass
class ClassSplit:
    images: torch.Tensor  # uint8 (N, C, H, W)
    labels: torch.Tensor  # int64 (N,), 0..num_classes-1 within this split
    classes: list[str]

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.dim() != 4:
            raise ValueError("images must be uint8 (N, C, H, W)")
        counts = torch.bincount(self.labels, minlength=len(self.classes))
        order = torch.argsort(self.labels, stable=True)
        m = int(counts.max()) if len(counts) else 0
        index = torch.full((len(self.classes), m), -1, dtype=torch.long)
        start = 0
        for c, n in enumerate(counts.tolist()):
            index[c, :n] = order[start : start + n]
            start += n
        self.counts = counts
        self.index = index  # [class, j] -> image index, -1 padding

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def __len__(self) -> int:
        return len(self.labels)


@dataclass
class EpisodicData:
    name: str
    splits: dict[str, ClassSplit]  # "train", "val" (may be absent), "test"
    preprocess: Preprocess = field(default_factory=lambda: Preprocess(normalize="none"))
    source: str = ""
    paper_dataset: str | None = None
    info: dict = field(default_factory=dict)

    @property
    def in_channels(self) -> int:
        return int(self.splits["train"].images.shape[1])

    @property
    def image_size(self) -> int:
        return int(self.splits["train"].images.shape[-1])

    def describe(self) -> str:
        return ", ".join(f"{k}: {v.num_classes} classes / {len(v)} images" for k, v in self.splits.items())


@dataclass
class Episode:
    """One N-way K-shot task. ``*_y`` are 0..N-1 (episode labels); ``*_g`` are the classes'
    ids within the split (global labels, for transfer and Meta-Transfer Learning)."""

    support_x: torch.Tensor
    support_y: torch.Tensor
    query_x: torch.Tensor
    query_y: torch.Tensor
    support_g: torch.Tensor
    query_g: torch.Tensor

    @property
    def ways(self) -> int:
        return int(self.support_y.max()) + 1

    def for_test(self) -> TestEpisode:
        """What an algorithm may see of this episode at test time: no query labels, no global labels."""
        return TestEpisode(self.support_x, self.support_y, self.query_x)


class TestEpisode:
    """A test episode as an algorithm receives it: the labelled support set and the UNLABELLED queries.

    The query labels (and every global class id) stay with the evaluator, so no method can read the
    answers: an attempt fails with an error that says so instead of scoring 100%."""

    __slots__ = ("support_x", "support_y", "query_x")
    __test__ = False  # not a pytest class

    def __init__(self, support_x: torch.Tensor, support_y: torch.Tensor, query_x: torch.Tensor) -> None:
        self.support_x, self.support_y, self.query_x = support_x, support_y, query_x

    @property
    def ways(self) -> int:
        return int(self.support_y.max()) + 1

    def __getattr__(self, name: str):
        return _withheld(self, name)


def _withheld(obj, name: str):
    """A missing attribute of a test episode or block: what it withholds raises ``LabelLeakError`` and says so."""
    if name in ("query_y", "query_g", "support_g"):
        raise LabelLeakError(f"a test episode carries no {name}: an algorithm must not read the query labels or the "
                             f"global class ids at test time (only support_x, support_y and query_x)")
    raise AttributeError(f"{type(obj).__name__!r} object has no attribute {name!r}")


class LabelLeakError(AttributeError):
    """An algorithm tried to read what a test episode withholds (its query labels, global class ids)."""


def episode_seed(dataset: str, split: str, ways: int, shots: int, queries: int, seed: int) -> int:
    raw = f"{dataset}|{split}|{ways}|{shots}|{queries}|{seed}".encode()
    return int.from_bytes(hashlib.sha256(raw).digest()[:8], "little") & ((1 << 63) - 1)


class EpisodeSampler:
    """Sample N-way K-shot Q-query episodes from one split."""

    def __init__(
        self,
        split: ClassSplit,
        ways: int,
        shots: int,
        queries: int,
        preprocess: Preprocess | None = None,
        device: torch.device | str = "cpu",
    ) -> None:
        if ways < 2 or shots < 1 or queries < 1:
            raise ValueError(f"need ways >= 2, shots >= 1, queries >= 1; got {ways}, {shots}, {queries}")
        if ways > split.num_classes:
            raise ValueError(f"{ways}-way episodes need {ways} classes; this split has {split.num_classes}")
        per_class = shots + queries
        if int(split.counts.min()) < per_class:
            raise ValueError(
                f"{shots}-shot {queries}-query episodes need {per_class} images per class; "
                f"the smallest class of this split has {int(split.counts.min())}"
            )
        self.split, self.ways, self.shots, self.queries = split, ways, shots, queries
        self.pre = preprocess or Preprocess(normalize="none")
        self.device = torch.device(device)
        self._images = split.images.to(self.device)

    def sample_indices(self, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """``(classes [N], image indices [N, K+Q])``: classes without replacement, images
        without replacement within each class."""
        s = self.split
        classes = torch.randperm(s.num_classes, generator=generator)[: self.ways]
        keys = torch.rand(self.ways, s.index.shape[1], generator=generator)
        keys[s.index[classes] < 0] = 2.0  # padding sorts last
        pick = keys.argsort(dim=1)[:, : self.shots + self.queries]
        return classes, s.index[classes].gather(1, pick)

    def episode(self, classes: torch.Tensor, idx: torch.Tensor) -> Episode:
        n, k, q = self.ways, self.shots, self.queries
        sup, qry = idx[:, :k].reshape(-1), idx[:, k:].reshape(-1)
        x = normalize(self._images[torch.cat([sup, qry]).to(self.device)], self.pre)
        y = torch.arange(n, device=self.device)
        g = classes.to(self.device)
        return Episode(
            support_x=x[: n * k], support_y=y.repeat_interleave(k),
            query_x=x[n * k :], query_y=y.repeat_interleave(q),
            support_g=g.repeat_interleave(k), query_g=g.repeat_interleave(q),
        )

    def sample(self, generator: torch.Generator) -> Episode:
        return self.episode(*self.sample_indices(generator))

    def fixed(self, count: int, dataset: str, split: str, eval_seed: int = 0) -> FixedEpisodes:
        seed = episode_seed(dataset, split, self.ways, self.shots, self.queries, eval_seed)
        g = torch.Generator().manual_seed(seed)
        return FixedEpisodes(self, [self.sample_indices(g) for _ in range(count)], seed)


@dataclass
class FixedEpisodes:
    """A fixed list of episodes (stored as indices; materialised on iteration)."""

    sampler: EpisodeSampler
    indices: list[tuple[torch.Tensor, torch.Tensor]]
    seed: int

    def __len__(self) -> int:
        return len(self.indices)

    def __iter__(self):
        for classes, idx in self.indices:
            yield self.sampler.episode(classes, idx)

    def labelled(self) -> Iterator[tuple[TestEpisode, torch.Tensor]]:
        """Each episode as ``(what the algorithm sees, the query labels the evaluator keeps)``."""
        for ep in self:
            yield ep.for_test(), ep.query_y

    def blocks(self, size: int) -> Iterator[tuple[EpisodeBlock, torch.Tensor]]:
        """The episodes in order, ``size`` at a time, as ``(EpisodeBlock, query labels [E, N*Q])``."""
        s = self.sampler
        n, k, q = s.ways, s.shots, s.queries
        shared: dict = {}
        for start in range(0, len(self.indices), max(1, size)):
            chunk = self.indices[start: start + max(1, size)]
            idx = torch.stack([i for _, i in chunk])  # [E, N, K+Q] image indices into the split
            ids, pos = torch.unique(idx, return_inverse=True)
            images = normalize(s._images[ids.to(s.device)], s.pre)
            pos = pos.to(s.device)
            y = torch.arange(n, device=s.device)
            block = EpisodeBlock(images=images, image_ids=ids, support=pos[:, :, :k].reshape(len(chunk), n * k),
                                 query=pos[:, :, k:].reshape(len(chunk), n * q),
                                 support_y=y.repeat_interleave(k).expand(len(chunk), -1), ways=n, features=shared)
            yield block, y.repeat_interleave(q).expand(len(chunk), -1)

    def fingerprint(self) -> str:
        """A hash of the episodes' image indices: equal fingerprints, equal episodes."""
        h = hashlib.sha256()
        for c, i in self.indices:
            h.update(c.numpy().tobytes())
            h.update(i.numpy().tobytes())
        return h.hexdigest()[:16]


@dataclass
class EpisodeBlock:
    """E test episodes of one shape (N-way, K shots, Q queries per class), for scoring as batched work.

    ``images`` holds each image the episodes use once, preprocessed; ``support`` and ``query`` are each
    episode's rows of it. ``image_ids`` are those images' indices in the split, a key under which
    features computed by fixed weights may be reused across blocks. Like a ``TestEpisode`` it carries
    no query labels."""

    images: torch.Tensor  # [U, C, H, W]
    image_ids: torch.Tensor  # [U]
    support: torch.Tensor  # [E, N*K] rows of ``images``
    query: torch.Tensor  # [E, N*Q]
    support_y: torch.Tensor  # [E, N*K] labels 0..N-1
    ways: int
    features: dict = field(default_factory=dict)  # scratch space shared by the blocks of one pass (fixed weights)

    def __len__(self) -> int:
        return self.support.shape[0]

    def support_x(self) -> torch.Tensor:
        return self.images[self.support]  # [E, N*K, C, H, W]

    def query_x(self) -> torch.Tensor:
        return self.images[self.query]

    def tasks(self) -> Iterator[TestEpisode]:
        """Each episode on its own (the loop every batched implementation must equal)."""
        for e in range(len(self)):
            yield TestEpisode(self.images[self.support[e]], self.support_y[e], self.images[self.query[e]])

    def __getattr__(self, name: str):
        return _withheld(self, name)


def split_classes(names: list[str], fractions: tuple[float, float], seed: int) -> tuple[list[int], list[int], list[int]]:
    """Shuffle class indices with ``seed``; return (train, val, test) with val and test
    taking ``fractions`` of the classes (at least one each when fraction > 0)."""
    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(len(names), generator=g).tolist()
    n = len(names)
    n_val = max(1, round(fractions[0] * n)) if fractions[0] > 0 else 0
    n_test = max(1, round(fractions[1] * n)) if fractions[1] > 0 else 0
    test = sorted(perm[:n_test])
    val = sorted(perm[n_test : n_test + n_val])
    train = sorted(perm[n_test + n_val :])
    return train, val, test


def build_split(images: torch.Tensor, labels: torch.Tensor, names: list[str], keep: list[int], rotations: bool = False) -> ClassSplit:
    """The classes ``keep`` of a labelled image set as a ClassSplit; with ``rotations``,
    each class also appears rotated by 90, 180 and 270 degrees as three new classes."""
    remap = torch.full((len(names),), -1, dtype=torch.long)
    remap[torch.tensor(keep, dtype=torch.long)] = torch.arange(len(keep))
    mask = remap[labels] >= 0
    imgs, labs = images[mask], remap[labels[mask]]
    cls = [names[i] for i in keep]
    if rotations:
        imgs = torch.cat([torch.rot90(imgs, r, dims=(2, 3)) for r in range(4)])
        labs = torch.cat([labs + r * len(keep) for r in range(4)])
        cls = [f"{c}@rot{90 * r}" for r in range(4) for c in cls]
    return ClassSplit(imgs.contiguous(), labs, cls)
