"""Standard suite: standard training vs MLTP and its variants (MLTP paper, seed 001).

Profiles:
* ``quick`` (default): the embedded digits data, CNet1/CNet2, all five algorithms,
  3 seeds, a short schedule shaped like the paper's; minutes on a 2-core CPU.
* ``paper``: protocols.md: CIFAR-10 CNet1-4, CIFAR-100 CCNet1-4, Tiny-ImageNet
  ResNet-18/34, the algorithms of each table, 3 seeds, the paper's schedules.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

NAME = "standard"
ALGORITHMS = ["standard", "mltp", "mltp_conv", "mltp_fc", "mltp_fo"]
DEFAULT_PROFILE = "quick"


@dataclass
class Block:
    dataset: str
    models: list[str]
    algorithms: list[str]
    epochs: int
    milestones: list[int]
    hparams: dict[str, Any]
    batch_size: int = 128
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    per_model_algorithms: dict[str, list[str]] = field(default_factory=dict)  # exceptions (CNet4)
    per_model_hparams: dict[str, dict[str, Any]] = field(default_factory=dict)  # exceptions (CNet4 wd)
    preprocess: dict[str, Any] = field(default_factory=dict)

    def algorithms_for(self, model: str) -> list[str]:
        return self.per_model_algorithms.get(model, self.algorithms)

    def hparams_for(self, model: str) -> dict[str, Any]:
        return {**self.hparams, **self.per_model_hparams.get(model, {})}


CIFAR_HP = {"optimizer": "adam", "lr": 1e-3, "weight_decay": 0.0, "eta": 1.0, "alpha_mean": 1e-3, "alpha_std": 1e-3}
TINY_HP = {
    "optimizer": "sgd", "lr": 0.05, "momentum": 0.9, "weight_decay": 1e-5,
    "eta": 0.5, "alpha_mean": 1e-2, "alpha_std": 1e-2,
}
FO_ONLY = ["standard", "mltp_fo"]


def _cifar_block(dataset: str, prefix: str) -> Block:
    return Block(
        dataset=dataset,
        models=[f"{prefix}{k}" for k in range(1, 5)],
        algorithms=ALGORITHMS,
        epochs=150,
        milestones=[50, 100],
        hparams=dict(CIFAR_HP),
        per_model_algorithms={f"{prefix}4": FO_ONLY},
        per_model_hparams={f"{prefix}4": {"weight_decay": 1e-4}},
    )


PROFILES: dict[str, list[Block]] = {
    "quick": [
        Block(
            dataset="digits",
            models=["cnet1", "cnet2"],
            algorithms=ALGORITHMS,
            epochs=12,
            milestones=[8, 10],
            hparams=dict(CIFAR_HP),
        )
    ],
    "paper": [
        _cifar_block("cifar10", "cnet"),
        _cifar_block("cifar100", "ccnet"),
        Block(
            dataset="tiny-imagenet",
            models=["resnet18", "resnet34"],
            algorithms=FO_ONLY,
            epochs=90,
            milestones=[30, 60],
            hparams=dict(TINY_HP),
        ),
    ],
}

DESCRIPTIONS = {
    "quick": "embedded digits, CNet1/CNet2, 5 algorithms, 3 seeds, 12 epochs (minutes on CPU)",
    "paper": "CIFAR-10 CNet1-4, CIFAR-100 CCNet1-4, Tiny-ImageNet ResNet-18/34; paper schedules, 3 seeds",
}


def blocks(profile: str) -> list[Block]:
    try:
        return [replace(b) for b in PROFILES[profile]]
    except KeyError:
        raise ValueError(f"unknown profile {profile!r} for suite standard; valid: {', '.join(PROFILES)}") from None


def protocol_for(profile: str, dataset: str, paper_dataset: str | None) -> Block:
    """The block whose protocol a dataset outside the profile follows (imagefolder of
    CIFAR-10 JPEGs follows CIFAR-10's); otherwise the profile's first block."""
    bs = blocks(profile)
    for b in bs:
        if b.dataset in (dataset, paper_dataset):
            return b
    return bs[0]
