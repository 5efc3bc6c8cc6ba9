"""Episode manifests: the exact test episodes of a few-shot evaluation, as a JSON file a
paper can publish (dataset, split, a hash of the split's images, the seed, and for every
episode its classes and image indices in order), with a content hash that detects any
edit. The suite's default fixed episodes are exactly what ``export`` writes for the
default seed, so a table's episodes can be shared and re-used elsewhere."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch

from .episodic import ClassSplit, EpisodeSampler, FixedEpisodes
from .errors import DataError

FORMAT = "meta-benchmark episodes v1"


class ManifestError(DataError):
    pass


def data_hash(split: ClassSplit) -> str:
    """A hash of a split's images, labels and class names: equal hashes, the same data."""
    h = hashlib.sha256()
    h.update(split.images.contiguous().numpy().tobytes())
    h.update(split.labels.numpy().tobytes())
    h.update("\n".join(split.classes).encode())
    return h.hexdigest()[:16]


def _content_hash(episodes: list) -> str:
    return hashlib.sha256(json.dumps(episodes, sort_keys=True).encode()).hexdigest()


def export(fixed: FixedEpisodes, dataset: str, split: str) -> dict:
    s = fixed.sampler
    episodes = [{"classes": [s.split.classes[int(c)] for c in classes], "class_ids": classes.tolist(), "images": idx.tolist()}
                for classes, idx in fixed.indices]
    return {"format": FORMAT, "dataset": dataset, "split": split, "data_hash": data_hash(s.split), "ways": s.ways,
            "shots": s.shots, "queries": s.queries, "seed": fixed.seed, "count": len(episodes),
            "fingerprint": fixed.fingerprint(), "content_hash": _content_hash(episodes), "episodes": episodes}


def read(path: str | Path) -> dict:
    try:
        m = json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        raise ManifestError(f"{path} is not a readable episode manifest ({type(e).__name__}); export one with "
                            "`python -m benchmark episodes export`") from None
    if not isinstance(m, dict) or m.get("format") != FORMAT or not isinstance(m.get("episodes"), list):
        raise ManifestError(f"{path} is not an episode manifest ({FORMAT!r}); export one with `python -m benchmark episodes export`")
    if _content_hash(m["episodes"]) != m.get("content_hash"):
        raise ManifestError(f"{path} was edited after export (its content hash does not match); export it again")
    return m


def episodes(m: dict, dataset: str, split: ClassSplit, preprocess, device) -> FixedEpisodes:
    """The manifest's episodes on this data; ManifestError when the data is not the manifest's."""
    if m["dataset"] != dataset:
        raise ManifestError(f"the episode manifest is for dataset {m['dataset']!r}, not {dataset!r}; use --dataset {m['dataset']}")
    if data_hash(split) != m["data_hash"]:
        raise ManifestError(f"the {m['split']} split of {dataset} on disk is not the one the manifest was made from "
                            f"(data hash {data_hash(split)} != {m['data_hash']}); use the same data files")
    sampler = EpisodeSampler(split, m["ways"], m["shots"], m["queries"], preprocess, device)
    indices = [(torch.tensor(e["class_ids"], dtype=torch.long), torch.tensor(e["images"], dtype=torch.long)) for e in m["episodes"]]
    fixed = FixedEpisodes(sampler, indices, int(m["seed"]))
    if fixed.fingerprint() != m["fingerprint"]:
        raise ManifestError("the manifest's episodes do not reproduce its fingerprint; export it again")
    return fixed
