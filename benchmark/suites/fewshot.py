"""Few-shot suite: MAML, FOMAML, Reptile, Meta-Transfer Learning and baselines, all
scored on the same fixed test episodes (seeds 003, 004, 002; protocols.md).

Profiles:
* ``quick`` (default): embedded glyphs (matplotlib's fonts), Conv-4 (32 filters),
  5-way 1-shot, every algorithm, a short meta-training budget; minutes on CPU.
* ``omniglot``: Omniglot (1,200/423 characters, x4 rotations), Conv-4-64, 5/20-way x 1/5-shot.
* ``mini-imagenet``: miniImageNet (Ravi & Larochelle), Conv-4-32, 5-way 1/5-shot.
* ``mtl-paper``: miniImageNet 64/36, 5/20/35-way x 1/5/100-shot, the six methods of the
  MTL paper's Table 1.

Hyperparameters from the papers where protocols.md gives them (MAML: Omniglot inner lr
0.4, 1 step (also at test), meta-batch 32 (5-way) / 16 (20-way), 20-way inner lr 0.1 with 5 steps; miniImageNet inner lr 0.01, 5 steps,
10 at test, meta-batch 4; Adam 1e-3 outside). The rest (Reptile's and the baselines'
step sizes, MTL's beta and alpha_d, meta-iteration budgets) are this suite's choices,
the same for every algorithm where they are shared, and tunable (``--set``).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

NAME = "fewshot"
DEFAULT_PROFILE = "quick"
ALL = ["maml", "fomaml", "reptile", "mtl_maml", "mtl_reptile", "protonet", "transfer", "nearest_neighbour", "finetune"]
MTL_TABLE = ["transfer", "protonet", "reptile", "mtl_reptile", "maml", "mtl_maml"]


@dataclass
class Block:
    dataset: str
    model: str
    algorithms: list[str]
    settings: list[tuple[int, int]]  # (ways, shots)
    queries: int
    meta_iterations: int
    meta_batch: int
    hparams: dict[str, dict[str, Any]]  # per algorithm
    test_episodes: int = 600
    val_episodes: int = 100
    val_every: int = 500
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    meta_batch_by_ways: dict[int, int] = field(default_factory=dict)
    hparams_by_ways: dict[int, dict[str, Any]] = field(default_factory=dict)

    @property
    def models(self) -> list[str]:
        return [self.model]

    def algorithms_for(self, model: str) -> list[str]:
        return self.algorithms

    def hparams_for(self, algorithm: str, ways: int) -> dict[str, Any]:
        return {**self.hparams.get(algorithm, {}), **self.hparams_by_ways.get(ways, {})}


def _hparams(inner_lr: float, inner_steps: int, test_steps: int) -> dict[str, dict[str, Any]]:
    maml = {"optimizer": "adam", "lr": 1e-3, "inner_lr": inner_lr, "inner_steps": inner_steps, "test_inner_steps": test_steps}
    reptile = {"optimizer": "sgd", "lr": 1.0, "momentum": 0.0, "inner_lr": inner_lr / 4, "inner_steps": 5, "test_inner_steps": 10}
    base = {"optimizer": "adam", "lr": 1e-3}
    tune = {"finetune_lr": 0.1, "finetune_steps": 50}
    mtl = {"beta": 0.5, "disc_lr": 0.01}
    return {
        "maml": maml, "fomaml": maml, "reptile": reptile,
        "mtl_maml": {**maml, **mtl}, "mtl_reptile": {**reptile, **mtl},
        "protonet": base, "transfer": {**base, **tune}, "nearest_neighbour": base, "finetune": tune,
    }


PROFILES: dict[str, list[Block]] = {
    "quick": [
        Block(dataset="glyphs", model="conv4-32", algorithms=ALL, settings=[(5, 1)], queries=5,
              meta_iterations=300, meta_batch=4, hparams=_hparams(0.4, 1, 0), test_episodes=200,
              val_episodes=50, val_every=150, seeds=[0]),
    ],
    "omniglot": [
        Block(dataset="omniglot", model="conv4-64", algorithms=ALL, settings=[(5, 1), (5, 5), (20, 1), (20, 5)],
              queries=15, meta_iterations=30000, meta_batch=32, meta_batch_by_ways={20: 16},
              hparams=_hparams(0.4, 1, 0), hparams_by_ways={20: {"inner_lr": 0.1, "inner_steps": 5}}),
    ],
    "mini-imagenet": [
        Block(dataset="mini-imagenet", model="conv4-32", algorithms=ALL, settings=[(5, 1), (5, 5)], queries=15,
              meta_iterations=60000, meta_batch=4, hparams=_hparams(0.01, 5, 10)),
    ],
    "mtl-paper": [
        Block(dataset="mini-imagenet-64-36", model="conv4-32", algorithms=MTL_TABLE,
              settings=[(w, s) for w in (5, 20, 35) for s in (1, 5, 100)], queries=15, meta_iterations=60000,
              meta_batch=4, hparams=_hparams(0.01, 5, 10), val_episodes=0),
    ],
}

DESCRIPTIONS = {
    "quick": "embedded glyphs, Conv-4-32, 5-way 1-shot, 9 algorithms, 300 meta-iterations, 1 seed (minutes on CPU)",
    "omniglot": "Omniglot 1200/423 characters, Conv-4-64, 5/20-way x 1/5-shot, 3 seeds",
    "mini-imagenet": "miniImageNet 64/16/20, Conv-4-32, 5-way 1/5-shot, 3 seeds",
    "mtl-paper": "miniImageNet 64/36, 5/20/35-way x 1/5/100-shot, the MTL paper's six methods",
}


def blocks(profile: str) -> list[Block]:
    try:
        return [replace(b) for b in PROFILES[profile]]
    except KeyError:
        raise ValueError(f"unknown profile {profile!r} for suite fewshot; valid: {', '.join(PROFILES)}") from None


def protocol_for(profile: str, dataset: str, paper_dataset: str | None) -> Block:
    bs = blocks(profile)
    for b in bs:
        if b.dataset == dataset:
            return b
    if dataset.startswith("omniglot"):
        return replace(blocks("omniglot")[0]) if profile != "quick" else bs[0]
    return bs[0]
